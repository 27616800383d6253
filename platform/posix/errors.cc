// errno -> WSAE, decided where the call failed, because several errnos mean different
// things depending on the socket (RESULTS.md in the errno lab is the evidence).
#include <time.h>  // linux/errqueue.h uses timespec without including it
#include <linux/errqueue.h>

#include <cerrno>
#include <cstring>

#include "posix.h"

namespace shim {

// The rows of native/errno.def; their numbers are what the ffi-rs backend uses, so the
// compiler checks them against this system's headers.
#define ERRNO_WSA(name, number, wsa) static_assert(name == number, #name " differs from native/errno.def");
#define ICMP_WSA(family, type, code, wsa)
#include "../../native/errno.def"
#undef ERRNO_WSA
#undef ICMP_WSA

static int from_errno(int e) {
  switch (e) {
#define ERRNO_WSA(name, number, wsa) \
  case name:                         \
    return wsa##_;
#define ICMP_WSA(family, type, code, wsa)
#include "../../native/errno.def"
#undef ERRNO_WSA
#undef ICMP_WSA
    default: return WSASYSCALLFAILURE_;
  }
}

void set_os_error(OsError* err, int sysErrno, const char* syscall, const PlatformSocket* s,
                  ErrContext ctx) {
  err->hasIcmp = false;
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
  int family = ee.ee_origin == SO_EE_ORIGIN_ICMP ? 4 : ee.ee_origin == SO_EE_ORIGIN_ICMP6 ? 6 : 0;
#define ERRNO_WSA(name, number, wsa)
#define ICMP_WSA(fam, type, code, wsa) \
  if (family == fam && ee.ee_type == type && (code < 0 || ee.ee_code == code)) return wsa##_;
#include "../../native/errno.def"
#undef ERRNO_WSA
#undef ICMP_WSA
  return 0;
}

// The errnos an ICMP error can leave pending (the kernel's icmp_err_convert and
// icmpv6_err_convert); anything else came from the call itself.
static bool is_icmp_errno(int e) {
  switch (e) {
    case ECONNREFUSED: case EHOSTUNREACH: case ENETUNREACH: case EPROTO: case EHOSTDOWN:
    case ENOPROTOOPT: case EMSGSIZE: case EOPNOTSUPP: case ENONET: case EACCES:
      return true;
    default:
      return false;
  }
}

// One entry of the socket's error queue, dequeued (the kernel then re-arms the next).
struct QueuedError {
  bool found = false;  // it carried an IP_RECVERR / IPV6_RECVERR message
  int sysErrno = 0;    // ee_errno
  bool fromIcmp = false;
  int wsa = 0;         // the ICMP row's, 0 if none matches
  bool hasReport = false;
  IcmpReport report;
};

static bool read_error_queue(PlatformSocket* s, QueuedError* out) {
  alignas(cmsghdr) unsigned char control[512];
  char sink[1];
  iovec iov{sink, sizeof(sink)};
  sockaddr_storage about{};  // zero: a name the kernel did not fill reads as AF_UNSPEC
  msghdr m{};
  m.msg_name = &about;
  m.msg_namelen = sizeof(about);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  *out = QueuedError{};
  if (recvmsg(s->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    bool isErr = (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                 (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR);
    if (!isErr || c->cmsg_len < CMSG_LEN(sizeof(sock_extended_err))) continue;
    sock_extended_err ee;
    std::memcpy(&ee, CMSG_DATA(c), sizeof(ee));
    out->found = true;
    out->sysErrno = static_cast<int>(ee.ee_errno);
    out->fromIcmp = ee.ee_origin == SO_EE_ORIGIN_ICMP || ee.ee_origin == SO_EE_ORIGIN_ICMP6;
    out->wsa = from_icmp(ee);
    // The entry's name is the destination of the datagram the ICMP message answered, so
    // the error can say which peer refused rather than only the one this call sent to.
    if (about.ss_family == AF_INET || about.ss_family == AF_INET6) {
      out->hasReport = true;
      sockaddr_to_endpoint(about, &out->report.about);
      out->report.type = ee.ee_type;
      out->report.code = ee.ee_code;
      sockaddr_storage offender{};
      size_t room = c->cmsg_len > CMSG_LEN(sizeof(ee)) ? c->cmsg_len - CMSG_LEN(sizeof(ee)) : 0;
      std::memcpy(&offender, SO_EE_OFFENDER(reinterpret_cast<sock_extended_err*>(CMSG_DATA(c))),
                  room < sizeof(offender) ? room : sizeof(offender));
      if (offender.ss_family == AF_INET || offender.ss_family == AF_INET6) {
        Endpoint reporter;
        sockaddr_to_endpoint(offender, &reporter);
        out->report.reporter = reporter.ip;
      }
    }
    return true;
  }
  return true;
}

void classify_icmp_error(PlatformSocket* s, OsError* err) {
  if (s->icmp != IcmpMode::On || !is_icmp_errno(err->sys)) return;
  // One entry per failed call, as each ICMP error fails one call (the kernel re-arms the
  // next entry's error when one is taken). Linux does not say whether this errno came from
  // the pending error or from the call itself (a route lookup fails before the pending
  // error is looked at), so the entry is trusted only when its errno is this failure's:
  // a stale one never names the wrong peer, and a local failure takes at most one entry.
  QueuedError q;
  if (!read_error_queue(s, &q) || !q.found || q.sysErrno != err->sys || !q.fromIcmp) return;
  if (q.wsa) err->wsa = q.wsa;
  err->hasIcmp = q.hasReport;
  err->icmp = q.report;
}

bool take_queued_icmp_error(PlatformSocket* s, const char* syscall, OsError* err) {
  if (s->fd < 0) return false;
  QueuedError q;
  while (read_error_queue(s, &q)) {
    // Entries of local errors were reported by the send that caused them: dropped.
    if (s->icmp != IcmpMode::On || !q.found || !q.fromIcmp || !is_icmp_errno(q.sysErrno)) continue;
    set_os_error(err, q.sysErrno, syscall, s, ErrContext::Plain);
    if (q.wsa) err->wsa = q.wsa;
    err->hasIcmp = q.hasReport;
    err->icmp = q.report;
    return true;
  }
  return false;
}

bool swallow_icmp_error(const PlatformSocket* s, int sysErrno) {
  // Any error an ICMP message can leave pending: the retry reports a real one (a route, a
  // size) again, since only the pending error is cleared by being returned.
  return s->icmp == IcmpMode::Off && s->peerFamily != 0 && is_icmp_errno(sysErrno);
}

void set_shim_error(OsError* err, int wsa, const char* syscall) {
  err->hasIcmp = false;
  err->wsa = wsa;
  err->sys = 0;
  err->syscall = syscall;
}

}  // namespace shim
