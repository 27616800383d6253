// Builds the msghdr for one send: iovecs over the caller's buffers (no copy), the
// destination, and IP_PKTINFO / IPV6_PKTINFO as the OS-free encoder planned it.
// platform/win32/msg.cc builds the WSAMSG equivalent; test/native/encode_test.cc reads
// both back with the OS's own CMSG macros.
#include <arpa/inet.h>
#include <time.h>  // linux/errqueue.h uses timespec without including it
#include <linux/errqueue.h>
#include <netinet/udp.h>
#include <poll.h>

#include <cerrno>
#include <cstddef>

#include <cstring>

#include "posix.h"

namespace shim {

// iov must have room for max(spec.nbufs, 1) entries; control for kCmsgSpace bytes.
void encode_msg(SockKind kind, const SendSpec& spec, msghdr* m, iovec* iov, sockaddr_storage* to,
                unsigned char* control) {
  std::memset(m, 0, sizeof(*m));
  for (size_t i = 0; i < spec.nbufs; i++) {
    iov[i].iov_base = const_cast<uint8_t*>(spec.bufs[i].data);
    iov[i].iov_len = spec.bufs[i].len;
  }
  m->msg_iov = iov;
  m->msg_iovlen = spec.nbufs;
  if (spec.nbufs == 0) {
    // An empty datagram as one empty iovec, as the ffi-rs backend sends it: qemu-user (the
    // arm64 lane) returns 0 for an iovec-less sendmsg without making the call.
    iov[0] = iovec{nullptr, 0};
    m->msg_iovlen = 1;
  }
  if (spec.to) {
    int len;
    endpoint_to_sockaddr(kind, *spec.to, to, &len);
    m->msg_name = to;
    m->msg_namelen = len;
  }
  const PktinfoPlan& plan = spec.pktinfo;
  if (plan.kind == PktinfoPlan::None && plan.tosKind == PktinfoPlan::None && !plan.segmentSize) return;
  std::memset(control, 0, kCmsgSpace);
  m->msg_control = control;
  m->msg_controllen = kCmsgSpace;  // CMSG_NXTHDR walks within this; trimmed below
  cmsghdr* c = CMSG_FIRSTHDR(m);
  size_t used = 0;
  if (plan.kind == PktinfoPlan::V4) {
    // Linux takes the source from ipi_spec_dst and ignores ipi_addr, which is the field
    // Windows reads; the encoder writes the one this OS honours.
    in_pktinfo pi{};
    pi.ipi_ifindex = static_cast<int>(plan.ifindex);
    std::memcpy(&pi.ipi_spec_dst, plan.addr, 4);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(pi));
    std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    used += CMSG_SPACE(sizeof(pi));
    c = CMSG_NXTHDR(m, c);
  } else if (plan.kind == PktinfoPlan::V6) {
    in6_pktinfo pi{};
    pi.ipi6_ifindex = plan.ifindex;
    std::memcpy(&pi.ipi6_addr, plan.addr, 16);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(pi));
    std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    used += CMSG_SPACE(sizeof(pi));
    c = CMSG_NXTHDR(m, c);
  }
  if (plan.tosKind != PktinfoPlan::None) {
    int tos = plan.tos;
    c->cmsg_level = plan.tosKind == PktinfoPlan::V4 ? IPPROTO_IP : IPPROTO_IPV6;
    c->cmsg_type = plan.tosKind == PktinfoPlan::V4 ? IP_TOS : IPV6_TCLASS;
    c->cmsg_len = CMSG_LEN(sizeof(tos));
    std::memcpy(CMSG_DATA(c), &tos, sizeof(tos));
    used += CMSG_SPACE(sizeof(tos));
    c = CMSG_NXTHDR(m, c);
  }
  if (plan.segmentSize) {
    uint16_t seg = plan.segmentSize;
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(seg));
    std::memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    used += CMSG_SPACE(sizeof(seg));
  }
  m->msg_controllen = used;
}

void abi_facts(void (*put)(void* ctx, const char* name, long value), void* ctx) {
#define SIZE(t) put(ctx, "sizeof " #t, static_cast<long>(sizeof(t)))
#define OFF(t, f) put(ctx, #t "." #f, static_cast<long>(offsetof(t, f)))
#define CONST(c) put(ctx, #c, static_cast<long>(c))
  SIZE(msghdr);
  OFF(msghdr, msg_name);
  OFF(msghdr, msg_namelen);
  OFF(msghdr, msg_iov);
  OFF(msghdr, msg_iovlen);
  OFF(msghdr, msg_control);
  OFF(msghdr, msg_controllen);
  OFF(msghdr, msg_flags);
  SIZE(mmsghdr);
  OFF(mmsghdr, msg_len);
  SIZE(iovec);
  OFF(iovec, iov_len);
  SIZE(cmsghdr);
  OFF(cmsghdr, cmsg_level);
  OFF(cmsghdr, cmsg_type);
  put(ctx, "CMSG_ALIGN(1)", static_cast<long>(CMSG_ALIGN(1)));
  put(ctx, "CMSG_LEN(0)", static_cast<long>(CMSG_LEN(0)));
  SIZE(sockaddr_in);
  OFF(sockaddr_in, sin_port);
  OFF(sockaddr_in, sin_addr);
  SIZE(sockaddr_in6);
  OFF(sockaddr_in6, sin6_port);
  OFF(sockaddr_in6, sin6_addr);
  OFF(sockaddr_in6, sin6_scope_id);
  SIZE(sockaddr_storage);
  SIZE(in_pktinfo);
  OFF(in_pktinfo, ipi_spec_dst);
  OFF(in_pktinfo, ipi_addr);
  SIZE(in6_pktinfo);
  OFF(in6_pktinfo, ipi6_ifindex);
  SIZE(sock_extended_err);
  OFF(sock_extended_err, ee_origin);
  OFF(sock_extended_err, ee_type);
  OFF(sock_extended_err, ee_code);
  SIZE(pollfd);
  OFF(pollfd, events);
  OFF(pollfd, revents);
  CONST(AF_INET);
  CONST(AF_INET6);
  CONST(SOCK_DGRAM);
  CONST(SOCK_RAW);
  CONST(SOCK_NONBLOCK);
  CONST(SOCK_CLOEXEC);
  CONST(SOL_SOCKET);
  CONST(SO_TYPE);
  CONST(SO_BROADCAST);
  CONST(SO_SNDBUF);
  CONST(IPPROTO_IP);
  CONST(IPPROTO_IPV6);
  CONST(SOL_UDP);
  CONST(IP_TOS);
  CONST(IP_TTL);
  CONST(IP_PKTINFO);
  CONST(IP_RECVERR);
  CONST(IP_RECVTOS);
  CONST(IP_MTU_DISCOVER);
  CONST(IP_PMTUDISC_DO);
  CONST(IPV6_V6ONLY);
  CONST(IPV6_UNICAST_HOPS);
  CONST(IPV6_RECVERR);
  CONST(IPV6_RECVPKTINFO);
  CONST(IPV6_PKTINFO);
  CONST(IPV6_RECVTCLASS);
  CONST(IPV6_TCLASS);
  CONST(IPV6_DONTFRAG);
  CONST(IPV6_MTU_DISCOVER);
  CONST(IPV6_PMTUDISC_DO);
  CONST(UDP_SEGMENT);
  CONST(SO_EE_ORIGIN_ICMP);
  CONST(SO_EE_ORIGIN_ICMP6);
  CONST(MSG_DONTROUTE);
  CONST(MSG_DONTWAIT);
  CONST(MSG_NOSIGNAL);
  CONST(MSG_TRUNC);
  CONST(MSG_ERRQUEUE);
  CONST(SHUT_WR);
  CONST(POLLIN);
  CONST(POLLOUT);
  CONST(POLLERR);
  CONST(POLLHUP);
  CONST(EIO);           // errnos the backend tests itself, besides native/errno.def's
  CONST(ENOPROTOOPT);
  CONST(EPROTO);
#undef SIZE
#undef OFF
#undef CONST
}

}  // namespace shim
