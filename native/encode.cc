// OS-free decisions shared by every backend: address literals, the flag and size checks
// Linux does not make itself, which pktinfo control message a send carries, and how a send
// the kernel will not segment is cut.
#include <algorithm>
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

uint32_t interface_index(const char* name) { return if_nametoindex(name); }

bool format_ip(const IpAddr& a, char* out, size_t cap) {
  return inet_ntop(a.family == 4 ? AF_INET : AF_INET6, a.bytes, out, static_cast<socklen_t>(cap)) != nullptr;
}

// Each field sits at an offset its type can be read from (the TS side uses typed arrays).
#define PLAN_FIELD(name, offset, bytes) \
  static_assert(offset % (bytes > 4 ? 4 : bytes) == 0, "plan.def: " #name " is misaligned");
#define PLAN_SIZE(n) static_assert(n % 4 == 0, "plan.def: the size is not a multiple of 4");
#define PLAN_FLAG(name, value)
#include "plan.def"
#undef PLAN_FIELD
#undef PLAN_SIZE
#undef PLAN_FLAG

template <typename T>
static T field(const uint8_t* rec, size_t at) {
  T v;
  std::memcpy(&v, rec + at, sizeof(v));
  return v;
}

static bool read_endpoint(const uint8_t* rec, Endpoint* out) {
  *out = Endpoint{};
  uint8_t family = rec[plan::TO_FAMILY];
  if (family != 4 && family != 6) return false;
  out->ip.family = family;
  std::memcpy(out->ip.bytes, rec + plan::TO_ADDR, family == 4 ? 4 : 16);
  out->ip.scope = field<uint32_t>(rec, plan::TO_SCOPE);
  out->port = field<uint16_t>(rec, plan::TO_PORT);
  return true;
}

bool decode_endpoint(const uint8_t* rec, Endpoint* out) { return read_endpoint(rec, out); }

static PktinfoPlan::Kind plan_kind(uint8_t v, bool* ok) {
  if (v == 4) return PktinfoPlan::V4;
  if (v == 6) return PktinfoPlan::V6;
  if (v != 0) *ok = false;
  return PktinfoPlan::None;
}

int decode_plan(const uint8_t* rec, Endpoint* to, SendSpec* spec, uint32_t* maxBytes, bool* split) {
  uint8_t flags = rec[plan::FLAGS];
  if (flags & ~(plan::PLAN_HAS_TO | plan::PLAN_DONTROUTE | plan::PLAN_SPLIT)) return WSAEFAULT_;
  spec->to = nullptr;
  spec->planId = 0;
  if (flags & plan::PLAN_HAS_TO) {
    if (!read_endpoint(rec, to)) return WSAEFAULT_;
    spec->to = to;
  }
  spec->flags = (flags & plan::PLAN_DONTROUTE) ? kMsgDontRoute : 0;
  PktinfoPlan& p = spec->pktinfo;
  p = PktinfoPlan{};
  bool ok = true;
  p.kind = plan_kind(rec[plan::PKTINFO], &ok);
  p.tosKind = plan_kind(rec[plan::TOS_KIND], &ok);
  if (!ok) return WSAEFAULT_;
  std::memcpy(p.addr, rec + plan::SOURCE, p.kind == PktinfoPlan::V4 ? 4 : 16);
  p.ifindex = field<uint32_t>(rec, plan::IFINDEX);
  p.tos = rec[plan::TOS];
  p.segmentSize = field<uint16_t>(rec, plan::SEGMENT);
  *split = (flags & plan::PLAN_SPLIT) != 0;
  if (*split && !p.segmentSize) return WSAEFAULT_;
  *maxBytes = field<uint32_t>(rec, plan::MAX_BYTES);
  return 0;
}

void cut_segments(const SendSpec& whole, size_t size, Segments* out) {
  std::vector<size_t> starts;
  size_t room = size;
  starts.push_back(0);
  for (size_t i = 0; i < whole.nbufs; i++) {
    size_t offset = 0;
    while (offset < whole.bufs[i].len) {
      if (room == 0) {
        starts.push_back(out->bufs.size());
        room = size;
      }
      size_t take = std::min(room, whole.bufs[i].len - offset);
      out->bufs.push_back(Buf{whole.bufs[i].data + offset, take});
      offset += take;
      room -= take;
    }
  }
  starts.push_back(out->bufs.size());
  for (size_t k = 0; k + 1 < starts.size(); k++) {
    SendSpec s = whole;
    s.pktinfo.segmentSize = 0;
    s.planId = 0;  // not the whole's control data any more
    s.bufs = out->bufs.data() + starts[k];
    s.nbufs = starts[k + 1] - starts[k];
    out->specs.push_back(s);
  }
}

}  // namespace shim
