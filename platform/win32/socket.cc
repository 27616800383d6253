// Socket lifecycle on Windows: WSASocket with WSA_FLAG_OVERLAPPED, WSASendMsg from
// WSAIoctl, the socket attached to the process's completion port with
// FILE_SKIP_COMPLETION_PORT_ON_SUCCESS so that sends that complete at once cost no
// round trip through the port.
#include <cstring>
#include <mutex>

#include "win32.h"

#ifndef SIO_UDP_CONNRESET
#define SIO_UDP_CONNRESET _WSAIOW(IOC_VENDOR, 12)
#endif
#ifndef SIO_UDP_NETRESET
#define SIO_UDP_NETRESET _WSAIOW(IOC_VENDOR, 15)
#endif
#ifndef IPV6_DONTFRAG
#define IPV6_DONTFRAG 14
#endif
#ifndef UDP_SEND_MSG_SIZE
#define UDP_SEND_MSG_SIZE 2
#endif
#ifndef IP_RECVTOS
#define IP_RECVTOS 40
#endif
#ifndef IPV6_RECVTCLASS
#define IPV6_RECVTCLASS 40
#endif

namespace shim {

std::atomic<long> g_liveSockets{0};
std::atomic<long> g_inFlight{0};

LiveCounts live_counts() { return {g_liveSockets.load(), g_inFlight.load(), g_inFlight.load()}; }

static bool is_v6(SockKind k) { return k == SockKind::Udp6 || k == SockKind::Raw6; }

// WSAStartup once per process, so users never see WSANOTINITIALISED.
static bool startup(OsError* err) {
  static std::once_flag once;
  static int result = 0;
  std::call_once(once, [] {
    WSADATA data;
    result = WSAStartup(MAKEWORD(2, 2), &data);
  });
  if (result == 0) return true;
  set_os_error(err, result, "WSAStartup", nullptr, ErrContext::Plain);
  return false;
}

static bool set_int_opt(SOCKET s, int level, int name, DWORD value, OsError* err) {
  if (setsockopt(s, level, name, reinterpret_cast<const char*>(&value), sizeof(value)) == 0) return true;
  set_os_error(err, WSAGetLastError(), "setsockopt", nullptr, ErrContext::Plain);
  return false;
}

// A provider that does not know the control (Wine has no SIO_UDP_NETRESET) keeps its
// default; failing the whole socket over it would help nobody.
static bool ioctl_bool(SOCKET s, DWORD code, BOOL value, OsError* err) {
  DWORD ret = 0;
  if (WSAIoctl(s, code, &value, sizeof(value), nullptr, 0, &ret, nullptr, nullptr) == 0) return true;
  int e = WSAGetLastError();
  if (e == WSAEOPNOTSUPP) return true;
  set_os_error(err, e, "WSAIoctl", nullptr, ErrContext::Plain);
  return false;
}

static bool configure(PlatformSocket* s, const OpenSpec& spec, OsError* err) {
  SOCKET fd = s->sock;
  int type = 0;
  int tlen = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &tlen) != 0 ||
      (type != SOCK_DGRAM && type != SOCK_RAW)) {
    set_shim_error(err, WSAEOPNOTSUPP_, "socket");
    return false;
  }
  if (spec.kind == SockKind::Udp6 && !set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, spec.ipv6Only ? 1 : 0, err))
    return false;
  if (spec.broadcast && !set_int_opt(fd, SOL_SOCKET, SO_BROADCAST, 1, err)) return false;
  // No SO_REUSEPORT on Windows; SO_REUSEADDR there lets any socket take the port (and
  // SO_EXCLUSIVEADDRUSE is the opposite): refused rather than approximated.
  if (spec.reusePort) {
    set_shim_error(err, WSAEOPNOTSUPP_, "setsockopt");
    return false;
  }
  if (spec.sendBufferSize > 0 && !set_int_opt(fd, SOL_SOCKET, SO_SNDBUF, spec.sendBufferSize, err))
    return false;
  bool v6 = is_v6(spec.kind);
  bool v4traffic = !v6 || (spec.kind == SockKind::Udp6 && !spec.ipv6Only);
  bool udp = spec.kind == SockKind::Udp4 || spec.kind == SockKind::Udp6;
  // Windows reports ICMP port unreachable and TTL expiry on later calls by default, on
  // unconnected sockets too, so that one forged ICMP message fails a reply to another peer
  // (msquic and .NET turn it off for that reason). Only icmpErrors: true keeps both, the
  // behaviour IP_RECVERR gives on Linux; connect() turns port unreachable back on for the
  // default mode (sock_connect).
  bool on = spec.icmpErrors == IcmpMode::On;
  if (udp && (!ioctl_bool(fd, SIO_UDP_CONNRESET, on, err) || !ioctl_bool(fd, SIO_UDP_NETRESET, on, err)))
    return false;
  if (spec.ttl > 0) {
    if (v6 && !set_int_opt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, spec.ttl, err)) return false;
    if (v4traffic && !set_int_opt(fd, IPPROTO_IP, IP_TTL, spec.ttl, err)) return false;
  }
  if (spec.dontFragment) {
    if (v6 && !set_int_opt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, 1, err)) return false;
    if (v4traffic && !set_int_opt(fd, IPPROTO_IP, IP_DONTFRAGMENT, 1, err)) return false;
  }
  // Blocking sends (sendMsgSync) honour these; overlapped sends ignore both.
  if (spec.sendTimeoutMs && !set_int_opt(fd, SOL_SOCKET, SO_SNDTIMEO, spec.sendTimeoutMs, err)) return false;
  if (spec.nonBlocking) {
    u_long on = 1;
    if (ioctlsocket(fd, FIONBIO, &on) != 0) {
      set_os_error(err, WSAGetLastError(), "ioctlsocket", nullptr, ErrContext::Plain);
      return false;
    }
  }
  if (spec.hasBind) {
    sockaddr_storage ss;
    int len;
    endpoint_to_sockaddr(s->kind, spec.bind, &ss, &len);
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      set_os_error(err, WSAGetLastError(), "bind", nullptr, ErrContext::Plain);
      return false;
    }
  }
  if (spec.recvPktinfo) {
    if (v6 && !set_int_opt(fd, IPPROTO_IPV6, IPV6_PKTINFO, 1, err)) return false;
    if (v4traffic && !set_int_opt(fd, IPPROTO_IP, IP_PKTINFO, 1, err)) return false;
    // The TOS of received datagrams (Windows 10 1903+); a provider without it (Wine)
    // simply reports no tos.
    DWORD on = 1;
    if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, reinterpret_cast<const char*>(&on), sizeof(on));
    if (v4traffic) setsockopt(fd, IPPROTO_IP, IP_RECVTOS, reinterpret_cast<const char*>(&on), sizeof(on));
  }
  GUID guid = WSAID_WSASENDMSG;
  DWORD ret = 0;
  if (WSAIoctl(fd, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof(guid), &s->wsaSendMsg,
               sizeof(s->wsaSendMsg), &ret, nullptr, nullptr) != 0) {
    set_os_error(err, WSAGetLastError(), "WSAIoctl", nullptr, ErrContext::Plain);
    return false;
  }
  GUID recvGuid = WSAID_WSARECVMSG;
  if (WSAIoctl(fd, SIO_GET_EXTENSION_FUNCTION_POINTER, &recvGuid, sizeof(recvGuid), &s->wsaRecvMsg,
               sizeof(s->wsaRecvMsg), &ret, nullptr, nullptr) != 0) {
    set_os_error(err, WSAGetLastError(), "WSAIoctl", nullptr, ErrContext::Plain);
    return false;
  }
  return attach_to_completion_port(s, err);
}

PlatformSocket* sock_open(const OpenSpec& spec, const EventLoop& loop, OsError* err) {
  if (!startup(err)) return nullptr;
  int family = is_v6(spec.kind) ? AF_INET6 : AF_INET;
  bool raw = spec.kind == SockKind::Raw4 || spec.kind == SockKind::Raw6;
  SOCKET fd = WSASocketW(family, raw ? SOCK_RAW : SOCK_DGRAM, raw ? spec.protocol : IPPROTO_UDP, nullptr,
                         0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (fd == INVALID_SOCKET) {
    set_os_error(err, WSAGetLastError(), "WSASocket", nullptr, ErrContext::Plain);
    return nullptr;
  }
  auto* s = new PlatformSocket();
  g_liveSockets++;
  s->sock = fd;
  s->kind = spec.kind;
  s->nonBlocking = spec.nonBlocking;
  s->icmp = spec.icmpErrors;
  s->recvPktinfo = spec.recvPktinfo;
  s->dispatcher = loop.dispatcher;
  if (!configure(s, spec, err)) {
    sock_destroy(s);
    return nullptr;
  }
  if (spec.kind == SockKind::Udp4 || spec.kind == SockKind::Udp6) {
    // USO (Windows 10 2004+) answers getsockopt(UDP_SEND_MSG_SIZE). Under Wine control
    // data is dropped, so an offloaded send would go out as ONE large datagram: never
    // offload there; the shim sends the segments as a batch instead.
    DWORD seg = 0;
    int len = sizeof(seg);
    s->uso = !host_wine_version() &&
             getsockopt(fd, IPPROTO_UDP, UDP_SEND_MSG_SIZE, reinterpret_cast<char*>(&seg), &len) == 0;
    // URO: best effort, as UDP_GRO on Linux. Wine refuses the option (WSAENOPROTOOPT).
    DWORD most = 65535;
    s->uro = spec.receiveOffload &&
             setsockopt(fd, IPPROTO_UDP, UDP_RECV_MAX_COALESCED_SIZE, reinterpret_cast<const char*>(&most), sizeof(most)) == 0;
  }
  return s;
}

bool sock_connect(PlatformSocket* s, const Endpoint& peer, OsError* err) {
  if (s->sock == INVALID_SOCKET) {
    set_shim_error(err, WSAENOTSOCK_, "connect");
    return false;
  }
  sockaddr_storage ss;
  int len;
  endpoint_to_sockaddr(s->kind, peer, &ss, &len);
  if (connect(s->sock, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    set_os_error(err, WSAGetLastError(), "connect", s, ErrContext::Plain);
    return false;
  }
  // A connected socket reports port unreachable by default on both OSes (Linux does it by
  // itself for connected sockets): the peer is the only one who can be refusing.
  bool udp = s->kind == SockKind::Udp4 || s->kind == SockKind::Udp6;
  if (udp && s->icmp == IcmpMode::Default && !ioctl_bool(s->sock, SIO_UDP_CONNRESET, TRUE, err)) return false;
  bool v4 = peer.ip.family == 4 || is_v4_mapped(peer.ip);
  s->peerFamily = v4 ? 4 : 6;
  return true;
}

bool sock_shutdown_send(PlatformSocket* s, OsError* err) {
  if (s->sock == INVALID_SOCKET) {
    set_shim_error(err, WSAENOTSOCK_, "shutdown");
    return false;
  }
  if (shutdown(s->sock, SD_SEND) != 0 && WSAGetLastError() != WSAENOTCONN) {
    set_os_error(err, WSAGetLastError(), "shutdown", s, ErrContext::Plain);
    return false;
  }
  return true;
}

bool sock_local_address(PlatformSocket* s, Endpoint* out, OsError* err) {
  if (s->sock == INVALID_SOCKET) {
    set_shim_error(err, WSAENOTSOCK_, "getsockname");
    return false;
  }
  sockaddr_storage ss;
  int len = sizeof(ss);
  if (getsockname(s->sock, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    set_os_error(err, WSAGetLastError(), "getsockname", s, ErrContext::Plain);
    return false;
  }
  sockaddr_to_endpoint(ss, out);
  return true;
}

bool sock_is_open(const PlatformSocket* s) { return s->sock != INVALID_SOCKET; }
bool sock_segmentation_offload(const PlatformSocket* s) { return s->uso; }

void sock_restore_segmentation_offload(PlatformSocket* s) { s->uso = s->usoBeforeRefusal; }

// Whether WSASendMsg takes the whole TOS byte as an IP_TOS control message: newer Windows
// stacks do, older ones only IP_ECN (msquic sends DSCP the same way where a probe succeeds).
// Asked once per process: a zero-length datagram from a loopback socket to itself, so
// nothing leaves the host, and no socket of the caller's is bound or used by it.
static bool probe_whole_tos() {
  SOCKET fd = WSASocketW(AF_INET, SOCK_DGRAM, IPPROTO_UDP, nullptr, 0, WSA_FLAG_NO_HANDLE_INHERIT);
  if (fd == INVALID_SOCKET) return false;
  bool ok = false;
  sockaddr_in self{};
  self.sin_family = AF_INET;
  self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int len = sizeof(self);
  LPFN_WSASENDMSG sendMsg = nullptr;
  GUID guid = WSAID_WSASENDMSG;
  DWORD ret = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof(self)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len) == 0 &&
      WSAIoctl(fd, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof(guid), &sendMsg, sizeof(sendMsg), &ret, nullptr,
               nullptr) == 0) {
    alignas(WSACMSGHDR) unsigned char control[WSA_CMSG_SPACE(sizeof(INT))] = {};
    WSAMSG m{};
    WSABUF none{0, nullptr};
    m.name = reinterpret_cast<LPSOCKADDR>(&self);
    m.namelen = sizeof(self);
    m.lpBuffers = &none;
    m.dwBufferCount = 1;
    m.Control.buf = reinterpret_cast<CHAR*>(control);
    m.Control.len = sizeof(control);
    WSACMSGHDR* c = WSA_CMSG_FIRSTHDR(&m);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_TOS;
    c->cmsg_len = WSA_CMSG_LEN(sizeof(INT));
    INT tos = 0x20;  // CS1: a DSCP value, so that an ECN-only stack refuses it
    std::memcpy(WSA_CMSG_DATA(c), &tos, sizeof(tos));
    DWORD sent = 0;
    ok = sendMsg(fd, &m, 0, &sent, nullptr, nullptr) == 0;
  }
  closesocket(fd);
  return ok;
}

bool whole_tos_supported() {
  static std::once_flag once;
  static bool supported = false;
  std::call_once(once, [] { supported = probe_whole_tos(); });
  return supported;
}

bool sock_per_datagram_tos(const PlatformSocket*) { return whole_tos_supported(); }
bool sock_receive_offload(const PlatformSocket* s) { return s->uro; }
SockKind sock_kind(const PlatformSocket* s) { return s->kind; }
int sock_peer_family(const PlatformSocket* s) { return s->peerFamily; }
intptr_t sock_handle(const PlatformSocket* s) { return static_cast<intptr_t>(s->sock); }

void sock_close(PlatformSocket* s, CompletionSink, void*) {
  if (s->sock == INVALID_SOCKET) return;
  // Sends in flight complete through the port as cancelled (or as sent, if they won the
  // race); their completions are delivered as usual, so nothing needs the sink here.
  CancelIoEx(reinterpret_cast<HANDLE>(s->sock), nullptr);
  closesocket(s->sock);
  s->sock = INVALID_SOCKET;
  // The last immediate batch's slots (up to 64 MiB, memory V8 does not see): not left to
  // the finalizer. Nothing points into them now: RecvBatch copies them before it returns.
  std::vector<uint8_t>().swap(s->spareSlots);
}

void sock_destroy(PlatformSocket* s) {
  sock_close(s, nullptr, nullptr);
  delete s;
  g_liveSockets--;
}

const char* host_wine_version() {
  using WineGetVersion = const char*(CDECL*)();
  HMODULE ntdll = GetModuleHandleA("ntdll.dll");
  auto fn = ntdll ? reinterpret_cast<WineGetVersion>(reinterpret_cast<void*>(GetProcAddress(ntdll, "wine_get_version"))) : nullptr;
  return fn ? fn() : nullptr;
}

}  // namespace shim
