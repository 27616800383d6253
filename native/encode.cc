// OS-free decisions shared by every backend: address literals, the flag and size checks
// Linux does not make itself, and which pktinfo control message a send carries.
#include <cstdlib>
#include <cstring>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
#else
#include <arpa/inet.h>
#include <net/if.h>
#endif

#include "shim.h"

namespace shim {

const WsaInfo kWsaTable[] = {
#define WSA_ERROR(name, number, message, onLinux) {#name, number, message, onLinux != 0},
#include "errors.def"
#undef WSA_ERROR
};
const int kWsaTableSize = sizeof(kWsaTable) / sizeof(kWsaTable[0]);

bool is_v4_mapped(const IpAddr& a) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return a.family == 6 && std::memcmp(a.bytes, prefix, 12) == 0;
}

bool parse_ip(const char* text, IpAddr* out) {
  *out = IpAddr{};
  if (inet_pton(AF_INET, text, out->bytes) == 1) {
    out->family = 4;
    return true;
  }
  char host[64];
  const char* pct = std::strchr(text, '%');
  size_t hostLen = pct ? static_cast<size_t>(pct - text) : std::strlen(text);
  if (hostLen >= sizeof(host)) return false;
  std::memcpy(host, text, hostLen);
  host[hostLen] = '\0';
  if (inet_pton(AF_INET6, host, out->bytes) != 1) return false;
  out->family = 6;
  if (pct) {
    const char* zone = pct + 1;
    if (*zone == '\0') return false;
    char* end = nullptr;
    unsigned long n = std::strtoul(zone, &end, 10);
    if (*end == '\0' && n <= 0xffffffffUL) {
      out->scope = static_cast<uint32_t>(n);
    } else {
      // A name that no interface has must not silently become scope 0 (any interface).
      out->scope = if_nametoindex(zone);
      if (out->scope == 0) return false;
    }
  }
  return true;
}

bool format_ip(const IpAddr& a, char* out, size_t cap) {
  return inet_ntop(a.family == 4 ? AF_INET : AF_INET6, a.bytes, out, static_cast<socklen_t>(cap)) != nullptr;
}

static bool is_v4ish(const IpAddr& a) { return a.family == 4 || is_v4_mapped(a); }

static bool is_udp(SockKind k) { return k == SockKind::Udp4 || k == SockKind::Udp6; }

int plan_send(SockKind kind, int peerFamily, const Endpoint* to, const IpAddr* source,
              uint32_t ifindex, uint32_t flags, int tos, uint32_t segmentSize, size_t totalBytes,
              PktinfoPlan* plan) {
  *plan = PktinfoPlan{};
  // WSASendMsg accepts only these three; OOB and PARTIAL make no sense on a datagram
  // socket (Windows refuses both; Linux ignores OOB on IPv6 and unknown bits everywhere).
  if (flags & ~(kMsgOob | kMsgDontRoute | kMsgPartial)) return WSAEOPNOTSUPP_;
  if (flags & (kMsgOob | kMsgPartial)) return WSAEOPNOTSUPP_;

  bool socketV4 = kind == SockKind::Udp4 || kind == SockKind::Raw4;
  // An IPv6 destination on an IPv4 socket: Linux says EAFNOSUPPORT, Winsock (Wine at
  // least) WSAEOPNOTSUPP; the shim answers for both.
  if (to && socketV4 && to->ip.family == 6) return WSAEAFNOSUPPORT_;
  bool destV4;
  if (to) {
    destV4 = is_v4ish(to->ip);
  } else if (peerFamily != 0) {
    destV4 = peerFamily == 4;
  } else {
    destV4 = socketV4;  // the kernel will answer "not connected"
  }

  // The transport limit, checked here so that no byte leaves and both OSes agree.
  if (is_udp(kind) && totalBytes > (destV4 ? 65507u : 65527u)) return WSAEMSGSIZE_;

  if (segmentSize) {
    if (!is_udp(kind) || segmentSize > 0xffff) return WSAEINVAL_;
    if ((totalBytes + segmentSize - 1) / segmentSize > kMaxSegments) return WSAEINVAL_;
    plan->segmentSize = static_cast<uint16_t>(segmentSize);
  }
  if (tos >= 0) {
    plan->tosKind = destV4 ? PktinfoPlan::V4 : PktinfoPlan::V6;
    plan->tos = static_cast<uint8_t>(tos);
  }
  if (!source && ifindex == 0) return 0;
  if (source) {
    if (is_v4ish(*source) != destV4) return WSAEINVAL_;
    if (source->scope != 0 && ifindex == 0) ifindex = source->scope;
  }
  // Dual-stack rule (Windows'): a v4 or v4-mapped destination takes IN_PKTINFO.
  if (destV4) {
    plan->kind = PktinfoPlan::V4;
    if (source) std::memcpy(plan->addr, source->family == 4 ? source->bytes : source->bytes + 12, 4);
  } else {
    plan->kind = PktinfoPlan::V6;
    if (source) std::memcpy(plan->addr, source->bytes, 16);
  }
  plan->ifindex = ifindex;
  return 0;
}

}  // namespace shim
