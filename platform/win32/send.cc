// WSASendMsg with IN_PKTINFO / IN6_PKTINFO, blocking and overlapped.
// Overlapped: WSASendMsg with an OVERLAPPED; a send that completes at once is returned
// at once (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: no packet is queued); one that goes
// pending completes through the process's I/O completion port, whose thread hands it to
// the socket's JS thread through the Dispatcher.
#include <cstring>
#include <mutex>
#include <thread>

#include "win32.h"

#include <iphlpapi.h>

namespace shim {

const char* const kSendSyscall = "WSASendMsg";

static bool check_sendable(PlatformSocket* s, const SendSpec& spec, OsError* err) {
  if (s->sock == INVALID_SOCKET) {
    set_shim_error(err, WSAENOTSOCK_, "WSASendMsg");
    return false;
  }
  // Winsock answers WSAEINVAL here under Wine and the docs disagree with each other; the
  // semantics table says WSAENOTCONN on every OS.
  if (!spec.to && s->peerFamily == 0) {
    set_shim_error(err, WSAENOTCONN_, "WSASendMsg");
    return false;
  }
  if (spec.pktinfo.segmentSize && !s->uso) {
    set_shim_error(err, WSAEOPNOTSUPP_, "WSASendMsg");
    return false;
  }
  // DSCP bits go as IP_TOS where the stack takes it (a probe, once per process); an older
  // stack takes only the ECN bits (IP_ECN), and the DSCP bits are refused, not dropped.
  if (spec.pktinfo.tosKind != PktinfoPlan::None && (spec.pktinfo.tos & ~3) && !whole_tos_supported()) {
    set_shim_error(err, WSAEOPNOTSUPP_, "WSASendMsg");
    return false;
  }
  return true;
}

// A segmented send the stack would not cut: USO refused with WSAEINVAL or WSAEOPNOTSUPP, at
// the call or (STATUS_INVALID_PARAMETER / STATUS_NOT_SUPPORTED) in its completion. That is
// the socket's problem, not this send's (no USO on the route's adapter, a segment count or
// size this stack will not take), so the socket stops offloading, and the send fails with
// WSAEOPNOTSUPP, which tells whoever made it to send the segments as a batch: the glue for
// a single send, send_batch for a message of a batch. The one place this is decided, for
// send_now, overlapped sends, batches and completions alike, since Wine (no USO) can
// exercise none of them.
static bool offload_refused(PlatformSocket* s, bool segmented, OsError* err) {
  if (!segmented || (err->wsa != WSAEINVAL_ && err->wsa != WSAEOPNOTSUPP_)) return false;
  s->usoBeforeRefusal = s->uso;
  s->uso = false;
  err->wsa = WSAEOPNOTSUPP_;
  return true;
}

// IN_PKTINFO / IN6_PKTINFO that names an interface but no address makes Windows send from
// 0.0.0.0 (bltavares/multicast-socket #5), where Linux picks an address of that interface.
// So an interface-only send takes its source from the interface here: its first address of
// the destination's family (IPv6: one that is not link-local first). No such interface is
// WSAENETDOWN, as Linux's ENODEV maps; an interface without an address of that family,
// WSAEADDRNOTAVAIL.
static bool interface_only(const PktinfoPlan& p) {
  if (p.kind == PktinfoPlan::None || p.ifindex == 0) return false;
  for (size_t i = 0; i < (p.kind == PktinfoPlan::V4 ? 4u : 16u); i++) {
    if (p.addr[i]) return false;
  }
  return true;
}

static bool fill_interface_source(PktinfoPlan* p, OsError* err) {
  NET_LUID luid;
  if (ConvertInterfaceIndexToLuid(p->ifindex, &luid) != NO_ERROR) {
    set_shim_error(err, WSAENETDOWN_, "WSASendMsg");
    return false;
  }
  ADDRESS_FAMILY family = p->kind == PktinfoPlan::V4 ? AF_INET : AF_INET6;
  PMIB_UNICASTIPADDRESS_TABLE table = nullptr;
  DWORD r = GetUnicastIpAddressTable(family, &table);
  if (r != NO_ERROR) {
    set_os_error(err, static_cast<int>(r), "GetUnicastIpAddressTable", nullptr, ErrContext::Plain);
    return false;
  }
  int best = 0;  // 2: a usable address; 1: an IPv6 link-local one
  for (ULONG i = 0; i < table->NumEntries && best < 2; i++) {
    const MIB_UNICASTIPADDRESS_ROW& row = table->Table[i];
    if (row.InterfaceIndex != p->ifindex || row.Address.si_family != family) continue;
    if (family == AF_INET) {
      std::memcpy(p->addr, &row.Address.Ipv4.sin_addr, 4);
      best = 2;
    } else {
      int rank = IN6_IS_ADDR_LINKLOCAL(&row.Address.Ipv6.sin6_addr) ? 1 : 2;
      if (rank > best) {
        std::memcpy(p->addr, &row.Address.Ipv6.sin6_addr, 16);
        best = rank;
      }
    }
  }
  FreeMibTable(table);
  if (best == 0) {
    set_shim_error(err, WSAEADDRNOTAVAIL_, "WSASendMsg");
    return false;
  }
  return true;
}

// What a send goes out as: spec itself, or (interface-only) *own with the source filled in;
// nullptr with err set if it cannot go.
static const SendSpec* sendable(PlatformSocket* s, const SendSpec& spec, SendSpec* own, OsError* err) {
  if (!check_sendable(s, spec, err)) return nullptr;
  bool dscp = spec.pktinfo.tosKind != PktinfoPlan::None && (spec.pktinfo.tos & ~3);
  bool fill = interface_only(spec.pktinfo);
  if (!dscp && !fill) return &spec;
  *own = spec;
  own->pktinfo.tosWhole = dscp;  // check_sendable let DSCP bits through: the stack takes IP_TOS
  return !fill || fill_interface_source(&own->pktinfo, err) ? own : nullptr;
}

static DWORD os_flags(uint32_t flags) { return (flags & kMsgDontRoute) ? MSG_DONTROUTE : 0; }

constexpr size_t kInlineBufs = 16;

long send_now(PlatformSocket* s, const SendSpec& given, SendMode mode, OsError* err) {
  SendSpec own;
  const SendSpec* ready = sendable(s, given, &own, err);
  if (!ready) return kSendFailed;
  const SendSpec& spec = *ready;
  (void)mode;  // blocking vs nonBlocking and SO_SNDTIMEO are the socket's own (FIONBIO)
  WSABUF inlineBufs[kInlineBufs];
  std::vector<WSABUF> heapBufs;
  WSABUF* bufs = inlineBufs;
  if (spec.nbufs > kInlineBufs) {
    heapBufs.resize(spec.nbufs);
    bufs = heapBufs.data();
  }
  WSAMSG m;
  sockaddr_storage to;
  alignas(WSACMSGHDR) unsigned char control[kCmsgSpace];
  encode_msg(s->kind, spec, &m, bufs, &to, control);
  DWORD bytes = 0;
  if (s->wsaSendMsg(s->sock, &m, os_flags(spec.flags), &bytes, nullptr, nullptr) == 0)
    return static_cast<long>(bytes);
  set_os_error(err, WSAGetLastError(), "WSASendMsg", s, ErrContext::Send);
  offload_refused(s, spec.pktinfo.segmentSize != 0, err);
  return kSendFailed;
}

// --- the completion port -------------------------------------------------------------

static HANDLE g_port = nullptr;

static size_t messages_sent(const BatchGroup& g) {
  size_t n = 0;
  for (size_t i = 0; i < g.submitted; i++) n += !g.failed[i];
  return n;
}

static Completion batch_completion(const BatchGroup& g) {
  size_t sent = messages_sent(g);
  Completion c{g.token, static_cast<long>(sent), {}};
  c.count = static_cast<long>(sent);
  if (g.failedAt != SIZE_MAX) {
    c.bytes = kSendFailed;
    c.err = g.err;
  }
  return c;
}

// JS thread: one pending send completed. The port may report a socket's sends out of
// order (cancellations in particular), so completions wait for the ones submitted before
// them: sends on one socket always complete in submission order.
static void deliver(void* arg) {
  auto* p = static_cast<PendingSend*>(arg);
  PlatformSocket* s = p->s;
  p->done = true;
  std::vector<Completion> ready;
  for (PendingSend* head : take_ready(s->inFlight)) {
    if (BatchGroup* g = head->group.get()) {
      if (head->status != 0) {
        OsError e;
        set_completion_error(&e, head->status);
        offload_refused(s, head->segmented, &e);
        g->failed[head->index] = 1;
        if (head->index < g->failedAt) {
          g->failedAt = head->index;
          g->err = e;
        }
      }
      if (--g->outstanding == 0) ready.push_back(batch_completion(*g));
    } else {
      Completion c{head->token, static_cast<long>(head->bytes), {}};
      if (head->status != 0) {
        c.bytes = kSendFailed;
        set_completion_error(&c.err, head->status);
        // Refused in its completion, the send cannot go again as a batch: sends made after
        // it may be on the wire already, and a socket's sends go out in submission order.
        // It fails with WSAEOPNOTSUPP; the socket's later sends are cut before they go.
        offload_refused(s, head->segmented, &c.err);
      }
      ready.push_back(c);
    }
    delete head;
    g_inFlight--;
  }
  if (ready.empty()) return;
  io_finished(s);
  if (s->sink) s->sink(s->sinkCtx, ready.data(), ready.size());
}

static void port_thread() {
  OVERLAPPED_ENTRY entries[64];
  for (;;) {
    ULONG n = 0;
    if (!GetQueuedCompletionStatusEx(g_port, entries, 64, &n, INFINITE, FALSE)) continue;
    for (ULONG i = 0; i < n; i++) {
      auto* h = reinterpret_cast<IoHead*>(entries[i].lpOverlapped);
      DWORD bytes = entries[i].dwNumberOfBytesTransferred;
      auto status = static_cast<DWORD>(h->ov.Internal);
      // If the environment is gone (a worker thread exited), nobody waits for this one,
      // and its socket may be freed already: only the request's own fields are used here.
      if (h->kind == IoKind::Send) {
        auto* p = reinterpret_cast<PendingSend*>(h);
        p->bytes = bytes;
        p->status = status;
        if (!p->dispatcher || !p->dispatcher->post(&deliver, p)) {
          delete p;
          g_inFlight--;
        }
      } else {
        auto* p = reinterpret_cast<PendingRecv*>(h);
        p->bytes = bytes;
        p->status = status;
        if (!p->dispatcher || !p->dispatcher->post(&deliver_recv, p)) {
          delete p;
          g_inFlight--;
        }
      }
    }
  }
}

void io_started(PlatformSocket* s) {
  if (s->inFlight.empty() && s->recvInFlight.empty() && s->dispatcher) s->dispatcher->hold();
}

void io_finished(PlatformSocket* s) {
  if (s->inFlight.empty() && s->recvInFlight.empty() && s->dispatcher) s->dispatcher->release();
}

bool attach_to_completion_port(PlatformSocket* s, OsError* err) {
  static std::once_flag once;
  std::call_once(once, [] {
    g_port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
    if (g_port) std::thread(port_thread).detach();
  });
  HANDLE h = reinterpret_cast<HANDLE>(s->sock);
  if (!g_port || CreateIoCompletionPort(h, g_port, 0, 0) != g_port) {
    set_os_error(err, static_cast<int>(GetLastError()), "CreateIoCompletionPort", s, ErrContext::Plain);
    return false;
  }
  if (!SetFileCompletionNotificationModes(h, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE)) {
    set_os_error(err, static_cast<int>(GetLastError()), "SetFileCompletionNotificationModes", s, ErrContext::Plain);
    return false;
  }
  return true;
}

// Whether an overlapped send completes at once is only known after the call, so every one
// carries a copy of its payload (one gathered WSABUF); the caller's buffers are borrowed
// for the duration of the call only, as on posix.
static void own_payload(PendingSend* p) {
  size_t total = 0;
  for (const WSABUF& b : p->bufs) total += b.len;
  p->owned.resize(total);
  size_t at = 0;
  for (const WSABUF& b : p->bufs) {
    if (b.len) std::memcpy(p->owned.data() + at, b.buf, b.len);
    at += b.len;
  }
  p->bufs.assign(1, WSABUF{static_cast<ULONG>(total), reinterpret_cast<CHAR*>(p->owned.data())});
  p->msg.lpBuffers = p->bufs.data();
  p->msg.dwBufferCount = 1;
}

// One overlapped WSASendMsg of a spec sendable() returned, under a batch's group or alone:
// its bytes when it completed at once (skip-on-success queued no packet), kSendPending when
// its completion comes through the port, or kSendFailed (err).
static long start(PlatformSocket* s, const SendSpec& spec, double token, const std::shared_ptr<BatchGroup>& group,
                  size_t index, OsError* err) {
  auto* p = new PendingSend();
  p->s = s;
  p->dispatcher = s->dispatcher;
  p->token = token;
  p->group = group;
  p->index = index;
  p->segmented = spec.pktinfo.segmentSize != 0;
  p->bufs.resize(spec.nbufs);
  encode_msg(s->kind, spec, &p->msg, p->bufs.data(), &p->to, p->control);
  own_payload(p);
  DWORD bytes = 0;
  if (s->wsaSendMsg(s->sock, &p->msg, os_flags(spec.flags), &bytes, &p->head.ov, nullptr) == 0) {
    delete p;
    return static_cast<long>(bytes);
  }
  int e = WSAGetLastError();
  if (e != WSA_IO_PENDING) {
    delete p;
    set_os_error(err, e, "WSASendMsg", s, ErrContext::Send);
    offload_refused(s, spec.pktinfo.segmentSize != 0, err);
    return kSendFailed;
  }
  io_started(s);
  s->inFlight.push_back(p);
  if (group) group->outstanding++;
  g_inFlight++;
  return kSendPending;
}

long send_overlapped(PlatformSocket* s, const SendSpec& given, double token, CompletionSink sink,
                     void* ctx, OsError* err) {
  SendSpec own;
  const SendSpec* ready = sendable(s, given, &own, err);
  if (!ready) return kSendFailed;
  long r = start(s, *ready, token, nullptr, 0, err);
  if (r == kSendPending) {
    s->sink = sink;
    s->sinkCtx = ctx;
  }
  return r;
}

// One message of a batch: whole, or, where the stack does not segment it (no USO, or it
// refused just now), as its segments under the message's one index, so that the batch still
// reports by message. The segments are cut from what sendable() made of the whole message,
// so an interface-only source is looked up once. False: it failed (err).
static bool start_message(PlatformSocket* s, const SendSpec& given, double token, const std::shared_ptr<BatchGroup>& group,
                          size_t index, OsError* err) {
  SendSpec own;
  size_t segment = given.pktinfo.segmentSize;
  if (!segment || s->uso) {
    const SendSpec* spec = sendable(s, given, &own, err);
    if (!spec) return false;
    if (start(s, *spec, token, group, index, err) != kSendFailed) return true;
    if (!segment || s->uso) return false;  // a failure of its own, not the offload's
  }
  SendSpec whole = given;
  whole.pktinfo.segmentSize = 0;
  const SendSpec* spec = sendable(s, whole, &own, err);
  if (!spec) return false;
  Segments pieces;
  cut_segments(*spec, segment, &pieces);
  for (const SendSpec& piece : pieces.specs) {
    if (start(s, piece, token, group, index, err) == kSendFailed) return false;
  }
  return true;
}

// The blocking twin of start_message.
static bool send_message_now(PlatformSocket* s, const SendSpec& given, OsError* err) {
  size_t segment = given.pktinfo.segmentSize;
  if (!segment || s->uso) {
    if (send_now(s, given, SendMode::Blocking, err) >= 0) return true;
    if (!segment || s->uso) return false;
  }
  SendSpec whole = given;
  whole.pktinfo.segmentSize = 0;
  SendSpec own;
  const SendSpec* spec = sendable(s, whole, &own, err);
  if (!spec) return false;
  Segments pieces;
  cut_segments(*spec, segment, &pieces);
  for (const SendSpec& piece : pieces.specs) {
    if (send_now(s, piece, SendMode::Blocking, err) < 0) return false;
  }
  return true;
}

// A batch is a loop of overlapped WSASendMsg calls in this one native call (no JS round
// trip per datagram); the batch completes when its last pending message does.
long send_batch(PlatformSocket* s, const SendSpec* specs, size_t n, SendMode mode, double token,
                CompletionSink sink, void* ctx, size_t* sent, OsError* err) {
  *sent = 0;
  if (mode == SendMode::Blocking) {
    for (size_t i = 0; i < n; i++) {
      if (!send_message_now(s, specs[i], err)) return kSendFailed;
      ++*sent;
    }
    return static_cast<long>(n);
  }
  auto group = std::make_shared<BatchGroup>();
  group->token = token;
  group->total = n;
  group->failed.assign(n, 0);
  for (size_t i = 0; i < n; i++) {
    if (!start_message(s, specs[i], token, group, i, &group->err)) {
      group->failed[i] = 1;
      group->failedAt = i;
      break;  // nothing after a failure is sent
    }
    group->submitted = i + 1;
  }
  if (group->outstanding > 0) {
    s->sink = sink;
    s->sinkCtx = ctx;
    return kSendPending;
  }
  *sent = messages_sent(*group);
  if (group->failedAt == SIZE_MAX) return static_cast<long>(n);
  *err = group->err;
  return kSendFailed;
}

// Overlapped WSASendMsg has no many-message form: the loop is here, in one native call, with
// what each send_overlapped does (an immediate result, or a completion under its token).
void send_each(PlatformSocket* s, const SendSpec* specs, size_t n, double token0, CompletionSink sink,
               void* ctx, long* results, OsError* errs) {
  for (size_t i = 0; i < n; i++) results[i] = send_overlapped(s, specs[i], token0 + static_cast<double>(i), sink, ctx, &errs[i]);
}

long send_cancel(PlatformSocket* s, double token) {
  cancel_in_flight(s->sock, s->inFlight, token);
  return -1;
}

size_t send_pending_count(const PlatformSocket* s) { return s->inFlight.size(); }

}  // namespace shim
