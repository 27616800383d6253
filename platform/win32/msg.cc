// Builds the WSAMSG for one send: WSABUFs over the caller's buffers (no copy), the
// destination, and IN_PKTINFO / IN6_PKTINFO as the OS-free encoder planned it; and reads a
// received WSAMSG's control messages back (decode_control). platform/posix/msg.cc does both
// for msghdr; test/native/encode_test.cc checks both with the OS's own CMSG macros.
#include <cstring>

#include "win32.h"

#ifndef IP_ECN
#define IP_ECN 50
#endif
#ifndef IPV6_ECN
#define IPV6_ECN 50
#endif
#ifndef UDP_SEND_MSG_SIZE
#define UDP_SEND_MSG_SIZE 2
#endif

namespace shim {

// bufs must have room for spec.nbufs entries; control for kCmsgSpace bytes.
void encode_msg(SockKind kind, const SendSpec& spec, WSAMSG* m, WSABUF* bufs, sockaddr_storage* to,
                unsigned char* control) {
  std::memset(m, 0, sizeof(*m));
  for (size_t i = 0; i < spec.nbufs; i++) {
    bufs[i].buf = reinterpret_cast<CHAR*>(const_cast<uint8_t*>(spec.bufs[i].data));
    bufs[i].len = static_cast<ULONG>(spec.bufs[i].len);
  }
  m->lpBuffers = bufs;
  m->dwBufferCount = static_cast<DWORD>(spec.nbufs);
  if (spec.to) {
    int len;
    endpoint_to_sockaddr(kind, *spec.to, to, &len);
    m->name = reinterpret_cast<LPSOCKADDR>(to);
    m->namelen = len;
  }
  // No control data: Control.buf must be NULL, not an empty buffer.
  const PktinfoPlan& plan = spec.pktinfo;
  if (plan.kind == PktinfoPlan::None && plan.tosKind == PktinfoPlan::None && !plan.segmentSize) return;
  std::memset(control, 0, kCmsgSpace);
  m->Control.buf = reinterpret_cast<CHAR*>(control);
  m->Control.len = kCmsgSpace;  // WSA_CMSG_NXTHDR walks within this; trimmed below
  WSACMSGHDR* c = WSA_CMSG_FIRSTHDR(m);
  ULONG used = 0;
  if (plan.kind == PktinfoPlan::V4) {
    // Windows takes the source from ipi_addr (Linux from ipi_spec_dst).
    IN_PKTINFO pi{};
    std::memcpy(&pi.ipi_addr, plan.addr, 4);
    pi.ipi_ifindex = plan.ifindex;
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = WSA_CMSG_LEN(sizeof(pi));
    std::memcpy(WSA_CMSG_DATA(c), &pi, sizeof(pi));
    used += WSA_CMSG_SPACE(sizeof(pi));
    c = WSA_CMSG_NXTHDR(m, c);
  } else if (plan.kind == PktinfoPlan::V6) {
    IN6_PKTINFO pi{};
    std::memcpy(&pi.ipi6_addr, plan.addr, 16);
    pi.ipi6_ifindex = plan.ifindex;
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = WSA_CMSG_LEN(sizeof(pi));
    std::memcpy(WSA_CMSG_DATA(c), &pi, sizeof(pi));
    used += WSA_CMSG_SPACE(sizeof(pi));
    c = WSA_CMSG_NXTHDR(m, c);
  }
  if (plan.tosKind != PktinfoPlan::None) {
    // ECN alone goes as IP_ECN / IPV6_ECN, which every stack with per-datagram ECN takes; a
    // byte with DSCP bits as IP_TOS / IPV6_TCLASS, which send.cc lets through only where the
    // stack takes it (a probe), and otherwise refuses rather than drop the bits silently.
    bool v4 = plan.tosKind == PktinfoPlan::V4;
    INT value = plan.tosWhole ? plan.tos : (plan.tos & 3);
    c->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
    c->cmsg_type = plan.tosWhole ? (v4 ? IP_TOS : IPV6_TCLASS) : (v4 ? IP_ECN : IPV6_ECN);
    c->cmsg_len = WSA_CMSG_LEN(sizeof(value));
    std::memcpy(WSA_CMSG_DATA(c), &value, sizeof(value));
    used += WSA_CMSG_SPACE(sizeof(value));
    c = WSA_CMSG_NXTHDR(m, c);
  }
  if (plan.segmentSize) {
    DWORD seg = plan.segmentSize;
    c->cmsg_level = IPPROTO_UDP;
    c->cmsg_type = UDP_SEND_MSG_SIZE;
    c->cmsg_len = WSA_CMSG_LEN(sizeof(seg));
    std::memcpy(WSA_CMSG_DATA(c), &seg, sizeof(seg));
    used += WSA_CMSG_SPACE(sizeof(seg));
  }
  m->Control.len = used;
}

// No ffi-rs backend exists for Windows, so there is nothing for one to check.
void abi_facts(void (*)(void*, const char*, long), void*) {}

// What the control messages of one received datagram say (destination, interface, traffic
// class, URO segment size), into *out; fields the control data does not carry are reset.
void decode_control(WSAMSG* m, Received* out) {
  out->hasDestination = false;
  out->ifindex = 0;
  out->tos = -1;
  out->segment = 0;
  // WSARecvMsg may complete with no control data at all although it was asked for (traffic
  // from the local machine, openssl #18270; under memory pressure, msquic): Control.len 0
  // then, and the buffer still holds whatever an earlier receive left in it.
  if (m->Control.len == 0) return;
  for (WSACMSGHDR* c = WSA_CMSG_FIRSTHDR(m); c; c = WSA_CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      IN_PKTINFO pi;
      std::memcpy(&pi, WSA_CMSG_DATA(c), sizeof(pi));
      out->hasDestination = true;
      out->destination = IpAddr{};
      out->destination.family = 4;
      std::memcpy(out->destination.bytes, &pi.ipi_addr, 4);
      out->ifindex = pi.ipi_ifindex;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      IN6_PKTINFO pi;
      std::memcpy(&pi, WSA_CMSG_DATA(c), sizeof(pi));
      out->hasDestination = true;
      out->destination = IpAddr{};
      out->destination.family = 6;
      std::memcpy(out->destination.bytes, &pi.ipi6_addr, 16);
      out->ifindex = pi.ipi6_ifindex;
    } else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) ||
               (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS)) {
      INT tos;
      std::memcpy(&tos, WSA_CMSG_DATA(c), sizeof(tos));
      out->tos = tos;
    } else if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_COALESCED_INFO) {
      // URO: the size of the datagrams coalesced into this receive (the last may be shorter).
      DWORD size;
      std::memcpy(&size, WSA_CMSG_DATA(c), sizeof(size));
      if (size > 0 && static_cast<DWORD>(out->bytes) > size) out->segment = size;
    }
  }
}

}  // namespace shim
