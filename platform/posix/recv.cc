// recvmsg(2) with IP_PKTINFO / IPV6_PKTINFO and IP_TOS / IPV6_TCLASS on the way in.
// Overlapped like sends: try at once; if nothing is there, queue the receive and wait for
// POLLIN on the socket's one uv_poll; receives complete in the order they were made.
#include <arpa/inet.h>

#include <cerrno>
#include <cstring>

#include "posix.h"

namespace shim {

// Room for pktinfo, TOS / traffic class and a UDP_GRO segment size, with margin.
constexpr size_t kRecvControl = 256;

// The system call, retried after EINTR and after the ICMP errors a socket that does not
// want them must not see (swallow_icmp_error, kSwallowTries). >= 0, or -errno.
template <typename Call>
static long retrying(PlatformSocket* s, Call call) {
  for (int swallowed = 0;;) {
    long n = call();
    if (n >= 0) return n;
    int e = errno;
    if (e == EINTR) continue;
    if (swallowed == kSwallowTries || !swallow_icmp_error(s, e)) return -e;
    swallowed++;
  }
}

// One recvmsg into data[0..len), MSG_DONTWAIT. 0 and *out filled, or the errno.
static int receive_one(PlatformSocket* s, uint8_t* data, size_t len, Received* out) {
  iovec iov{data, len};
  sockaddr_storage from;
  alignas(cmsghdr) unsigned char control[kRecvControl];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_name = &from;
  m.msg_namelen = sizeof(from);
  m.msg_control = control;
  m.msg_controllen = sizeof(control);
  long n = retrying(s, [&] { return static_cast<long>(recvmsg(s->fd, &m, MSG_DONTWAIT)); });
  if (n < 0) return static_cast<int>(-n);
  out->bytes = n;
  out->truncated = (m.msg_flags & MSG_TRUNC) != 0;
  sockaddr_to_endpoint(from, &out->from);
  decode_control(&m, out);
  return 0;
}

// One recvmmsg of up to max datagrams into the socket's slots, MSG_DONTWAIT: it returns
// what is queued now, at least one. 0 and out[0..*count) filled (their data in the slots
// until the next receive), or the errno.
static int receive_many(PlatformSocket* s, size_t slot, size_t max, double token, Received* out, size_t* count) {
  RecvSlots& r = s->recvSlots;
  if (r.bytes.size() < slot * max) r.bytes.resize(slot * max);
  if (r.hdrs.size() < max) {
    r.hdrs.resize(max);
    r.iov.resize(max);
    r.from.resize(max);
    r.control.resize(max * kRecvControl);
    r.laidMax = 0;  // the headers' pointers into these are stale now
  }
  if (r.laidSlot == slot && r.laidMax == max && r.laidOver == r.bytes.data()) {
    for (size_t i = 0; i < max; i++) {
      msghdr& m = r.hdrs[i].msg_hdr;
      m.msg_namelen = sizeof(sockaddr_storage);
      m.msg_controllen = kRecvControl;
      m.msg_flags = 0;
    }
  } else {
    for (size_t i = 0; i < max; i++) {
      r.iov[i] = iovec{r.bytes.data() + i * slot, slot};
      msghdr& m = r.hdrs[i].msg_hdr;
      m = msghdr{};
      m.msg_iov = &r.iov[i];
      m.msg_iovlen = 1;
      m.msg_name = &r.from[i];
      m.msg_namelen = sizeof(sockaddr_storage);
      m.msg_control = r.control.data() + i * kRecvControl;
      m.msg_controllen = kRecvControl;
    }
    r.laidSlot = slot;
    r.laidMax = max;
    r.laidOver = r.bytes.data();
  }
  long n = retrying(s, [&] {
    return static_cast<long>(recvmmsg(s->fd, r.hdrs.data(), static_cast<unsigned>(max), MSG_DONTWAIT, nullptr));
  });
  if (n < 0) return static_cast<int>(-n);
  for (long i = 0; i < n; i++) {
    msghdr& m = r.hdrs[i].msg_hdr;
    Received& x = out[i];
    x = Received{};
    x.token = token;
    x.bytes = static_cast<long>(r.hdrs[i].msg_len);
    x.truncated = (m.msg_flags & MSG_TRUNC) != 0;
    x.data = r.bytes.data() + i * slot;
    sockaddr_to_endpoint(r.from[i], &x.from);
    decode_control(&m, &x);
  }
  *count = static_cast<size_t>(n);
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
    int e;
    if (r.max > 0) {
      size_t had = done.size(), got = 0;
      done.resize(had + r.max);
      e = receive_many(s, r.len, r.max, r.token, done.data() + had, &got);
      done.resize(had + got);
      if (e == 0) {
        s->recvQueue.pop_front();
        g_queuedSends--;
        // Its datagrams are in the slots, which the next batch would reuse: deliver first
        // (the poll is level-triggered, so receives still queued are woken again).
        break;
      }
    } else {
      e = receive_one(s, r.data, r.len, &x);
    }
    const char* syscall = r.max > 0 ? "recvmmsg" : "recvmsg";
    if (e == EAGAIN) {
      if (!pollError || !take_queued_icmp_error(s, syscall, &x.err)) break;
      x.bytes = kSendFailed;
      x.tos = -1;
    } else if (e) {
      fail(s, e, &x);
      x.err.syscall = syscall;
    }
    done.push_back(x);
    s->recvQueue.pop_front();
    g_queuedSends--;
  }
  if (s->recvQueue.empty()) poll_update(s, nullptr);
  // Last: the sink runs JS, which may receive again or close this socket.
  if (done.empty()) return;
  s->delivering = true;
  s->recvSink(s->recvSinkCtx, done.data(), done.size());
  s->delivering = false;
  if (s->fd < 0) release_recv_slots(s);  // closed while delivering (see sock_close)
}

void release_recv_slots(PlatformSocket* s) {
  if (!s->delivering) s->recvSlots = RecvSlots{};
}

// A receive that has to wait: queued behind the others, woken by the socket's poll.
static long queue(PlatformSocket* s, PendingRecv r, ReceiveSink sink, void* ctx, OsError* err) {
  s->recvQueue.push_back(r);
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
  return queue(s, PendingRecv{token, data, len}, sink, ctx, err);
}

long recv_batch(PlatformSocket* s, size_t slot, size_t max, double token, ReceiveSink sink, void* ctx,
                Received* out, OsError* err) {
  if (s->fd < 0) {
    set_shim_error(err, WSAENOTSOCK_, "recvmmsg");
    return kSendFailed;
  }
  if (s->recvQueue.empty()) {
    size_t got = 0;
    int e = receive_many(s, slot, max, token, out, &got);
    if (e == 0) return static_cast<long>(got);
    if (e != EAGAIN) {
      fail(s, e, out);
      out->err.syscall = "recvmmsg";
      *err = out->err;
      return kSendFailed;
    }
  }
  return queue(s, PendingRecv{token, nullptr, slot, max}, sink, ctx, err);
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
