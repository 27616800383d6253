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

void classify_icmp_error(PlatformSocket* s, OsError* err) {
  // Only errnos an ICMP error can leave pending; anything else came from this send.
  if (s->icmp != IcmpMode::On || (err->sys != ECONNREFUSED && err->sys != EHOSTUNREACH &&
                                  err->sys != ENETUNREACH && err->sys != EPROTO && err->sys != EHOSTDOWN))
    return;
  alignas(cmsghdr) unsigned char control[512];
  char sink[1];
  iovec iov{sink, sizeof(sink)};
  sockaddr_storage about;
  msghdr m{};
  m.msg_name = &about;
  m.msg_namelen = sizeof(about);
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
    // The entry's name is the destination of the datagram the ICMP message answered, so
    // the error can say which peer refused rather than only the one this call sent to.
    err->hasIcmp = true;
    err->icmp = IcmpReport{};
    sockaddr_to_endpoint(about, &err->icmp.about);
    err->icmp.type = ee.ee_type;
    err->icmp.code = ee.ee_code;
    sockaddr_storage offender{};
    size_t room = c->cmsg_len > CMSG_LEN(sizeof(ee)) ? c->cmsg_len - CMSG_LEN(sizeof(ee)) : 0;
    std::memcpy(&offender, SO_EE_OFFENDER(reinterpret_cast<sock_extended_err*>(CMSG_DATA(c))),
                room < sizeof(offender) ? room : sizeof(offender));
    Endpoint reporter;
    if (offender.ss_family != AF_UNSPEC) {
      sockaddr_to_endpoint(offender, &reporter);
      err->icmp.reporter = reporter.ip;
    }
    return;
  }
}

bool swallow_icmp_error(const PlatformSocket* s, int sysErrno) {
  return sysErrno == ECONNREFUSED && s->icmp == IcmpMode::Off && s->peerFamily != 0;
}

void set_shim_error(OsError* err, int wsa, const char* syscall) {
  err->hasIcmp = false;
  err->wsa = wsa;
  err->sys = 0;
  err->syscall = syscall;
}

}  // namespace shim
