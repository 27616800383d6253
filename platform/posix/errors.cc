// errno -> WSAE, decided where the call failed, because several errnos mean different
// things depending on the socket (RESULTS.md in the errno lab is the evidence).
#include <cerrno>

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

void set_shim_error(OsError* err, int wsa, const char* syscall) {
  err->wsa = wsa;
  err->sys = 0;
  err->syscall = syscall;
}

}  // namespace shim
