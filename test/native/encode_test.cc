// Builds the send message from plan records that the real planner wrote (src/plan.ts, run
// by test/encode.test.ts, which pipes one case a line to stdin), with the real decoder
// (native/encode.cc's decode_plan) and the platform's encode_msg, and reads it back with the
// OS's own macros: CMSG_* for msghdr, WSA_CMSG_* for WSAMSG. Wine cannot show that
// WSASendMsg honours IN_PKTINFO, so this is the Windows backend's evidence that the control
// data it hands Winsock is right. Prints a line per check and ends with "N passed, N failed".
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>

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
#define SET_CONTROL(m, p, n) ((m).Control.buf = reinterpret_cast<CHAR*>(p), (m).Control.len = static_cast<ULONG>(n))
#define SPACE(n) WSA_CMSG_SPACE(n)
#define IOV_COUNT(m) ((m).dwBufferCount)
#define IOV_BASE(m, i) ((const void*)(m).lpBuffers[i].buf)
#define NAME(m) ((const sockaddr*)(m).name)
#define SOURCE_V4(pi) ((pi).ipi_addr)  // Windows reads the source from ipi_addr
#ifndef IP_ECN
#define IP_ECN 50
#define IPV6_ECN 50
#endif
// ECN alone goes as IP_ECN / IPV6_ECN; the whole byte (tosWhole: the stack takes DSCP, a
// probe said) as IP_TOS / IPV6_TCLASS.
#define TOS_TYPE_V4(whole) ((whole) ? IP_TOS : IP_ECN)
#define TOS_TYPE_V6(whole) ((whole) ? IPV6_TCLASS : IPV6_ECN)
#define TOS_VALUE(t, whole) ((whole) ? (t) : ((t) & 3))
// USO: the segment size as a DWORD, per send (never as the socket option, which would stay
// in force for later sends: quinn #2824).
#ifndef UDP_SEND_MSG_SIZE
#define UDP_SEND_MSG_SIZE 2
#endif
#define SEGMENT_TYPE UDP_SEND_MSG_SIZE
using SegmentValue = DWORD;
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
#define SET_CONTROL(m, p, n) ((m).msg_control = (p), (m).msg_controllen = (n))
#define SPACE(n) CMSG_SPACE(n)
#define IOV_COUNT(m) ((m).msg_iovlen)
#define IOV_BASE(m, i) ((const void*)(m).msg_iov[i].iov_base)
#define NAME(m) ((const sockaddr*)(m).msg_name)
#define SOURCE_V4(pi) ((pi).ipi_spec_dst)  // Linux reads the source from ipi_spec_dst
#define TOS_TYPE_V4(whole) ((void)(whole), IP_TOS)  // Linux always takes the whole byte
#define TOS_TYPE_V6(whole) IPV6_TCLASS
#define TOS_VALUE(t, whole) (t)
// UDP GSO: the segment size as a uint16_t (linux/udp.h's udp_cmsg_send reads a __u16).
#define SEGMENT_TYPE UDP_SEGMENT
using SegmentValue = uint16_t;
using Pktinfo4 = in_pktinfo;
using Pktinfo6 = in6_pktinfo;
#endif

using namespace shim;

static int passed = 0, failed = 0;

static void check(bool ok, const std::string& name, const char* what) {
  std::printf("%s %s: %s\n", ok ? "PASS" : "FAIL", name.c_str(), what);
  (ok ? passed : failed)++;
}

// One line of stdin: name, socket kind, the record in hex, then what the message must
// carry: pktinfo kind (0/4/6), its source ('-': none), its interface, the destination's
// family and whether it is v4-mapped, the TOS byte asked for (-1: none), and the segment
// size (0: none). Tab-separated.
struct Case {
  std::string name;
  SockKind kind;
  uint8_t record[plan::kSize];
  int want;  // 0: no pktinfo
  std::string wantAddr;
  uint32_t wantIfindex;
  int wantToFamily;
  bool wantToMapped;
  int tos;
  unsigned segment;
};

static bool parse_case(const std::string& line, Case* c) {
  std::istringstream in(line);
  std::string f[10];
  for (auto& x : f)
    if (!std::getline(in, x, '\t')) return false;
  c->name = f[0];
  c->kind = static_cast<SockKind>(std::atoi(f[1].c_str()));
  if (f[2].size() != 2 * plan::kSize) return false;
  for (size_t i = 0; i < plan::kSize; i++) c->record[i] = static_cast<uint8_t>(std::strtoul(f[2].substr(2 * i, 2).c_str(), nullptr, 16));
  c->want = std::atoi(f[3].c_str());
  c->wantAddr = f[4];
  c->wantIfindex = static_cast<uint32_t>(std::strtoul(f[5].c_str(), nullptr, 10));
  c->wantToFamily = std::atoi(f[6].c_str());
  c->wantToMapped = f[7] == "1";
  c->tos = std::atoi(f[8].c_str());
  c->segment = static_cast<unsigned>(std::strtoul(f[9].c_str(), nullptr, 10));
  return true;
}

// The traffic-class message: IP_TOS / IPV6_TCLASS (Linux) or IP_ECN / IPV6_ECN (Windows),
// for the destination's family, and nothing after it.
static void check_tos(const Case& c, Cmsg* t, bool v4, bool whole) {
  check(t != nullptr, c.name, "traffic-class message present");
  if (!t) return;
  check(v4 ? (t->cmsg_level == IPPROTO_IP && t->cmsg_type == TOS_TYPE_V4(whole))
           : (t->cmsg_level == IPPROTO_IPV6 && t->cmsg_type == TOS_TYPE_V6(whole)),
        c.name, "traffic-class level and type follow the destination family");
  int value = -1;
  check(t->cmsg_len == LEN(sizeof(int)), c.name.c_str(), "traffic-class cmsg_len");
  std::memcpy(&value, DATA(t), sizeof(int));
  check(value == TOS_VALUE(c.tos, whole), c.name, "traffic-class value");
}

// The segmentation message: UDP_SEGMENT (Linux) or UDP_SEND_MSG_SIZE (Windows) at the UDP
// level, carrying the segment size in the type this OS reads.
static void check_segment(const Case& c, Cmsg* g) {
  check(g != nullptr, c.name, "segmentation message present");
  if (!g) return;
  check(g->cmsg_level == IPPROTO_UDP && g->cmsg_type == SEGMENT_TYPE, c.name, "segmentation level and type");
  check(g->cmsg_len == LEN(sizeof(SegmentValue)), c.name, "segmentation cmsg_len");
  SegmentValue value = 0;
  std::memcpy(&value, DATA(g), sizeof(value));
  check(value == c.segment, c.name, "segmentation value: the segment size");
}

// The pktinfo message: the source in the field this OS reads, and the interface.
static void check_pktinfo(const Case& c, Cmsg* h) {
  check(h != nullptr, c.name, "FIRSTHDR finds the control message");
  if (!h) return;
  bool v4 = c.want == 4;
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
    inet_pton(AF_INET, c.wantAddr.c_str(), want);
    check(std::memcmp(&SOURCE_V4(pi), want, 4) == 0, c.name, "IPv4 source in the field this OS reads");
    check(static_cast<uint32_t>(pi.ipi_ifindex) == c.wantIfindex, c.name, "interface index");
  } else {
    Pktinfo6 pi;
    std::memcpy(&pi, DATA(h), sizeof(pi));
    inet_pton(AF_INET6, c.wantAddr.c_str(), want);
    check(std::memcmp(&pi.ipi6_addr, want, 16) == 0, c.name, "IPv6 source");
    check(pi.ipi6_ifindex == c.wantIfindex, c.name, "interface index");
  }
}

static void run(const Case& given, bool whole) {
  Case c = given;
  if (whole) c.name += " (whole TOS byte)";
  Endpoint dest;
  static const uint8_t a[] = {'h', 'e', 'l'}, b[] = {'l', 'o'};
  Buf bufs[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
  SendSpec spec{};
  uint32_t maxBytes = 0;
  bool split = false;
  int err = decode_plan(c.record, &dest, &spec, &maxBytes, &split);
  check(err == 0 && spec.to == &dest && !split, c.name, "decode_plan reads the planner's record");
  if (err) return;
  check(maxBytes == (c.wantToFamily == 4 || c.wantToMapped ? 65507u : 65527u), c.name, "the transport limit of the destination's family");
  spec.bufs = bufs;
  spec.nbufs = 2;
  spec.pktinfo.tosWhole = whole;
  Msg m;
  Iov iov[2];
  sockaddr_storage name;
  alignas(Cmsg) unsigned char control[kCmsgSpace];
  encode_msg(c.kind, spec, &m, iov, &name, control);
#ifndef _WIN32
  // A send with the plan of the one encoded before copies the name and control data kept
  // then (msg.cc's encode_msg_memo): the same bytes as encoding them, both times.
  EncodedPlan memo;
  SendSpec same = spec;
  same.planId = 1;
  for (const char* when : {"encoded and kept", "copied from the memo"}) {
    Msg m2;
    Iov iov2[2];
    sockaddr_storage name2;
    alignas(Cmsg) unsigned char control2[kCmsgSpace];
    std::memset(&name2, 0xa5, sizeof(name2));
    std::memset(control2, 0xa5, sizeof(control2));
    encode_msg_memo(c.kind, same, &m2, iov2, &name2, control2, &memo);
    bool sameName = m2.msg_namelen == m.msg_namelen && (m.msg_name == nullptr) == (m2.msg_name == nullptr) &&
                    (!m.msg_name || std::memcmp(m2.msg_name, m.msg_name, m.msg_namelen) == 0);
    bool sameControl = CONTROL_LEN(m2) == CONTROL_LEN(m) && (CONTROL_PTR(m) == nullptr) == (CONTROL_PTR(m2) == nullptr) &&
                       (!CONTROL_PTR(m) || std::memcmp(CONTROL_PTR(m2), CONTROL_PTR(m), CONTROL_LEN(m)) == 0);
    check(sameName && sameControl && IOV_COUNT(m2) == 2 && IOV_BASE(m2, 0) == a && IOV_BASE(m2, 1) == b, c.name,
          (std::string("the plan's name and control data, ") + when).c_str());
  }
#endif

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

  if (c.want == 0 && c.tos < 0 && c.segment == 0) {
    check(CONTROL_PTR(m) == nullptr && CONTROL_LEN(m) == 0, c.name, "no control data: buffer NULL, length 0");
    return;
  }
  // The messages in the order the encoders write them: pktinfo, traffic class, segmentation.
  Cmsg* h = FIRSTHDR(&m);
  if (c.want != 0) check_pktinfo(c, h);
  if (c.want != 0 && h) h = NXTHDR(&m, h);
  if (c.tos >= 0) check_tos(c, h, c.want ? c.want == 4 : (c.wantToFamily == 4 || c.wantToMapped), whole);
  if (c.tos >= 0 && h) h = NXTHDR(&m, h);
  if (c.segment) check_segment(c, h);
  if (c.segment && h) h = NXTHDR(&m, h);
  check(h == nullptr, c.name, "no control message after the ones asked for");
}

// The receive side's decoder over the same structures: a destination from IP_PKTINFO, and
// none at all when the receive brought no control data (Control.len 0: Windows does that
// for traffic from the local machine) although the buffer still holds an earlier one's.
static void check_decode() {
  alignas(Cmsg) unsigned char buf[256];
  std::memset(buf, 0, sizeof(buf));
  Msg m{};
  SET_CONTROL(m, buf, sizeof(buf));
  Cmsg* c = FIRSTHDR(&m);
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_PKTINFO;
  c->cmsg_len = LEN(sizeof(Pktinfo4));
  Pktinfo4 pi{};
  const unsigned char dst[4] = {10, 1, 2, 3};
  std::memcpy(&pi.ipi_addr, dst, 4);
  pi.ipi_ifindex = 9;
  std::memcpy(DATA(c), &pi, sizeof(pi));
  SET_CONTROL(m, buf, SPACE(sizeof(Pktinfo4)));
  Received r{};
  r.bytes = 100;
  decode_control(&m, &r);
  check(r.hasDestination && r.destination.family == 4 && std::memcmp(r.destination.bytes, dst, 4) == 0 && r.ifindex == 9,
        "decode IP_PKTINFO", "the destination and interface the control message carries");
  SET_CONTROL(m, buf, 0);
  decode_control(&m, &r);
  check(!r.hasDestination && r.ifindex == 0 && r.tos == -1, "decode, no control data",
        "no destination, interface or traffic class, not the stale bytes of the buffer or of the result");
}

int main() {
  std::string line;
  int cases = 0;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    Case c;
    if (!parse_case(line, &c)) {
      check(false, line.c_str(), "a case line the test can read");
      continue;
    }
    run(c, false);
    if (c.tos >= 0) run(c, true);
    cases++;
  }
  check(cases > 0, "stdin", "at least one case");
  check_decode();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
