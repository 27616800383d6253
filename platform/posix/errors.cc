// errno -> WSAE, decided where the call failed, because several errnos mean different
// things depending on the socket (RESULTS.md in the errno lab is the evidence).
#include <time.h>  // linux/errqueue.h uses timespec without including it
#include <linux/errqueue.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>

#include <cerrno>
#include <cstring>

#include "posix.h"

namespace shim {

static int from_errno(int e) {
  switch (e) {
    case EACCES:
    case EPERM:  // netfilter drop/reject, raw socket without CAP_NET_RAW
      return WSAEACCES_;
    case ECONNREFUSED:  // ICMP port unreachable from an earlier send
    case ECONNRESET:
      return WSAECONNRESET_;
    case EFAULT: return WSAEFAULT_;
    case EINTR: return WSAEINTR_;
    case EINVAL: return WSAEINVAL_;
    case EMSGSIZE: return WSAEMSGSIZE_;
    case ENETDOWN:
    case ENODEV:  // pktinfo interface index that does not exist
      return WSAENETDOWN_;
    case ENETRESET: return WSAENETRESET_;
    case ENETUNREACH: return WSAENETUNREACH_;
    case ENOBUFS:
    case ENOMEM:
      return WSAENOBUFS_;
    case EDESTADDRREQ:
    case ENOTCONN:
      return WSAENOTCONN_;
    case EBADF:
    case ENOTSOCK:
      return WSAENOTSOCK_;
    case EOPNOTSUPP: return WSAEOPNOTSUPP_;
    case EPIPE:  // UDP after shutdown(SHUT_WR); never raises SIGPIPE
    case ESHUTDOWN:
      return WSAESHUTDOWN_;
    case ETIMEDOUT: return WSAETIMEDOUT_;
    case EAGAIN: return WSAEWOULDBLOCK_;
    case EINPROGRESS: return WSAEINPROGRESS_;
    case EHOSTUNREACH: return WSAEHOSTUNREACH_;
    case EHOSTDOWN: return WSAEHOSTDOWN_;
    case EADDRNOTAVAIL: return WSAEADDRNOTAVAIL_;
    case EAFNOSUPPORT: return WSAEAFNOSUPPORT_;
    case EADDRINUSE: return WSAEADDRINUSE_;
    case EMFILE:
    case ENFILE:
      return WSAEMFILE_;
    case EPROTONOSUPPORT:
    case ESOCKTNOSUPPORT:
      return WSAEPROTONOSUPPORT_;
    default: return WSASYSCALLFAILURE_;
  }
}

void set_os_error(OsError* err, int sysErrno, const char* syscall, const PlatformSocket* s,
                  ErrContext ctx) {
  err->sys = sysErrno;
  err->syscall = syscall;
  err->wsa = from_errno(sysErrno);
  if (ctx == ErrContext::Send && sysErrno == EAGAIN && s && !has_local_port(s)) {
    // EAGAIN while the kernel was choosing a local port: the ephemeral range is used
    // up, which Windows reports as WSAENOBUFS. Would-block and timeout are decided by
    // the blocking loop in send.cc, which knows how long it waited.
    err->wsa = WSAENOBUFS_;
  }
}

static int from_icmp(const sock_extended_err& ee) {
  if (ee.ee_origin == SO_EE_ORIGIN_ICMP) {
    if (ee.ee_type == ICMP_TIME_EXCEEDED) return WSAENETRESET_;
    if (ee.ee_type == ICMP_DEST_UNREACH) {
      if (ee.ee_code == ICMP_PORT_UNREACH) return WSAECONNRESET_;
      if (ee.ee_code == ICMP_NET_UNREACH) return WSAENETUNREACH_;
      return WSAEHOSTUNREACH_;
    }
  } else if (ee.ee_origin == SO_EE_ORIGIN_ICMP6) {
    if (ee.ee_type == ICMP6_TIME_EXCEEDED) return WSAENETRESET_;
    if (ee.ee_type == ICMP6_DST_UNREACH) {
      if (ee.ee_code == ICMP6_DST_UNREACH_NOPORT) return WSAECONNRESET_;
      if (ee.ee_code == ICMP6_DST_UNREACH_NOROUTE) return WSAENETUNREACH_;
      return WSAEHOSTUNREACH_;
    }
  }
  return 0;
}

void classify_icmp_error(PlatformSocket* s, OsError* err) {
  // Only errnos an ICMP error can leave pending; anything else came from this send.
  if (!s->icmpErrors || (err->sys != ECONNREFUSED && err->sys != EHOSTUNREACH &&
                         err->sys != ENETUNREACH && err->sys != EPROTO && err->sys != EHOSTDOWN))
    return;
  alignas(cmsghdr) unsigned char control[512];
  char sink[1];
  iovec iov{sink, sizeof(sink)};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  // One entry per failed call: the kernel then re-arms the next queued error, so each
  // ICMP error fails exactly one send, as each does on Windows.
  if (recvmsg(s->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    bool isErr = (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                 (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR);
    if (!isErr) continue;
    sock_extended_err ee;
    std::memcpy(&ee, CMSG_DATA(c), sizeof(ee));
    if (int wsa = from_icmp(ee)) err->wsa = wsa;
    return;
  }
}

void set_shim_error(OsError* err, int wsa, const char* syscall) {
  err->wsa = wsa;
  err->sys = 0;
  err->syscall = syscall;
}

}  // namespace shim
