// Builds the WSAMSG for one send: WSABUFs over the caller's buffers (no copy), the
// destination, and IN_PKTINFO / IN6_PKTINFO as the OS-free encoder planned it.
// platform/posix/msg.cc builds the msghdr equivalent; test/native/encode_test.cc reads
// both back with the OS's own CMSG macros.
#include <cstring>

#include "win32.h"

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
  if (spec.pktinfo.kind == PktinfoPlan::None) return;
  std::memset(control, 0, kCmsgSpace);
  WSACMSGHDR* c = reinterpret_cast<WSACMSGHDR*>(control);
  if (spec.pktinfo.kind == PktinfoPlan::V4) {
    // Windows takes the source from ipi_addr (Linux from ipi_spec_dst).
    IN_PKTINFO pi{};
    std::memcpy(&pi.ipi_addr, spec.pktinfo.addr, 4);
    pi.ipi_ifindex = spec.pktinfo.ifindex;
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = WSA_CMSG_LEN(sizeof(pi));
    std::memcpy(WSA_CMSG_DATA(c), &pi, sizeof(pi));
    m->Control.len = WSA_CMSG_SPACE(sizeof(pi));
  } else {
    IN6_PKTINFO pi{};
    std::memcpy(&pi.ipi6_addr, spec.pktinfo.addr, 16);
    pi.ipi6_ifindex = spec.pktinfo.ifindex;
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = WSA_CMSG_LEN(sizeof(pi));
    std::memcpy(WSA_CMSG_DATA(c), &pi, sizeof(pi));
    m->Control.len = WSA_CMSG_SPACE(sizeof(pi));
  }
  m->Control.buf = reinterpret_cast<CHAR*>(control);
}

}  // namespace shim
