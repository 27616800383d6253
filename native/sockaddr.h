// Endpoint <-> sockaddr, the one piece of socket-header code both backends share
// (sockaddr_in/sockaddr_in6 have the same fields on Linux and Windows).
#pragma once

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include "shim.h"

namespace shim {

// An IPv4 endpoint on an IPv6 socket becomes its v4-mapped form (what Winsock requires,
// and what Linux does for a dual-stack socket).
void endpoint_to_sockaddr(SockKind kind, const Endpoint& ep, sockaddr_storage* out, int* len);
void sockaddr_to_endpoint(const sockaddr_storage& ss, Endpoint* out);

}  // namespace shim
