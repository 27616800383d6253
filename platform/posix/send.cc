// sendmsg(2) with IP_PKTINFO / IPV6_PKTINFO, blocking and overlapped.
// Overlapped: try at once; on EAGAIN park the encoded message in the socket's queue and
// wait for POLLOUT on Node's own loop (one uv_poll per socket, none per send), then send
// the queue in order.
#include <poll.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "posix.h"

namespace shim {

const char* const kSendSyscall = "sendmsg";

static int os_flags(uint32_t flags) {
  return ((flags & kMsgDontRoute) ? MSG_DONTROUTE : 0) | MSG_NOSIGNAL | MSG_DONTWAIT;
}

static int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Small messages encode into stack storage; more buffers than this take the heap.
constexpr size_t kInlineIov = 16;

// Waits for POLLOUT until deadline (0 = forever). False with err set on timeout or signal.
static bool wait_writable(PlatformSocket* s, int64_t deadline, OsError* err) {
  int timeout = -1;
  if (deadline) {
    int64_t left = deadline - now_ms();
    if (left <= 0) {
      set_os_error(err, EAGAIN, "sendmsg", s, ErrContext::Send);
      err->wsa = WSAETIMEDOUT_;
      return false;
    }
    timeout = static_cast<int>(left);
  }
  pollfd p{s->fd, POLLOUT, 0};
  int r = ::poll(&p, 1, timeout);
  if (r < 0 && errno == EINTR) {
    set_os_error(err, EINTR, "sendmsg", s, ErrContext::Send);
    return false;
  }
  if (r == 0) {
    set_os_error(err, EAGAIN, "sendmsg", s, ErrContext::Send);
    err->wsa = WSAETIMEDOUT_;
    return false;
  }
  return true;
}


// A blocking send goes after the overlapped sends already queued on the socket, as it
// would behind pending overlapped I/O on Windows: send those first.
static bool flush_queue(PlatformSocket* s, int64_t deadline, OsError* err) {
  while (!drain(s)) {
    if (s->nonBlocking) {
      set_os_error(err, EAGAIN, "sendmsg", s, ErrContext::Send);
      return false;
    }
    if (!wait_writable(s, deadline, err)) return false;
  }
  return true;
}

// Whether a failure of this socket may be an ICMP error left pending by an earlier datagram
// rather than the call's own: connected (the kernel reports hard errors to those), or
// icmpErrors on (IP_RECVERR: every ICMP error, unconnected too). A pending error is gone
// once a call returns it, and reading the error queue re-arms the next entry's, so sending
// once more tells the two apart: a refusal repeats, an ICMP error comes back with its own
// queue entry (classify_icmp_error). Without the retry, ICMP errors forged in an order the
// queue read cannot match (port unreachable, then protocol unreachable: ENOPROTOOPT
// pending, ECONNREFUSED at the head) passed for the kernel refusing UDP_SEGMENT on an
// unconnected icmpErrors socket, and switched its offload off for good.
static bool may_be_pending_icmp(const PlatformSocket* s) { return s->peerFamily != 0 || s->icmp == IcmpMode::On; }

// The errnos of the kernel refusing to segment a UDP_SEGMENT send, before sending any of it:
// EMSGSIZE (a segment above the path MTU), EIO, EINVAL, ENOPROTOOPT, EOPNOTSUPP (no offload
// on the device or in the kernel).
static bool segment_refusal(int e) {
  return e == EIO || e == EINVAL || e == ENOPROTOOPT || e == EOPNOTSUPP || e == EMSGSIZE;
}

// Of those, the refusals that switch the socket's offload off for good: EIO and EINVAL, which
// no ICMP message stands for. EMSGSIZE (frag needed), ENOPROTOOPT (protocol unreachable) and
// EOPNOTSUPP (source route failed) are also what ICMP errors leave pending, and a flood of
// forged ones defeats the resend that tells the two apart (the pending error and the error
// queue's head change between the two calls: review, 2,000 forged errors a second turned
// offload off within a second). Those cut the message at hand, and the next one tries again.
static bool refusal_for_good(int e) { return e == EIO || e == EINVAL; }

long send_now(PlatformSocket* s, const SendSpec& spec, SendMode mode, OsError* err) {
  if (s->fd < 0) {
    set_shim_error(err, WSAENOTSOCK_, "sendmsg");
    return kSendFailed;
  }
  iovec inlineIov[kInlineIov];
  std::vector<iovec> heapIov;
  iovec* iov = inlineIov;
  if (spec.nbufs > kInlineIov) {
    heapIov.resize(spec.nbufs);
    iov = heapIov.data();
  }
  msghdr m;
  sockaddr_storage to;
  alignas(cmsghdr) unsigned char control[kCmsgSpace];
  encode_msg_memo(s->kind, spec, &m, iov, &to, control, &s->sendPlan);

  bool blocking = mode == SendMode::Blocking;
  int64_t deadline = s->sendTimeoutMs ? now_ms() + s->sendTimeoutMs : 0;
  if (blocking && !s->queue.empty() && !flush_queue(s, deadline, err)) return kSendFailed;
  int swallowed = 0;
  bool retriedRefusal = false;
  for (;;) {
    ssize_t n = sendmsg(s->fd, &m, os_flags(spec.flags));
    if (n >= 0) return static_cast<long>(n);
    int e = errno;
    if (e == EINTR) continue;
    // A segmented send's refusal errno is left to the refusal path below, whose one resend
    // serves a pending ICMP error as well: swallowed here too, a genuine refusal (a segment
    // above the path MTU, on every send to that path) cost five failed calls, not two.
    bool refusal = spec.pktinfo.segmentSize && segment_refusal(e);
    if (!refusal && swallowed < kSwallowTries && swallow_icmp_error(s, e)) {
      swallowed++;
      continue;
    }
    set_os_error(err, e, "sendmsg", s, ErrContext::Send);
    classify_icmp_error(s, err);
    if (refusal) {
      // A pending ICMP error of an earlier datagram comes back with some of these errnos
      // too, and must not switch offload off (a forged one would, for good): the error
      // queue vouches for one; without it, one retry tells them apart (may_be_pending_icmp).
      if (err->hasIcmp) return kSendFailed;
      if (may_be_pending_icmp(s) && !retriedRefusal) {
        retriedRefusal = true;
        continue;
      }
      // The kernel refused to segment, before sending anything: WSAEOPNOTSUPP tells the
      // caller to send the segments as a batch. The socket stops offloading only for a
      // refusal no ICMP error can pass for (refusal_for_good).
      s->gsoBeforeRefusal = s->gso;
      if (refusal_for_good(e)) s->gso = false;
      err->wsa = WSAEOPNOTSUPP_;
      return kSendFailed;
    }
    if (e != EAGAIN || err->wsa != WSAEWOULDBLOCK_ || !blocking || s->nonBlocking) return kSendFailed;
    // A blocking send waits for room in the send buffer, as send() does, for at most
    // sendTimeout (SO_SNDTIMEO semantics: then WSAETIMEDOUT).
    if (!wait_writable(s, deadline, err)) return kSendFailed;
  }
}

static void on_poll(uv_poll_t* handle, int status, int events) {
  auto* s = static_cast<PlatformSocket*>(handle->data);
  // POLLERR: libuv stops the handle and reports UV_EBADF with no events. The socket has a
  // pending error (an ICMP message for an earlier datagram); only a send or receive takes
  // it, so let every queue try. Restarting the poll without that would wake at once,
  // forever, and the waiting receive would never complete.
  bool error = status < 0;
  if (error) events = UV_WRITABLE | UV_READABLE;
  if (events & UV_WRITABLE) drain(s, error);
  if (s->fd >= 0 && (events & UV_READABLE)) drain_recv(s, error);
  if (s->fd >= 0) poll_update(s, nullptr);
}

bool poll_update(PlatformSocket* s, OsError* err) {
  if (s->fd < 0) return true;
  int events = (s->queue.empty() ? 0 : UV_WRITABLE) | (s->recvQueue.empty() ? 0 : UV_READABLE);
  if (!events) {
    if (s->polling) uv_poll_stop(s->poll);
    s->polling = false;
    return true;
  }
  if (!s->poll) {
    s->poll = new uv_poll_t;
    g_livePolls++;
    int r = uv_poll_init(s->loop, s->poll, s->fd);
    if (r != 0) {
      g_livePolls--;
      delete s->poll;
      s->poll = nullptr;
      if (err) {
        set_shim_error(err, WSASYSCALLFAILURE_, "uv_poll_init");
        err->sys = -r;
      }
      return false;
    }
    s->poll->data = s;
  }
  uv_poll_start(s->poll, events, on_poll);
  s->polling = true;
  return true;
}

static void encode_one(PlatformSocket* s, const SendSpec& spec, EncodedMsg* e) {
  e->iov.resize(spec.nbufs ? spec.nbufs : 1);  // encode_msg writes one iovec for an empty datagram
  msghdr m;
  encode_msg_memo(s->kind, spec, &m, e->iov.data(), &e->to, e->control, &s->sendPlan);
  e->toLen = m.msg_namelen;
  e->controlLen = m.msg_controllen;
  e->flags = os_flags(spec.flags);
  e->segment = spec.pktinfo.segmentSize;
  e->last = true;
}

size_t whole_messages(const std::vector<EncodedMsg>& msgs, size_t next) {
  size_t n = 0;
  for (size_t i = 0; i < next; i++) n += msgs[i].last ? 1 : 0;
  return n;
}

long sent_count(const PendingSend& p) {
  return p.batch ? static_cast<long>(whole_messages(p.msgs, p.next)) : static_cast<long>(p.next);
}

// The segments of `whole` appended to `out`, each an ordinary datagram with the same
// destination and the control data less UDP_SEGMENT, pointing into the same memory (its
// `owned` bytes, when parked, go with the first piece: a vector's move keeps its buffer).
static void append_pieces(std::vector<EncodedMsg>& out, EncodedMsg&& whole) {
  const size_t size = whole.segment;
  unsigned char control[kCmsgSpace];
  size_t controlLen = 0;
  msghdr walk{};
  walk.msg_control = whole.control;
  walk.msg_controllen = whole.controlLen;
  for (cmsghdr* c = CMSG_FIRSTHDR(&walk); c; c = CMSG_NXTHDR(&walk, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_SEGMENT) continue;
    size_t space = CMSG_SPACE(c->cmsg_len - CMSG_LEN(0));
    std::memcpy(control + controlLen, c, space);
    controlLen += space;
  }
  const size_t first = out.size();
  auto piece = [&]() -> EncodedMsg& {
    EncodedMsg& p = out.emplace_back();
    p.to = whole.to;
    p.toLen = whole.toLen;
    std::memcpy(p.control, control, controlLen);
    p.controlLen = controlLen;
    p.flags = whole.flags;
    p.last = false;
    return p;
  };
  size_t room = 0;
  for (const iovec& v : whole.iov) {
    size_t offset = 0;
    while (offset < v.iov_len) {
      if (room == 0) {
        piece();
        room = size;
      }
      size_t take = std::min(room, v.iov_len - offset);
      out.back().iov.push_back(iovec{static_cast<uint8_t*>(v.iov_base) + offset, take});
      offset += take;
      room -= take;
    }
  }
  if (out.size() == first) piece().iov.push_back(iovec{nullptr, 0});  // an empty message: one empty datagram
  out.back().last = whole.last;
  out[first].owned = std::move(whole.owned);
}

// The kernel would not segment msgs[at] (segment_refusal), before sending any of it.
// Windows' stack does the same when USO is refused, and win32 cuts such a batch message in
// its place (send.cc there); so does this, so that a batch behaves alike on both: the
// message becomes its segments. Every later message the kernel would refuse the same way
// (segments at least `atLeast` bytes: 1 once offload is off) is cut in the same pass, so a
// batch costs one refusal and one rebuild, not one of each per message.
static void cut_from(std::vector<EncodedMsg>& msgs, size_t at, size_t atLeast) {
  std::vector<EncodedMsg> out;
  out.reserve(msgs.size() + 16);
  for (size_t i = 0; i < msgs.size(); i++) {
    if (i >= at && msgs[i].segment && msgs[i].segment >= atLeast) append_pieces(out, std::move(msgs[i]));
    else out.push_back(std::move(msgs[i]));
  }
  msgs.swap(out);
}

// Whether errno e, for msgs[at], is the kernel refusing to segment it (send_now's test): then
// it is cut (cut_from), the socket stops offloading if the refusal says it cannot
// (refusal_for_good), and the caller sends again. A pending ICMP error comes back with some of
// the same errnos (protocol unreachable is ENOPROTOOPT): one the error queue vouches for is
// that error; without it, where one may be pending (may_be_pending_icmp), the first such
// failure is sent again as it was. And when the first piece of the cut
// message fails with the same errno, the failure was the message's (a source address the
// kernel will not use gives EINVAL too), not the offload's: offload is as it was.
static bool cut_refused(PlatformSocket* s, std::vector<EncodedMsg>& msgs, size_t at, int e, const OsError& err,
                        CutState* cut) {
  if (at == cut->at && e == cut->err) {
    s->gso = cut->gsoBefore;
    return false;
  }
  if (at >= msgs.size() || !msgs[at].segment || err.hasIcmp || !segment_refusal(e)) return false;
  if (may_be_pending_icmp(s) && !cut->retried) {
    cut->retried = true;
    return true;
  }
  cut->at = at;
  cut->err = e;
  cut->gsoBefore = s->gso;
  bool forGood = refusal_for_good(e);
  if (forGood) s->gso = false;
  cut_from(msgs, at, forGood ? 1 : msgs[at].segment);
  return true;
}

// Sends msgs[*next..n) with sendmmsg(2), in runs of equal flags. Returns 0 once all are
// sent, EAGAIN when the send buffer is full, or the errno of the message at *next.
// *firstBytes receives the size of msgs[0] when it is sent here.
static int send_msgs(PlatformSocket* s, std::vector<EncodedMsg>& msgs, size_t* next, long* firstBytes) {
  size_t n = msgs.size();
  if (s->hdrs.size() < n) s->hdrs.resize(n);
  int swallowed = 0;
  while (*next < n) {
    size_t begin = *next;
    size_t end = begin + 1;
    while (end < n && msgs[end].flags == msgs[begin].flags) end++;
    for (size_t i = begin; i < end; i++) {
      msghdr& m = s->hdrs[i].msg_hdr;
      std::memset(&s->hdrs[i], 0, sizeof(mmsghdr));
      m.msg_iov = msgs[i].iov.data();
      m.msg_iovlen = msgs[i].iov.size();
      if (msgs[i].toLen) {
        m.msg_name = &msgs[i].to;
        m.msg_namelen = msgs[i].toLen;
      }
      if (msgs[i].controlLen) {
        m.msg_control = msgs[i].control;
        m.msg_controllen = msgs[i].controlLen;
      }
    }
    int r = sendmmsg(s->fd, &s->hdrs[begin], static_cast<unsigned>(end - begin), msgs[begin].flags);
    if (r < 0) {
      if (errno == EINTR) continue;
      // The pending error went with this failure; the message itself was not sent. A
      // segmented message's refusal errno goes to cut_refused, which resends it once (as
      // send_now does).
      bool refusal = msgs[begin].segment && segment_refusal(errno);
      if (!refusal && swallowed < kSwallowTries && swallow_icmp_error(s, errno)) {
        swallowed++;
        continue;
      }
      return errno;
    }
    swallowed = 0;
    if (begin == 0 && r > 0) *firstBytes = static_cast<long>(s->hdrs[0].msg_len);
    *next = begin + static_cast<size_t>(r);
  }
  return 0;
}

// The completion of a queue entry that finished (e == 0) or failed (errno e; `known`: its
// error as already classified, since classifying takes an entry of the error queue).
// A single send counts bytes, and its datagrams when it failed part way (segmentsSent): one
// that drain cut into its segments (cut_refused) has them all as entries; a batch counts
// whole messages.
static Completion finish(PlatformSocket* s, const PendingSend& p, int e, long firstBytes, const OsError* known = nullptr) {
  long whole = static_cast<long>(whole_messages(p.msgs, p.next));
  long bytes = firstBytes;
  if (!p.batch && p.msgs.size() > 1) {
    bytes = 0;
    for (const EncodedMsg& m : p.msgs)
      for (const iovec& v : m.iov) bytes += static_cast<long>(v.iov_len);
  }
  Completion c{p.token, p.batch ? whole : bytes, {}};
  c.count = sent_count(p);
  if (e) {
    c.bytes = kSendFailed;
    if (known) {
      c.err = *known;
    } else {
      set_os_error(&c.err, e, "sendmsg", s, ErrContext::Send);
      classify_icmp_error(s, &c.err);
    }
  }
  return c;
}

bool drain(PlatformSocket* s, bool pollError) {
  std::vector<Completion> done;
  while (!s->queue.empty()) {
    PendingSend& p = s->queue.front();
    long firstBytes = 0;
    int e = send_msgs(s, p.msgs, &p.next, &firstBytes);
    OsError refused;
    bool classified = false;
    // A single send parked whole is cut here too, as it would have been at once (send_now
    // and the glue's SendSegments).
    if (segment_refusal(e) && p.next < p.msgs.size() && (p.msgs[p.next].segment || p.next == p.cut.at)) {
      set_os_error(&refused, e, "sendmsg", s, ErrContext::Send);
      classify_icmp_error(s, &refused);
      classified = true;
      if (cut_refused(s, p.msgs, p.next, e, refused, &p.cut)) continue;
    }
    if (e == EAGAIN) {
      OsError queued;
      if (!pollError || !take_queued_icmp_error(s, "sendmsg", &queued)) break;
      Completion c = finish(s, p, 0, firstBytes);
      c.bytes = kSendFailed;
      c.err = queued;
      done.push_back(c);
      s->queue.pop_front();
      g_queuedSends--;
      continue;
    }
    done.push_back(finish(s, p, e, firstBytes, classified ? &refused : nullptr));
    s->queue.pop_front();
    g_queuedSends--;
  }
  if (s->queue.empty()) poll_update(s, nullptr);
  bool empty = s->queue.empty();
  // Last: the sink runs JS, which may send again or close this socket.
  if (!done.empty()) s->sink(s->sinkCtx, done.data(), done.size());
  return empty;
}

// Copies a message's payload into the message itself and points its iovec there: the
// caller's buffers are only borrowed for the duration of the call.
static void own_payload(EncodedMsg* e) {
  size_t total = 0;
  for (const iovec& v : e->iov) total += v.iov_len;
  e->owned.resize(total);
  size_t at = 0;
  for (const iovec& v : e->iov) {
    if (v.iov_len) std::memcpy(e->owned.data() + at, v.iov_base, v.iov_len);
    at += v.iov_len;
  }
  e->iov.assign(1, iovec{e->owned.data(), total});
}

// Parks msgs (from index next on) at the back of the queue and waits for writability.
static long park(PlatformSocket* s, std::vector<EncodedMsg>&& msgs, size_t next, bool batch, double token,
                 CompletionSink sink, void* ctx, OsError* err, CutState cut = {}) {
  for (size_t i = next; i < msgs.size(); i++) own_payload(&msgs[i]);
  s->queue.push_back(PendingSend{token, batch, std::move(msgs), next, cut});
  g_queuedSends++;
  s->sink = sink;
  s->sinkCtx = ctx;
  if (!poll_update(s, err)) {
    s->queue.pop_back();
    g_queuedSends--;
    return kSendFailed;
  }
  return kSendPending;
}

long send_overlapped(PlatformSocket* s, const SendSpec& spec, double token, CompletionSink sink,
                     void* ctx, OsError* err) {
  if (s->queue.empty()) {
    long n = send_now(s, spec, SendMode::Overlapped, err);
    // Only a plain would-block waits; every other result is the completion.
    if (n >= 0 || err->sys != EAGAIN || err->wsa != WSAEWOULDBLOCK_) return n;
  } else if (s->fd < 0) {
    set_shim_error(err, WSAENOTSOCK_, "sendmsg");
    return kSendFailed;
  }
  std::vector<EncodedMsg> msgs(1);
  encode_one(s, spec, &msgs[0]);
  return park(s, std::move(msgs), 0, false, token, sink, ctx, err);
}

long send_batch(PlatformSocket* s, const SendSpec* specs, size_t n, SendMode mode, double token,
                CompletionSink sink, void* ctx, size_t* sent, OsError* err) {
  *sent = 0;
  if (s->fd < 0) {
    set_shim_error(err, WSAENOTSOCK_, "sendmsg");
    return kSendFailed;
  }
  if (s->scratch.size() < n) s->scratch.resize(n);
  std::vector<EncodedMsg> msgs;
  msgs.swap(s->scratch);  // reuse the iovec storage of earlier batches
  msgs.resize(n);
  for (size_t i = 0; i < n; i++) encode_one(s, specs[i], &msgs[i]);
  // With offload known to be off, segmented messages are cut before anything is tried.
  if (!s->gso)
    for (size_t i = 0; i < n; i++)
      if (msgs[i].segment) {
        cut_from(msgs, i, 1);
        break;
      }
  bool overlapped = mode == SendMode::Overlapped;
  int64_t deadline = s->sendTimeoutMs ? now_ms() + s->sendTimeoutMs : 0;
  long result = static_cast<long>(n);
  size_t next = 0;  // in msgs, which may hold more entries than messages once one is cut
  CutState cut;
  if (!overlapped && !s->queue.empty() && !flush_queue(s, deadline, err)) {
    result = kSendFailed;
  } else if (overlapped && !s->queue.empty()) {
    return park(s, std::move(msgs), 0, true, token, sink, ctx, err);
  } else {
    for (;;) {
      long firstBytes = 0;
      int e = send_msgs(s, msgs, &next, &firstBytes);
      if (e == 0) break;
      set_os_error(err, e, "sendmsg", s, ErrContext::Send);
      classify_icmp_error(s, err);
      if (cut_refused(s, msgs, next, e, *err, &cut)) {
        *err = OsError{};
        continue;
      }
      bool wouldBlock = e == EAGAIN && err->wsa == WSAEWOULDBLOCK_;
      if (wouldBlock && overlapped) {
        *sent = whole_messages(msgs, next);
        return park(s, std::move(msgs), next, true, token, sink, ctx, err, cut);
      }
      if (!wouldBlock || s->nonBlocking || !wait_writable(s, deadline, err)) {
        result = kSendFailed;
        break;
      }
    }
  }
  *sent = whole_messages(msgs, next);
  msgs.swap(s->scratch);
  // A batch of cut messages can hold up to 64 entries per message: not kept for later calls.
  if (s->scratch.capacity() > 2 * kMaxBatch) std::vector<EncodedMsg>().swap(s->scratch);
  if (s->hdrs.size() > 2 * kMaxBatch) std::vector<mmsghdr>().swap(s->hdrs);
  return result;
}

void send_each(PlatformSocket* s, const SendSpec* specs, size_t n, double token0, CompletionSink sink,
               void* ctx, long* results, OsError* errs) {
  size_t next = 0;
  if (s->fd >= 0 && s->queue.empty()) {
    if (s->scratch.size() < n) s->scratch.resize(n);
    std::vector<EncodedMsg> msgs;
    msgs.swap(s->scratch);
    msgs.resize(n);
    for (size_t i = 0; i < n; i++) encode_one(s, specs[i], &msgs[i]);
    while (next < n) {
      size_t from = next;
      long firstBytes = 0;
      int e = send_msgs(s, msgs, &next, &firstBytes);
      // sendmmsg wrote each sent message's size into its header.
      for (size_t i = from; i < next; i++) results[i] = static_cast<long>(s->hdrs[i].msg_len);
      if (e == 0) break;
      set_os_error(&errs[next], e, "sendmsg", s, ErrContext::Send);
      classify_icmp_error(s, &errs[next]);
      if (e == EAGAIN && errs[next].wsa == WSAEWOULDBLOCK_) break;  // the rest wait, each as its own send
      results[next++] = kSendFailed;
    }
    msgs.swap(s->scratch);
  }
  for (; next < n; next++) results[next] = send_overlapped(s, specs[next], token0 + static_cast<double>(next), sink, ctx, &errs[next]);
}

long send_cancel(PlatformSocket* s, double token) {
  for (auto it = s->queue.begin(); it != s->queue.end(); ++it) {
    if (it->token == token) {
      long sent = sent_count(*it);
      s->queue.erase(it);
      g_queuedSends--;
      return sent;
    }
  }
  return -1;
}

size_t send_pending_count(const PlatformSocket* s) { return s->queue.size(); }

}  // namespace shim
