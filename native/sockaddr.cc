#include "sockaddr.h"

#include <cstring>

namespace shim {

static bool is_v6(SockKind k) { return k == SockKind::Udp6 || k == SockKind::Raw6; }

void endpoint_to_sockaddr(SockKind kind, const Endpoint& ep, sockaddr_storage* out, int* len) {
  std::memset(out, 0, sizeof(*out));
  if (is_v6(kind) || ep.ip.family == 6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(out);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(ep.port);
    if (ep.ip.family == 4) {
      a->sin6_addr.s6_addr[10] = 0xff;
      a->sin6_addr.s6_addr[11] = 0xff;
      std::memcpy(&a->sin6_addr.s6_addr[12], ep.ip.bytes, 4);
    } else {
      std::memcpy(&a->sin6_addr, ep.ip.bytes, 16);
      a->sin6_scope_id = ep.ip.scope;
    }
    *len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(out);
    a->sin_family = AF_INET;
    a->sin_port = htons(ep.port);
    std::memcpy(&a->sin_addr, ep.ip.bytes, 4);
    *len = sizeof(sockaddr_in);
  }
}

void sockaddr_to_endpoint(const sockaddr_storage& ss, Endpoint* out) {
  *out = Endpoint{};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    out->ip.family = 4;
    std::memcpy(out->ip.bytes, &a->sin_addr, 4);
    out->port = ntohs(a->sin_port);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    out->ip.family = 6;
    std::memcpy(out->ip.bytes, &a->sin6_addr, 16);
    out->ip.scope = a->sin6_scope_id;
    out->port = ntohs(a->sin6_port);
  }
}

}  // namespace shim
