// WSARecvMsg with IN_PKTINFO / IN6_PKTINFO on the way in, overlapped like sends: a receive
// that completes at once returns at once (skip-on-success); one that waits completes
// through the completion port, and receives on one socket complete in submission order.
// Winsock has no recvmmsg: a batch is consecutive WSARecvMsg calls into its own slots, the
// first one overlapped as any receive, the next ones only while FIONREAD says a datagram
// is queued (so they complete at once, and none waits beyond the first).
#include <cstring>

#include "win32.h"

#ifndef IPV6_TCLASS
#define IPV6_TCLASS 39
#endif

namespace shim {

static void start(PlatformSocket* s, PendingRecv* p, uint8_t* data, size_t len) {
  std::memset(&p->msg, 0, sizeof(p->msg));
  p->buf.buf = reinterpret_cast<CHAR*>(data);
  p->buf.len = static_cast<ULONG>(len);
  p->msg.lpBuffers = &p->buf;
  p->msg.dwBufferCount = 1;
  p->msg.name = reinterpret_cast<LPSOCKADDR>(&p->from);
  p->msg.namelen = sizeof(p->from);
  // WSARecvMsg wants room for control data even when none is asked for.
  p->msg.Control.buf = reinterpret_cast<CHAR*>(p->control);
  p->msg.Control.len = sizeof(p->control);
  (void)s;
}

// Fills *out from a finished receive. status: 0, or what went wrong.
static void finish(PendingRecv* p, DWORD bytes, int wsaError, DWORD ntstatus, Received* out) {
  *out = Received{};
  out->token = p->token;
  out->tos = -1;
  // A datagram longer than the buffer: Windows says WSAEMSGSIZE (STATUS_BUFFER_OVERFLOW)
  // and keeps what fit; the shim reports that as data with truncated set, as on Linux.
  bool truncated = wsaError == WSAEMSGSIZE || ntstatus == 0x80000005 || (p->msg.dwFlags & MSG_TRUNC);
  if ((wsaError && !truncated) || (ntstatus && !truncated)) {
    out->bytes = kSendFailed;
    if (wsaError) set_os_error(&out->err, wsaError, "WSARecvMsg", p->s, ErrContext::Plain);
    else set_completion_error(&out->err, ntstatus);
    out->err.syscall = "WSARecvMsg";
    return;
  }
  // A receive that fails at once with WSAEMSGSIZE reports no byte count (Winsock fills
  // lpNumberOfBytesRecvd only on success), yet the buffer is full: that is what fit.
  out->bytes = static_cast<long>(truncated && bytes == 0 ? p->buf.len : bytes);
  out->truncated = truncated;
  sockaddr_to_endpoint(p->from, &out->from);
  decode_control(&p->msg, out);
}

// Whether a datagram is queued, so that a WSARecvMsg would complete at once.
static bool more_queued(PlatformSocket* s) {
  u_long queued = 0;
  return s->sock != INVALID_SOCKET && ioctlsocket(s->sock, FIONREAD, &queued) == 0 && queued > 0;
}

static void took(PendingRecv* p, Received r);

// Receives into p's next slot; false: it went in flight (the port will bring it back).
// Otherwise its result (or failure) is in p->got.
static bool receive_slot(PlatformSocket* s, PendingRecv* p) {
  // Slots are added as they are received into, not all maxMessages at once: a batch that
  // waits (and many may) holds one, as a waiting recvMsg holds its buffer. Nothing is in
  // flight into the earlier ones now, and the results point into them only from point().
  size_t need = (p->got.size() + 1) * p->slot;
  if (p->slots.size() < need) p->slots.resize(need);
  start(s, p, p->slots.data() + p->got.size() * p->slot, p->slot);
  DWORD bytes = 0;
  int rc = s->wsaRecvMsg(s->sock, &p->msg, &bytes, &p->head.ov, nullptr);
  int e = rc == 0 ? 0 : WSAGetLastError();
  if (e == WSA_IO_PENDING) return false;
  Received r;
  finish(p, bytes, e, 0, &r);
  took(p, r);
  return true;
}

// Adds a finished receive of a batch to what it got. A failure after datagrams ends the
// batch without being reported: they are delivered, and an error of Winsock's kind here
// (a reset from an ICMP message) describes no datagram they lack.
static void took(PendingRecv* p, Received r) {
  if (r.bytes < 0 && !p->got.empty()) {
    p->max = p->got.size();
    return;
  }
  r.data = nullptr;  // point() sets it, once the slots can no longer move
  p->got.push_back(r);
}

// The finished batch's results point into its slots (the glue groups a batch's datagrams
// by their non-null data).
static void point(PendingRecv* p) {
  for (size_t i = 0; i < p->got.size(); i++)
    if (p->got[i].bytes >= 0) p->got[i].data = p->slots.data() + i * p->slot;
}

// Receives into p's further slots while datagrams are queued. false: one went in flight.
static bool fill(PlatformSocket* s, PendingRecv* p) {
  while (p->got.size() < p->max && !p->cancelled && (p->got.empty() || p->got.back().bytes >= 0) && more_queued(s)) {
    if (!receive_slot(s, p)) return false;
  }
  return true;
}

void deliver_recv(void* arg) {
  auto* p = static_cast<PendingRecv*>(arg);
  PlatformSocket* s = p->s;
  if (p->max > 0) {
    Received r;
    finish(p, p->bytes, 0, p->status, &r);
    took(p, r);
    // Only the newest receive may take more: a later one is already posted, and Winsock
    // would give it the next datagram before this batch's next WSARecvMsg.
    if (s->recvInFlight.back() == p && !fill(s, p)) return;  // in flight again: back here when done
  }
  p->done = true;
  std::vector<Received> ready;
  std::vector<PendingRecv*> batches;  // their slots hold the bytes until the sink returns
  for (PendingRecv* head : take_ready(s->recvInFlight)) {
    if (head->max > 0) {
      point(head);
      ready.insert(ready.end(), head->got.begin(), head->got.end());
      batches.push_back(head);
    } else {
      Received r;
      finish(head, head->bytes, head->wsaError, head->status, &r);
      ready.push_back(r);
      delete head;
    }
    g_inFlight--;
  }
  if (ready.empty()) return;
  io_finished(s);
  if (s->recvSink) s->recvSink(s->recvSinkCtx, ready.data(), ready.size());
  for (PendingRecv* b : batches) delete b;
}

static PendingRecv* new_receive(PlatformSocket* s, double token) {
  auto* p = new PendingRecv();
  p->s = s;
  p->dispatcher = s->dispatcher;
  p->token = token;
  return p;
}

// A receive whose WSARecvMsg went pending: the port brings it back to deliver_recv.
static long in_flight(PlatformSocket* s, PendingRecv* p, ReceiveSink sink, void* ctx) {
  s->recvSink = sink;
  s->recvSinkCtx = ctx;
  io_started(s);
  s->recvInFlight.push_back(p);
  g_inFlight++;
  return kSendPending;
}

long recv_overlapped(PlatformSocket* s, uint8_t* data, size_t len, double token, ReceiveSink sink,
                     void* ctx, Received* out, OsError* err) {
  if (s->sock == INVALID_SOCKET) {
    set_shim_error(err, WSAENOTSOCK_, "WSARecvMsg");
    return kSendFailed;
  }
  PendingRecv* p = new_receive(s, token);
  start(s, p, data, len);
  DWORD bytes = 0;
  int rc = s->wsaRecvMsg(s->sock, &p->msg, &bytes, &p->head.ov, nullptr);
  int e = rc == 0 ? 0 : WSAGetLastError();
  if (e == WSA_IO_PENDING) return in_flight(s, p, sink, ctx);
  if (!s->recvInFlight.empty()) {
    // Completed at once, but receives made before it are still in flight: Winsock gave
    // them their datagrams first (it satisfies receives in the order they were posted),
    // and their completions wait to be delivered (the dispatcher runs each in its own
    // callback, and JS runs between: this very call may be such JS). Returned now, it
    // would complete ahead of them; it waits behind them instead, and the first one's
    // deliver_recv delivers it.
    p->bytes = bytes;
    p->wsaError = e;
    p->done = true;
    return in_flight(s, p, sink, ctx);
  }
  // Completed at once (skip-on-success queued no packet), with data or an error.
  finish(p, bytes, e, 0, out);
  delete p;
  if (out->bytes < 0) {
    *err = out->err;
    return kSendFailed;
  }
  return out->bytes;
}

long recv_batch(PlatformSocket* s, size_t slot, size_t max, double token, ReceiveSink sink, void* ctx,
                Received* out, OsError* err) {
  if (s->sock == INVALID_SOCKET) {
    set_shim_error(err, WSAENOTSOCK_, "WSARecvMsg");
    return kSendFailed;
  }
  PendingRecv* p = new_receive(s, token);
  p->slot = slot;
  p->max = max;
  p->slots = std::move(s->spareSlots);
  p->got.reserve(max);
  if (!receive_slot(s, p) || !fill(s, p)) return in_flight(s, p, sink, ctx);
  if (!s->recvInFlight.empty()) {
    // Completed at once behind receives still in flight: it waits for them (see
    // recv_overlapped), its datagrams (or failure) in `got` and its own slots. Being in
    // the list, it also keeps an earlier batch from taking more (deliver_recv's newest
    // check): those would be datagrams after the ones this batch took.
    p->done = true;
    return in_flight(s, p, sink, ctx);
  }
  if (p->got[0].bytes < 0) {
    *err = p->got[0].err;
    s->spareSlots = std::move(p->slots);
    delete p;
    return kSendFailed;
  }
  size_t n = p->got.size();
  point(p);
  for (size_t i = 0; i < n; i++) out[i] = p->got[i];
  // The results point into these slots until the glue has copied them: the socket keeps
  // them (moving a vector keeps its memory where it is), and the next batch reuses them.
  s->spareSlots = std::move(p->slots);
  delete p;
  return static_cast<long>(n);
}

bool recv_cancel(PlatformSocket* s, double token) {
  // Not one that is done already (completed, or completed at once behind others): there is
  // nothing left to cancel, and take_ready would deliver a cancelled one ahead of the
  // receives before it, with its datagrams. It completes in its turn with what it got.
  if (s->sock == INVALID_SOCKET) return false;
  for (PendingRecv* p : s->recvInFlight) {
    if (p->token == token && !p->done) {
      p->cancelled = true;
      CancelIoEx(reinterpret_cast<HANDLE>(s->sock), &p->head.ov);
    }
  }
  return false;
}

size_t recv_pending_count(const PlatformSocket* s) { return s->recvInFlight.size(); }

}  // namespace shim
