// Socket lifecycle on POSIX. The fd is always O_NONBLOCK: libuv's poll wants that, and
// the blocking behaviour of sendMsgSync is built in send.cc on poll(2) so that
// sendTimeout means exactly one thing.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/udp.h>
#include <unistd.h>

#include <cerrno>

#include "posix.h"

namespace shim {

std::atomic<long> g_liveSockets{0};
std::atomic<long> g_livePolls{0};
std::atomic<long> g_queuedSends{0};

LiveCounts live_counts() { return {g_liveSockets.load(), g_livePolls.load(), g_queuedSends.load()}; }

static bool is_v6(SockKind k) { return k == SockKind::Udp6 || k == SockKind::Raw6; }

bool has_local_port(const PlatformSocket* s) {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(s->fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return true;
  if (ss.ss_family == AF_INET) return reinterpret_cast<sockaddr_in*>(&ss)->sin_port != 0;
  if (ss.ss_family == AF_INET6) return reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port != 0;
  return true;
}

static bool set_int_opt(int fd, int level, int name, int value, OsError* err) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) == 0) return true;
  set_os_error(err, errno, "setsockopt", nullptr, ErrContext::Plain);
  return false;
}

static bool configure(PlatformSocket* s, const OpenSpec& spec, OsError* err) {
  int fd = s->fd;
  // WSASendMsg is for SOCK_DGRAM and SOCK_RAW only; the shim creates no other kind, and
  // this check keeps it that way if that ever changes.
  int type = 0;
  socklen_t tlen = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 ||
      (type != SOCK_DGRAM && type != SOCK_RAW)) {
    set_shim_error(err, WSAEOPNOTSUPP_, "socket");
    return false;
  }
  // Windows' default is v6-only and Linux's is dual stack: always set it explicitly.
  // (Linux refuses the option on raw6 sockets, which carry only IPv6 anyway.)
  if (spec.kind == SockKind::Udp6 && !set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, spec.ipv6Only ? 1 : 0, err))
    return false;
  if (spec.broadcast && !set_int_opt(fd, SOL_SOCKET, SO_BROADCAST, 1, err)) return false;
  if (spec.reusePort && !set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1, err)) return false;
  bool v6 = is_v6(spec.kind);
  bool v4traffic = !v6 || (spec.kind == SockKind::Udp6 && !spec.ipv6Only);
  if (spec.icmpErrors == IcmpMode::On) {
    // Linux keeps soft ICMP errors (TTL expiry, host unreachable) to itself and reports
    // port unreachable only on connected sockets; IP_RECVERR makes every one of them
    // fail the next send, which is what Windows does. A dual-stack socket needs both.
    if (v6 && !set_int_opt(fd, IPPROTO_IPV6, IPV6_RECVERR, 1, err)) return false;
    if (v4traffic && !set_int_opt(fd, IPPROTO_IP, IP_RECVERR, 1, err)) return false;
  }
  if (spec.ttl > 0) {
    if (v6 && !set_int_opt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, spec.ttl, err)) return false;
    if (v4traffic && !set_int_opt(fd, IPPROTO_IP, IP_TTL, spec.ttl, err)) return false;
  }
  if (spec.recvPktinfo) {
    if (v6 && (!set_int_opt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, err) ||
               !set_int_opt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1, err)))
      return false;
    if (v4traffic && (!set_int_opt(fd, IPPROTO_IP, IP_PKTINFO, 1, err) || !set_int_opt(fd, IPPROTO_IP, IP_RECVTOS, 1, err)))
      return false;
  }
  if (spec.dontFragment) {
    if (v6 && !set_int_opt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, 1, err)) return false;
    if (v6 && !set_int_opt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO, err)) return false;
    if (v4traffic && !set_int_opt(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, err)) return false;
  }
  if (spec.receiveOffload && (s->kind == SockKind::Udp4 || s->kind == SockKind::Udp6)) {
    // UDP_GRO (Linux 5.0): the kernel may hand several datagrams of one sender and size to
    // one receive, with their size in a UDP_GRO control message. An older kernel says
    // ENOPROTOOPT; receives then stay one datagram each, which capabilities() reports.
    int one = 1;
    s->gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
  }
  if (spec.sendBufferSize > 0 && !set_int_opt(fd, SOL_SOCKET, SO_SNDBUF, spec.sendBufferSize, err))
    return false;
  if (spec.hasBind) {
    sockaddr_storage ss;
    int len;
    endpoint_to_sockaddr(s->kind, spec.bind, &ss, &len);
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      set_os_error(err, errno, "bind", nullptr, ErrContext::Plain);
      return false;
    }
  }
  return true;
}

PlatformSocket* sock_open(const OpenSpec& spec, const EventLoop& loop, OsError* err) {
  int family = is_v6(spec.kind) ? AF_INET6 : AF_INET;
  bool raw = spec.kind == SockKind::Raw4 || spec.kind == SockKind::Raw6;
  int fd = socket(family, (raw ? SOCK_RAW : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  raw ? spec.protocol : 0);
  if (fd < 0) {
    set_os_error(err, errno, "socket", nullptr, ErrContext::Plain);
    return nullptr;
  }
  auto* s = new PlatformSocket();
  g_liveSockets++;
  s->fd = fd;
  s->kind = spec.kind;
  s->nonBlocking = spec.nonBlocking;
  s->icmp = spec.icmpErrors;
  s->recvPktinfo = spec.recvPktinfo;
  s->sendTimeoutMs = spec.sendTimeoutMs;
  s->loop = static_cast<uv_loop_t*>(loop.uvLoop);
  if (!configure(s, spec, err)) {
    sock_destroy(s);
    return nullptr;
  }
  if (spec.kind == SockKind::Udp4 || spec.kind == SockKind::Udp6) {
    // UDP_SEGMENT exists since Linux 4.18; whether the route's device can do it is only
    // known when a send tries (the kernel may still refuse one), see send.cc.
    int seg = 0;
    socklen_t len = sizeof(seg);
    s->gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, &len) == 0;
  }
  return s;
}

bool sock_connect(PlatformSocket* s, const Endpoint& peer, OsError* err) {
  if (s->fd < 0) {
    set_shim_error(err, WSAENOTSOCK_, "connect");
    return false;
  }
  sockaddr_storage ss;
  int len;
  endpoint_to_sockaddr(s->kind, peer, &ss, &len);
  if (connect(s->fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    set_os_error(err, errno, "connect", s, ErrContext::Plain);
    return false;
  }
  bool v4 = peer.ip.family == 4 || is_v4_mapped(peer.ip);
  s->peerFamily = v4 ? 4 : 6;
  return true;
}

bool sock_shutdown_send(PlatformSocket* s, OsError* err) {
  if (s->fd < 0) {
    set_shim_error(err, WSAENOTSOCK_, "shutdown");
    return false;
  }
  // Linux answers ENOTCONN for an unconnected UDP socket yet still disables sending;
  // Windows accepts the call. Both end up refusing later sends with WSAESHUTDOWN.
  if (shutdown(s->fd, SHUT_WR) != 0 && errno != ENOTCONN) {
    set_os_error(err, errno, "shutdown", s, ErrContext::Plain);
    return false;
  }
  return true;
}

bool sock_local_address(PlatformSocket* s, Endpoint* out, OsError* err) {
  if (s->fd < 0) {
    set_shim_error(err, WSAENOTSOCK_, "getsockname");
    return false;
  }
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(s->fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    set_os_error(err, errno, "getsockname", s, ErrContext::Plain);
    return false;
  }
  sockaddr_to_endpoint(ss, out);
  return true;
}

bool sock_is_open(const PlatformSocket* s) { return s->fd >= 0; }
bool sock_segmentation_offload(const PlatformSocket* s) { return s->gso; }

void sock_restore_segmentation_offload(PlatformSocket* s) { s->gso = s->gsoBeforeRefusal; }

bool sock_per_datagram_tos(const PlatformSocket*) { return true; }

bool sock_receive_offload(const PlatformSocket* s) { return s->gro; }
SockKind sock_kind(const PlatformSocket* s) { return s->kind; }
int sock_peer_family(const PlatformSocket* s) { return s->peerFamily; }
intptr_t sock_handle(const PlatformSocket* s) { return s->fd; }

static void free_poll(uv_handle_t* h) {
  delete reinterpret_cast<uv_poll_t*>(h);
  g_livePolls--;
}

void sock_close(PlatformSocket* s, CompletionSink sink, void* ctx) {
  if (s->fd < 0) return;
  if (s->poll) {
    // The poll handle must stop before the fd closes; it is freed once libuv lets go.
    uv_poll_stop(s->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(s->poll), free_poll);
    s->poll = nullptr;
    s->polling = false;
  }
  ::close(s->fd);
  s->fd = -1;
  // Linux would let a parked datagram go out after close; Windows aborts it. Abort here,
  // after the fd is gone, so none of them can be sent.
  std::vector<Completion> aborted;
  aborted.reserve(s->queue.size());
  for (const PendingSend& p : s->queue) {
    Completion c{p.token, kSendFailed, {}};
    c.count = sent_count(p);
    set_shim_error(&c.err, WSA_OPERATION_ABORTED_, "sendmsg");
    aborted.push_back(c);
  }
  g_queuedSends -= static_cast<long>(s->queue.size());
  s->queue.clear();
  std::vector<Received> abortedRecv;
  for (const PendingRecv& r : s->recvQueue) {
    Received x{};
    x.token = r.token;
    x.bytes = kSendFailed;
    x.tos = -1;
    set_shim_error(&x.err, WSA_OPERATION_ABORTED_, "recvmsg");
    abortedRecv.push_back(x);
  }
  g_queuedSends -= static_cast<long>(s->recvQueue.size());
  s->recvQueue.clear();
  // The slots are memory V8 does not see: left to the finalizer, a loop that opens and
  // closes sockets would keep each one's (up to 64 MiB) until a GC it has no reason to run.
  release_recv_slots(s);
  if (sink && !aborted.empty()) sink(ctx, aborted.data(), aborted.size());
  if (sink && s->recvSink && !abortedRecv.empty()) s->recvSink(s->recvSinkCtx, abortedRecv.data(), abortedRecv.size());
}

void sock_destroy(PlatformSocket* s) {
  sock_close(s, nullptr, nullptr);
  delete s;
  g_liveSockets--;
}

const char* host_wine_version() { return nullptr; }

}  // namespace shim
