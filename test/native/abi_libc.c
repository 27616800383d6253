/*
 * Prints, as JSON, the struct layout and constants the ffi-rs backend writes by hand
 * (src/ffi/abi.ts), as one C library's headers define them. Built with musl-gcc by
 * test/abi.test.ts, to check the table against musl, whose headers pad msg_iovlen,
 * msg_controllen and cmsg_len differently from glibc's. Kernel structs that come from
 * <linux/...> (sock_extended_err and its origins) are the same for every libc: not here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>

static int first = 1;
static void put(const char *name, long value) {
  printf("%s\n  \"%s\": %ld", first ? "{" : ",", name, value);
  first = 0;
}

#define SIZE(t) put("sizeof " #t, (long)sizeof(struct t))
#define OFF(t, f) put(#t "." #f, (long)offsetof(struct t, f))
#define CONST(c) put(#c, (long)(c))

int main(void) {
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
  put("CMSG_ALIGN(1)", (long)CMSG_ALIGN(1));
  put("CMSG_LEN(0)", (long)CMSG_LEN(0));
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
  CONST(EIO);
  CONST(ENOPROTOOPT);
  CONST(EPROTO);
  printf("\n}\n");
  return 0;
}
