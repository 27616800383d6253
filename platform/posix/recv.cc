// recvmsg(2) with IP_PKTINFO / IPV6_PKTINFO and IP_TOS / IPV6_TCLASS on the way in.
// Overlapped like sends: try at once; if nothing is there, queue the receive and wait for
// POLLIN on the socket's one uv_poll; receives complete in the order they were made.
#include <arpa/inet.h>

#include <cerrno>
#include <cstring>

#include "posix.h"

namespace shim {

// One recvmsg into r's buffer, MSG_DONTWAIT. 0 and *out filled, or the errno.
static int receive_one(PlatformSocket* s, uint8_t* data, size_t len, Received* out) {
  iovec iov{data, len};
  sockaddr_storage from;
  alignas(cmsghdr) unsigned char control[256];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_name = &from;
  m.msg_namelen = sizeof(from);
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  ssize_t n;
  for (bool swallowed = false;;) {
    n = recvmsg(s->fd, &m, MSG_DONTWAIT);
    if (n >= 0) break;
    int e = errno;
    if (e == EINTR) continue;
    if (swallowed || !swallow_icmp_error(s, e)) return e;
    swallowed = true;
  }
  out->bytes = static_cast<long>(n);
  out->truncated = (m.msg_flags & MSG_TRUNC) != 0;
  sockaddr_to_endpoint(from, &out->from);
  out->hasDestination = false;
  out->ifindex = 0;
  out->tos = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof(pi));
      // ipi_addr is the header's destination; ipi_spec_dst the local address routing chose.
      out->hasDestination = true;
      out->destination = IpAddr{};
      out->destination.family = 4;
      std::memcpy(out->destination.bytes, &pi.ipi_addr, 4);
      out->ifindex = static_cast<uint32_t>(pi.ipi_ifindex);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof(pi));
      out->hasDestination = true;
      out->destination = IpAddr{};
      out->destination.family = 6;
      std::memcpy(out->destination.bytes, &pi.ipi6_addr, 16);
      out->ifindex = pi.ipi6_ifindex;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
      out->tos = *reinterpret_cast<const uint8_t*>(CMSG_DATA(c));
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
      int tclass;
      std::memcpy(&tclass, CMSG_DATA(c), sizeof(tclass));
      out->tos = tclass;
    }
  }
  return 0;
}

static void fail(PlatformSocket* s, int e, Received* out) {
  out->bytes = kSendFailed;
  out->tos = -1;
  set_os_error(&out->err, e, "recvmsg", s, ErrContext::Plain);
  classify_icmp_error(s, &out->err);
}

void drain_recv(PlatformSocket* s, bool pollError) {
  std::vector<Received> done;
  while (!s->recvQueue.empty()) {
    PendingRecv& r = s->recvQueue.front();
    Received x{};
    x.token = r.token;
    int e = receive_one(s, r.data, r.len, &x);
    if (e == EAGAIN) {
      if (!pollError || !take_queued_icmp_error(s, "recvmsg", &x.err)) break;
      x.bytes = kSendFailed;
      x.tos = -1;
    } else if (e) {
      fail(s, e, &x);
    }
    done.push_back(x);
    s->recvQueue.pop_front();
    g_queuedSends--;
  }
  if (s->recvQueue.empty()) poll_update(s, nullptr);
  // Last: the sink runs JS, which may receive again or close this socket.
  if (!done.empty()) s->recvSink(s->recvSinkCtx, done.data(), done.size());
}

long recv_overlapped(PlatformSocket* s, uint8_t* data, size_t len, double token, ReceiveSink sink,
                     void* ctx, Received* out, OsError* err) {
  if (s->fd < 0) {
    set_shim_error(err, WSAENOTSOCK_, "recvmsg");
    return kSendFailed;
  }
  if (s->recvQueue.empty()) {
    *out = Received{};
    out->token = token;
    int e = receive_one(s, data, len, out);
    if (e == 0) return out->bytes;
    if (e != EAGAIN) {
      fail(s, e, out);
      *err = out->err;
      return kSendFailed;
    }
  }
  s->recvQueue.push_back(PendingRecv{token, data, len});
  g_queuedSends++;
  s->recvSink = sink;
  s->recvSinkCtx = ctx;
  if (!poll_update(s, err)) {
    s->recvQueue.pop_back();
    g_queuedSends--;
    return kSendFailed;
  }
  return kSendPending;
}

bool recv_cancel(PlatformSocket* s, double token) {
  for (auto it = s->recvQueue.begin(); it != s->recvQueue.end(); ++it) {
    if (it->token == token) {
      s->recvQueue.erase(it);
      g_queuedSends--;
      poll_update(s, nullptr);
      return true;
    }
  }
  return false;
}

size_t recv_pending_count(const PlatformSocket* s) { return s->recvQueue.size(); }

}  // namespace shim
