// Builds the send message with the real encoders (native/encode.cc's plan_send, then the
// platform's encode_msg) and reads it back with the OS's own macros: CMSG_* for msghdr,
// WSA_CMSG_* for WSAMSG. Wine cannot show that WSASendMsg honours IN_PKTINFO, so this is
// the Windows backend's evidence that the control data it hands Winsock is right.
// Prints a line per check and ends with "N passed, N failed".
#include <cstdio>
#include <cstring>

#ifdef _WIN32
#include "../../platform/win32/win32.h"
using Msg = WSAMSG;
using Cmsg = WSACMSGHDR;
using Iov = WSABUF;
#define FIRSTHDR(m) WSA_CMSG_FIRSTHDR(m)
#define NXTHDR(m, c) WSA_CMSG_NXTHDR(m, c)
#define DATA(c) WSA_CMSG_DATA(c)
#define LEN(n) WSA_CMSG_LEN(n)
#define CONTROL_PTR(m) ((m).Control.buf)
#define CONTROL_LEN(m) ((m).Control.len)
#define IOV_COUNT(m) ((m).dwBufferCount)
#define IOV_BASE(m, i) ((const void*)(m).lpBuffers[i].buf)
#define NAME(m) ((const sockaddr*)(m).name)
#define SOURCE_V4(pi) ((pi).ipi_addr)  // Windows reads the source from ipi_addr
#ifndef IP_ECN
#define IP_ECN 50
#define IPV6_ECN 50
#endif
#define TOS_TYPE_V4 IP_ECN  // only the ECN bits go per datagram on Windows
#define TOS_TYPE_V6 IPV6_ECN
#define TOS_VALUE(t) ((t) & 3)
using Pktinfo4 = IN_PKTINFO;
using Pktinfo6 = IN6_PKTINFO;
#else
#include "../../platform/posix/posix.h"
using Msg = msghdr;
using Cmsg = cmsghdr;
using Iov = iovec;
#define FIRSTHDR(m) CMSG_FIRSTHDR(m)
#define NXTHDR(m, c) CMSG_NXTHDR(m, c)
#define DATA(c) CMSG_DATA(c)
#define LEN(n) CMSG_LEN(n)
#define CONTROL_PTR(m) ((m).msg_control)
#define CONTROL_LEN(m) ((m).msg_controllen)
#define IOV_COUNT(m) ((m).msg_iovlen)
#define IOV_BASE(m, i) ((const void*)(m).msg_iov[i].iov_base)
#define NAME(m) ((const sockaddr*)(m).msg_name)
#define SOURCE_V4(pi) ((pi).ipi_spec_dst)  // Linux reads the source from ipi_spec_dst
#define TOS_TYPE_V4 IP_TOS
#define TOS_TYPE_V6 IPV6_TCLASS
#define TOS_VALUE(t) (t)
using Pktinfo4 = in_pktinfo;
using Pktinfo6 = in6_pktinfo;
#endif

using namespace shim;

static int passed = 0, failed = 0;

static void check(bool ok, const char* name, const char* what) {
  std::printf("%s %s: %s\n", ok ? "PASS" : "FAIL", name, what);
  (ok ? passed : failed)++;
}

struct Case {
  const char* name;
  SockKind kind;
  const char* to;
  const char* source;  // nullptr: no source
  uint32_t ifindex;
  int wantPlanError;   // a Wsa code, or 0
  PktinfoPlan::Kind want;  // None: no control data at all
  const char* wantAddr;  // the source as it must appear in the pktinfo
  uint32_t wantIfindex;
  int wantToFamily;
  bool wantToMapped;
  int tos = -1;  // traffic class to ask for; its message follows the pktinfo one
};

// The traffic-class message: IP_TOS / IPV6_TCLASS (Linux) or IP_ECN / IPV6_ECN (Windows),
// for the destination's family, and nothing after it.
static void check_tos(const Case& c, Msg* m, Cmsg* t, bool v4) {
  check(t != nullptr, c.name, "traffic-class message present");
  if (!t) return;
  check(v4 ? (t->cmsg_level == IPPROTO_IP && t->cmsg_type == TOS_TYPE_V4)
           : (t->cmsg_level == IPPROTO_IPV6 && t->cmsg_type == TOS_TYPE_V6),
        c.name, "traffic-class level and type follow the destination family");
  int value = -1;
  check(t->cmsg_len == LEN(sizeof(int)), c.name, "traffic-class cmsg_len");
  std::memcpy(&value, DATA(t), sizeof(int));
  check(value == TOS_VALUE(c.tos), c.name, "traffic-class value");
  check(NXTHDR(m, t) == nullptr, c.name, "nothing after the traffic-class message");
}

static void run(const Case& c) {
  IpAddr to{}, src{};
  if (!parse_ip(c.to, &to) || (c.source && !parse_ip(c.source, &src))) {
    check(false, c.name, "parse");
    return;
  }
  Endpoint dest{to, 9000};
  static const uint8_t a[] = {'h', 'e', 'l'}, b[] = {'l', 'o'};
  Buf bufs[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
  SendSpec spec{};
  spec.bufs = bufs;
  spec.nbufs = 2;
  spec.to = &dest;
  int planError = plan_send(c.kind, 0, &dest, c.source ? &src : nullptr, c.ifindex, 0, c.tos, 0, 5, &spec.pktinfo);
  if (c.wantPlanError || planError) {
    check(planError == c.wantPlanError, c.name, "plan_send refuses the mix");
    return;
  }
  Msg m;
  Iov iov[2];
  sockaddr_storage name;
  alignas(Cmsg) unsigned char control[kCmsgSpace];
  encode_msg(c.kind, spec, &m, iov, &name, control);

  check(IOV_COUNT(m) == 2 && IOV_BASE(m, 0) == a && IOV_BASE(m, 1) == b, c.name, "buffers gathered without a copy");
  const sockaddr* sa = NAME(m);
  bool mapped = false;
  if (sa->sa_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(sa);
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    mapped = std::memcmp(&s6->sin6_addr, prefix, 12) == 0;
  }
  check(sa->sa_family == (c.wantToFamily == 4 ? AF_INET : AF_INET6) && mapped == c.wantToMapped, c.name,
        "destination family (v4-mapped on a dual-stack socket)");

  if (c.want == PktinfoPlan::None && c.tos < 0) {
    check(CONTROL_PTR(m) == nullptr && CONTROL_LEN(m) == 0, c.name, "no control data: buffer NULL, length 0");
    return;
  }
  Cmsg* h = FIRSTHDR(&m);
  if (c.want == PktinfoPlan::None) {
    check_tos(c, &m, h, c.wantToFamily == 4 || c.wantToMapped);
    return;
  }
  check(h != nullptr, c.name, "FIRSTHDR finds the control message");
  if (!h) return;
  bool v4 = c.want == PktinfoPlan::V4;
  size_t dataLen = v4 ? sizeof(Pktinfo4) : sizeof(Pktinfo6);
  // IP_PKTINFO and IPV6_PKTINFO share a number on Windows: the level tells them apart.
  check(v4 ? (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO)
           : (h->cmsg_level == IPPROTO_IPV6 && h->cmsg_type == IPV6_PKTINFO),
        c.name, "level and type");
  check(h->cmsg_len == LEN(dataLen), c.name, "cmsg_len");
  uint8_t want[16];
  if (v4) {
    Pktinfo4 pi;
    std::memcpy(&pi, DATA(h), sizeof(pi));
    inet_pton(AF_INET, c.wantAddr, want);
    check(std::memcmp(&SOURCE_V4(pi), want, 4) == 0, c.name, "IPv4 source in the field this OS reads");
    check(static_cast<uint32_t>(pi.ipi_ifindex) == c.wantIfindex, c.name, "interface index");
  } else {
    Pktinfo6 pi;
    std::memcpy(&pi, DATA(h), sizeof(pi));
    inet_pton(AF_INET6, c.wantAddr, want);
    check(std::memcmp(&pi.ipi6_addr, want, 16) == 0, c.name, "IPv6 source");
    check(pi.ipi6_ifindex == c.wantIfindex, c.name, "interface index");
  }
  if (c.tos >= 0) {
    check_tos(c, &m, NXTHDR(&m, h), v4);
  } else {
    check(NXTHDR(&m, h) == nullptr, c.name, "exactly one control message");
  }
}

int main() {
  const Case cases[] = {
      {"udp4 source", SockKind::Udp4, "127.0.0.1", "127.0.0.2", 0, 0, PktinfoPlan::V4, "127.0.0.2", 0, 4, false},
      {"udp4 interface only", SockKind::Udp4, "127.0.0.1", nullptr, 7, 0, PktinfoPlan::V4, "0.0.0.0", 7, 4, false},
      {"udp4 no control", SockKind::Udp4, "127.0.0.1", nullptr, 0, 0, PktinfoPlan::None, nullptr, 0, 4, false},
      {"udp6 source", SockKind::Udp6, "::1", "fd00::2", 3, 0, PktinfoPlan::V6, "fd00::2", 3, 6, false},
      {"udp6 no control", SockKind::Udp6, "::1", nullptr, 0, 0, PktinfoPlan::None, nullptr, 0, 6, false},
      {"dual stack v4 literal + v4 source", SockKind::Udp6, "127.0.0.1", "127.0.0.3", 0, 0, PktinfoPlan::V4, "127.0.0.3", 0, 6, true},
      {"dual stack v4-mapped + v4-mapped source", SockKind::Udp6, "::ffff:127.0.0.1", "::ffff:127.0.0.2", 0, 0, PktinfoPlan::V4, "127.0.0.2", 0, 6, true},
      {"dual stack v4-mapped + IPv6 source", SockKind::Udp6, "::ffff:127.0.0.1", "::1", 0, WSAEINVAL_, PktinfoPlan::None, nullptr, 0, 6, true},
      {"IPv6 destination + IPv4 source", SockKind::Udp6, "::1", "127.0.0.1", 0, WSAEINVAL_, PktinfoPlan::None, nullptr, 0, 6, false},
      {"scoped IPv6 source gives the interface", SockKind::Udp6, "fe80::1", "fe80::2%5", 0, 0, PktinfoPlan::V6, "fe80::2", 5, 6, false},
      {"udp4 source + ECN", SockKind::Udp4, "127.0.0.1", "127.0.0.2", 0, 0, PktinfoPlan::V4, "127.0.0.2", 0, 4, false, 0x01},
      {"udp6 source + ECN", SockKind::Udp6, "::1", "::1", 0, 0, PktinfoPlan::V6, "::1", 0, 6, false, 0x02},
      {"dual stack v4-mapped, ECN alone", SockKind::Udp6, "::ffff:127.0.0.1", nullptr, 0, 0, PktinfoPlan::None, nullptr, 0, 6, true, 0x03},
      {"udp6, ECN alone", SockKind::Udp6, "::1", nullptr, 0, 0, PktinfoPlan::None, nullptr, 0, 6, false, 0x01},
  };
  for (const Case& c : cases) run(c);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
