// Builds the WSAMSG for one send: WSABUFs over the caller's buffers (no copy), the
// destination, and IN_PKTINFO / IN6_PKTINFO as the OS-free encoder planned it.
// platform/posix/msg.cc builds the msghdr equivalent; test/native/encode_test.cc reads
// both back with the OS's own CMSG macros.
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

}  // namespace shim
