// N-API glue: turns JS values into the OS-free contract of shim.h and results back into
// plain numbers. Arguments arrive validated by src/; checks here are assertions that keep
// a bug in the TS layer from becoming memory corruption.
#include <napi.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "shim.h"

namespace shim {
namespace {

// Dispatcher over a thread-safe function. The IOCP thread may post after the environment
// is torn down (a worker exiting), so the function handle is guarded by `alive`.
class TsfnDispatcher : public Dispatcher {
 public:
  static std::shared_ptr<TsfnDispatcher> Create(napi_env env) {
    auto d = std::make_shared<TsfnDispatcher>();
    napi_value name;
    napi_create_string_utf8(env, "sendmsg-shim:completion", NAPI_AUTO_LENGTH, &name);
    auto* weak = new std::weak_ptr<TsfnDispatcher>(d);
    if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, weak, &Finalize, nullptr,
                                        &CallJs, &d->tsfn_) != napi_ok) {
      delete weak;
      return nullptr;
    }
    d->env_ = env;
    d->alive_ = true;
    napi_unref_threadsafe_function(env, d->tsfn_);
    return d;
  }

  bool post(void (*fn)(void*), void* arg) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!alive_) return false;
    auto* job = new Job{fn, arg};
    if (napi_call_threadsafe_function(tsfn_, job, napi_tsfn_nonblocking) != napi_ok) {
      delete job;
      return false;
    }
    return true;
  }

  void hold() override {
    if (holds_++ == 0 && alive_) napi_ref_threadsafe_function(env_, tsfn_);
  }

  void release() override {
    if (--holds_ == 0 && alive_) napi_unref_threadsafe_function(env_, tsfn_);
  }

 private:
  struct Job {
    void (*fn)(void*);
    void* arg;
  };

  static void CallJs(napi_env env, napi_value, void*, void* data) {
    auto* job = static_cast<Job*>(data);
    if (env) job->fn(job->arg);  // env is null while the function is being torn down
    delete job;
  }

  static void Finalize(napi_env, void* data, void*) {
    auto* weak = static_cast<std::weak_ptr<TsfnDispatcher>*>(data);
    if (auto d = weak->lock()) {
      std::lock_guard<std::mutex> lock(d->mu_);
      d->alive_ = false;
    }
    delete weak;
  }

  std::mutex mu_;
  bool alive_ = false;
  int holds_ = 0;  // JS thread only
  napi_env env_ = nullptr;
  napi_threadsafe_function tsfn_ = nullptr;
};

class Socket;

// The sockets of one environment. When the environment goes (a worker thread exits, or the
// process), its cleanup hook closes them all before their JS objects can be finalized, and
// no completion is delivered into the dying environment. Shared, because the hook and
// each socket may outlive the instance data.
struct Registry {
  std::unordered_set<Socket*> sockets;
  bool tornDown = false;
};

// Per-environment state (each worker thread loads the addon anew).
struct AddonData {
  EventLoop loop;
  Napi::FunctionReference socketClass;
  std::shared_ptr<Registry> registry;
};

constexpr size_t kMaxBuffers = 1024;  // IOV_MAX; src/ enforces the same number

// The payload views of one send, as read by src/ (each element once). Up to kDirectViews
// arrive as direct arguments (no array to walk); more arrive as one array that src/ built
// itself, so no user code can run while it is read.
constexpr size_t kDirectViews = 4;
struct Views {
  Buf inlineBufs[16];
  std::vector<Buf> heapBufs;
  Buf* bufs = inlineBufs;
  size_t n = 0;
  size_t total = 0;
};

// One ArrayBufferView by its intrinsic length (a view's own properties may lie); false if
// v is not one. A detached view reads as 0 bytes; payloads go through read_payload.
bool read_view(napi_env env, napi_value v, Buf* b) {
  void* data = nullptr;
  size_t length = 0;
  napi_typedarray_type type;
  // napi_get_buffer_info first: for a Buffer or Uint8Array (nearly every payload) it gives
  // the same bytes and byte length as napi_get_typedarray_info, for about 60 instructions
  // less (no element type to find). Node takes any view there; were a version to refuse
  // the others, they would go on to the calls below.
  if (napi_get_buffer_info(env, v, &data, &length) == napi_ok) {
    // data and byte length, as below
  } else if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) == napi_ok) {
    // Element sizes by napi_typedarray_type; 11 is napi_float16_array (newer Node). A type
    // this table does not know is refused rather than measured wrong.
    static const size_t kSize[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8, 2};
    if (static_cast<size_t>(type) >= sizeof(kSize) / sizeof(kSize[0])) return false;
    length *= kSize[type];
  } else if (napi_get_dataview_info(env, v, &length, &data, nullptr, nullptr) != napi_ok) {
    return false;
  }
  b->data = static_cast<const uint8_t*>(data);
  b->len = length;
  return true;
}

// A payload view. One of 0 bytes is not always empty: its buffer may have been detached, or
// shrunk (resizable) below the view, and N-API gives 0 for all three (nor can it say what a
// fixed-length view covered). So a call refuses it (WSAEFAULT, before any I/O) unless src/,
// asked by that refusal, found every 0-byte view of the call truly empty (validate.ts
// unusableView) and said so with allowEmpty() just before calling again. No callback into
// JS: code run from inside a send could re-enter it (review: a check function registered
// by the caller first re-entered sendBatch and crashed the process).
bool read_payload(napi_env env, napi_value v, bool emptyChecked, Buf* b) {
  return read_view(env, v, b) && (b->len != 0 || emptyChecked);
}

// argv[0..argc): the views, or one array of them. false: one is not a live view.
bool read_views(napi_env env, const napi_value* argv, size_t argc, bool emptyChecked, Views* out) {
  bool isArray = false;
  napi_value list = nullptr;
  uint32_t n = static_cast<uint32_t>(argc);
  if (argc == 1 && napi_is_array(env, argv[0], &isArray) == napi_ok && isArray) {
    list = argv[0];
    if (napi_get_array_length(env, list, &n) != napi_ok || n > kMaxBuffers) return false;
  }
  if (n > 16) {
    out->heapBufs.resize(n);
    out->bufs = out->heapBufs.data();
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value v = argv[i < argc ? i : 0];
    if (list && napi_get_element(env, list, i, &v) != napi_ok) return false;
    if (!read_payload(env, v, emptyChecked, &out->bufs[i])) return false;
    out->total += out->bufs[i].len;
  }
  out->n = n;
  return true;
}

class Socket : public Napi::ObjectWrap<Socket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSocket",
                       {
                           InstanceMethod<&Socket::Open>("open"),
                           InstanceMethod<&Socket::SendBatch>("sendBatch"),
                           InstanceMethod<&Socket::SendEach>("sendEach"),
                           InstanceMethod<&Socket::Cancel>("cancel"),
                           InstanceMethod<&Socket::AllowEmpty>("allowEmpty"),
                           InstanceMethod<&Socket::Recv>("recv"),
                           InstanceMethod<&Socket::CancelRecv>("cancelRecv"),
                           InstanceMethod<&Socket::RecvBatch>("recvBatch"),
                           InstanceMethod<&Socket::Connect>("connect"),
                           InstanceMethod<&Socket::ShutdownSend>("shutdownSend"),
                           InstanceMethod<&Socket::Address>("address"),
                           InstanceMethod<&Socket::Close>("close"),
                           InstanceMethod<&Socket::LastError>("lastError"),
                           InstanceAccessor<&Socket::PendingCount>("pendingCount"),
                           InstanceAccessor<&Socket::SegmentationOffload>("segmentationOffload"),
                           InstanceAccessor<&Socket::PerDatagramTos>("perDatagramTos"),
                           InstanceAccessor<&Socket::ReceiveOffload>("receiveOffload"),
                           InstanceAccessor<&Socket::Fd>("fd"),
                       });
  }

  // new NativeSocket(oncomplete, plan): oncomplete(token, bytes, wsa, sysErrno, syscall,
  // count, icmp); plan: this socket's plan record (a Uint8Array over its own ArrayBuffer of
  // plan::kSize bytes), which src/plan.ts writes before each single send.
  // The callback is kept as a property of this object, not in a C++ persistent: it closes
  // over the JS Socket, which holds this object, and a strong persistent in that cycle
  // would make every socket immortal. The record refers to nothing, so a persistent holds
  // it. The single sends are functions of their own whose data is this object, so that a
  // call needs no unwrap.
  explicit Socket(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<Socket>(info),
        context_(info.Env(), "sendmsg-shim:send"),
        registry_(info.Env().GetInstanceData<AddonData>()->registry) {
    Napi::Env env = info.Env();
    Napi::Object self = info.This().As<Napi::Object>();
    self.Set("oncomplete", info[0]);
    Buf plan{nullptr, 0};
    if (read_view(env, info[1], &plan) && plan.len >= plan::kSize) {
      plan_ = plan.data;
      // Held here, not as a property: nothing a caller can reach may lead to the record,
      // or ArrayBuffer.prototype.transfer() could free it under plan_.
      planRef_ = Napi::Persistent(info[1]);
    }
    napi_value fn;
    napi_create_function(env, "sendSync", NAPI_AUTO_LENGTH, &Socket::SendSyncFn, this, &fn);
    self.Set("sendSync", fn);
    napi_create_function(env, "sendAsync", NAPI_AUTO_LENGTH, &Socket::SendAsyncFn, this, &fn);
    self.Set("sendAsync", fn);
    registry_->sockets.insert(this);
  }

  ~Socket() override {
    registry_->sockets.erase(this);
    if (sock_) sock_destroy(sock_);
  }

  // The environment is going away: close without telling JS (nobody is left to tell).
  void Teardown() {
    if (sock_) sock_close(sock_, nullptr, nullptr);
  }

 private:
  // open(kind, protocol, ipv6Only, broadcast, nonBlocking, sendTimeoutMs, sendBufferSize,
  //      bind: plan record | null, icmpErrors, ttl, dontFragment, recvPktinfo, reusePort,
  //      receiveOffload) -> boolean
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    OpenSpec spec{};
    spec.kind = static_cast<SockKind>(info[0].As<Napi::Number>().Uint32Value());
    spec.protocol = info[1].As<Napi::Number>().Int32Value();
    spec.ipv6Only = info[2].ToBoolean();
    spec.broadcast = info[3].ToBoolean();
    spec.nonBlocking = info[4].ToBoolean();
    spec.sendTimeoutMs = info[5].As<Napi::Number>().Uint32Value();
    spec.sendBufferSize = info[6].As<Napi::Number>().Int32Value();
    if (!info[7].IsNull()) {
      spec.hasBind = true;
      Buf rec;
      if (!read_view(env, info[7], &rec) || rec.len < plan::kSize || !decode_endpoint(rec.data, &spec.bind))
        return Fail(env, WSAEFAULT_, "bind");
    }
    spec.icmpErrors = static_cast<IcmpMode>(info[8].As<Napi::Number>().Uint32Value());
    spec.ttl = info[9].As<Napi::Number>().Int32Value();
    spec.dontFragment = info[10].ToBoolean();
    spec.recvPktinfo = info[11].ToBoolean();
    spec.reusePort = info[12].ToBoolean();
    spec.receiveOffload = info[13].ToBoolean();
    sock_ = sock_open(spec, env.GetInstanceData<AddonData>()->loop, &err_);
    return Napi::Boolean::New(env, sock_ != nullptr);
  }

  // sendSync(...views) / sendAsync(token, ...views): one datagram as this socket's plan
  // record says. -> bytes, kSendPending (sendAsync: oncomplete later), or a failure array
  // (FailureToJs). Plain C callbacks: these are the calls every datagram pays for.
  static napi_value SendSyncFn(napi_env env, napi_callback_info info) {
    return SendOne(env, info, SendMode::Blocking);
  }

  static napi_value SendAsyncFn(napi_env env, napi_callback_info info) {
    return SendOne(env, info, SendMode::Overlapped);
  }

  static napi_value SendOne(napi_env env, napi_callback_info info, SendMode mode) {
    constexpr size_t kMaxArgs = kDirectViews + 1;
    size_t argc = kMaxArgs;
    napi_value argv[kMaxArgs];
    void* data = nullptr;
    napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
    Socket* self = static_cast<Socket*>(data);
    bool emptyChecked = self->TakeEmptyChecked();
    // argc is the count the caller passed, which may exceed what argv holds: src/ never does.
    if (argc > kMaxArgs) return self->FailJs(env, WSAEFAULT_);
    size_t first = 0;
    double token = 0;
    if (mode == SendMode::Overlapped) {
      if (argc < 1 || napi_get_value_double(env, argv[0], &token) != napi_ok) return self->FailJs(env, WSAEFAULT_);
      first = 1;
    }
    if (!self->sock_ || !sock_is_open(self->sock_)) return self->FailJs(env, WSAENOTSOCK_);
    if (!self->plan_) return self->FailJs(env, WSAEFAULT_);
    Views views;
    if (!read_views(env, argv + first, argc - first, emptyChecked, &views)) return self->FailJs(env, WSAEFAULT_);
    long r = self->Send(self->plan_, views, mode, token);
    if (r == kSendFailed) return self->FailureToJs(env, 0, 0);
    napi_value out;
    napi_create_double(env, static_cast<double>(r), &out);
    return out;
  }

  // One message by its plan record: at once, overlapped, or (no offload) as a batch of its
  // segments. bytes, kSendPending or kSendFailed (err_).
  long Send(const uint8_t* rec, const Views& views, SendMode mode, double token) {
    Endpoint to;
    SendSpec spec{};
    uint32_t maxBytes = 0;
    bool split = false;
    // A sender that repeats itself sends one record over and over (src/ writes it only when
    // the plan changes): decoded once, and the same planId lets the platform reuse its
    // encoding too.
    if (single_.valid && std::memcmp(rec, single_.rec, plan::kSize) == 0) {
      to = single_.to;
      spec = single_.spec;
      if (spec.to) spec.to = &to;
      maxBytes = single_.maxBytes;
      split = single_.split;
    } else {
      single_.valid = false;
      if (int wsa = decode_plan(rec, &to, &spec, &maxBytes, &split)) return FailCode(wsa);
      spec.planId = NewPlanId();
      std::memcpy(single_.rec, rec, plan::kSize);
      single_.to = to;
      single_.spec = spec;
      single_.maxBytes = maxBytes;
      single_.split = split;
      single_.valid = true;
    }
    spec.bufs = views.bufs;
    spec.nbufs = views.n;
    size_t segment = spec.pktinfo.segmentSize;
    // src/ plans the split a message's size needs; whether the socket still offloads is
    // asked here, where it is a field (src/ reading it through an accessor cost ~1,100
    // instructions a send).
    if (segment && !split && !sock_segmentation_offload(sock_)) split = true;
    // The planner chose the limit; the views are measured only here (by their intrinsic
    // lengths, after every read of the call), so that no byte leaves and both OSes agree.
    if (maxBytes && (split ? std::min(segment, views.total) : views.total) > maxBytes) return FailCode(WSAEMSGSIZE_);
    if (split) return SendSegments(spec, views.total, mode, token);
    long r = mode == SendMode::Blocking ? send_now(sock_, spec, mode, &err_)
                                        : send_overlapped(sock_, spec, token, &Socket::Deliver, this, &err_);
    if (r == kSendPending) Hold();
    // The kernel refused to cut it, before sending anything: send the segments instead. If
    // the first of them fails the same way, the failure was the message's, and the offload
    // is as it was (send_batch's cut_refused does the same for a batch message).
    if (r == kSendFailed && segment && err_.wsa == WSAEOPNOTSUPP_) {
      int refusal = err_.sys;
      r = SendSegments(spec, views.total, mode, token);
      if (r == kSendFailed && lastSent_ == 0 && refusal && err_.sys == refusal) sock_restore_segmentation_offload(sock_);
    }
    return r;
  }

  long SendSegments(const SendSpec& whole, size_t total, SendMode mode, double token) {
    Segments seg;
    cut_segments(whole, whole.pktinfo.segmentSize, &seg);
    size_t sent = 0;
    long r = send_batch(sock_, seg.specs.data(), seg.specs.size(), mode, token, &Socket::Deliver, this, &sent, &err_);
    if (r == kSendPending) {
      // The completion counts datagrams; the caller wants the bytes of the whole.
      splitBytes_[token] = static_cast<double>(total);
      Hold();
    }
    if (r == kSendFailed) lastSent_ = sent;
    return r < 0 ? r : static_cast<long>(total);
  }

  // sendBatch(plans: Uint8Array, n, overlapped, token, ...views): n plan records, message i
  // taking the next NBUFS views. The views come as direct arguments (reading an array's
  // elements costs more than the rest of a message), or, past MAX_DIRECT_VIEWS (src/send.ts), as one
  // array that src/ built. -> n (all sent), kSendPending (one completion later), or a
  // failure array whose failedIndex is the message that failed (none after it was sent).
  Napi::Value SendBatch(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    bool emptyChecked = TakeEmptyChecked();
    if (!sock_ || !sock_is_open(sock_)) return Napi::Value(env, FailJs(env, WSAENOTSOCK_));
    Buf plans;
    uint32_t n = info[1].As<Napi::Number>().Uint32Value();
    bool overlapped = info[2].ToBoolean();
    double token = info[3].As<Napi::Number>().DoubleValue();
    if (n > kMaxBatch || !read_view(env, info[0], &plans) || plans.len < n * plan::kSize)
      return Napi::Value(env, FailJs(env, WSAEFAULT_));
    size_t direct = info.Length() > 4 ? info.Length() - 4 : 0;
    napi_value list = nullptr;
    bool isArray = false;
    if (direct == 1 && napi_is_array(env, info[4], &isArray) == napi_ok && isArray) {
      list = info[4];
      direct = 0;
    }
    if (batch_.size() < n) batch_.resize(n);  // no reallocation below: specs point into it
    if (specs_.size() < n) specs_.resize(n);
    uint32_t next = 0;
    const uint8_t* decoded = nullptr;  // the last record decoded in full
    for (uint32_t i = 0; i < n; i++) {
      const uint8_t* rec = plans.data + i * plan::kSize;
      uint16_t nbufs;
      std::memcpy(&nbufs, rec + plan::NBUFS, sizeof(nbufs));
      Views& v = batch_[i].views;
      v.total = 0;
      v.bufs = v.inlineBufs;
      if (nbufs > 16) {
        v.heapBufs.resize(nbufs);
        v.bufs = v.heapBufs.data();
      }
      for (uint32_t k = 0; k < nbufs; k++, next++) {
        napi_value el = nullptr;
        if (list ? napi_get_element(env, list, next, &el) != napi_ok : next >= direct) el = nullptr;
        else if (!list) el = info[4 + next];
        if (!el || !read_payload(env, el, emptyChecked, &v.bufs[k])) return Napi::Value(env, FailureToJs(env, 0, i, WSAEFAULT_));
        v.total += v.bufs[k].len;
      }
      v.n = nbufs;
      int wsa = 0;
      // A batch usually repeats one plan: src/ marks a message with the plan of the one
      // before (PLAN_AS_BEFORE), and a record equal to the last one decoded is that plan too.
      // Either way it is decoded once and checked per message.
      bool same = decoded && (rec[plan::FLAGS] == plan::PLAN_AS_BEFORE || std::memcmp(rec, decoded, plan::kSize) == 0);
      if (!same) {
        bool split = false;
        wsa = decode_plan(rec, &batch_[i].to, &specs_[i], &batchMaxBytes_, &split);
        if (!wsa && split) wsa = WSAEFAULT_;  // src/ never asks a batch to split a message
        specs_[i].planId = NewPlanId();
        decoded = rec;
      } else {
        batch_[i].to = batch_[i - 1].to;
        specs_[i] = specs_[i - 1];
        if (specs_[i].to) specs_[i].to = &batch_[i].to;
      }
      // What the shim refuses fails the whole batch before anything is sent.
      if (!wsa && batchMaxBytes_ && v.total > batchMaxBytes_) wsa = WSAEMSGSIZE_;
      if (wsa) return Napi::Value(env, FailureToJs(env, 0, i, wsa));
      specs_[i].bufs = v.bufs;
      specs_[i].nbufs = nbufs;
    }
    size_t sent = 0;
    long r = send_batch(sock_, specs_.data(), n, overlapped ? SendMode::Overlapped : SendMode::Blocking, token,
                        &Socket::Deliver, this, &sent, &err_);
    if (r == kSendPending) Hold();
    if (r == kSendFailed) return Napi::Value(env, FailureToJs(env, sent, sent));
    return Napi::Number::New(env, static_cast<double>(r));
  }

  // sendEach(plans, n, staged, offsets, token0, results): the sendMsg calls of one tick,
  // coalesced by src/send.ts: message i is plan record i with the payload
  // staged[offsets[i], offsets[i + 1]) (src/'s own copy), sent as an overlapped send with
  // the token token0 + i. results (a Float64Array) receives each message's bytes,
  // kSendPending or kSendFailed. -> null, or [[index, wsa, sysErrno, syscall, icmp], ...]
  // for the messages that failed; a failure fails only its own message.
  Napi::Value SendEach(const Napi::CallbackInfo& info) {
    TakeEmptyChecked();  // its payloads are src/'s staged copies, never 0-byte views
    napi_env env = info.Env();
    Buf plans, staged, offsetsBuf, resultsBuf;
    uint32_t n = info[1].As<Napi::Number>().Uint32Value();
    double token0 = info[4].As<Napi::Number>().DoubleValue();
    if (n > kMaxBatch || !read_view(env, info[0], &plans) || plans.len < n * plan::kSize ||
        !read_view(env, info[2], &staged) || !read_view(env, info[3], &offsetsBuf) ||
        offsetsBuf.len < (n + 1) * sizeof(uint32_t) || !read_view(env, info[5], &resultsBuf) ||
        resultsBuf.len < n * sizeof(double))
      return Napi::Value(env, FailJs(env, WSAEFAULT_));
    const auto* offsets = reinterpret_cast<const uint32_t*>(offsetsBuf.data);
    auto* results = reinterpret_cast<double*>(const_cast<uint8_t*>(resultsBuf.data));
    if (batch_.size() < n) batch_.resize(n);
    if (specs_.size() < n) specs_.resize(n);
    if (eachResults_.size() < n) eachResults_.resize(n);
    if (eachErrs_.size() < n) eachErrs_.resize(n);
    // Messages the record refuses fail alone; the runs between them go out in order.
    size_t runStart = 0;
    bool pending = false;
    auto flushRun = [&](size_t end) {
      if (end > runStart && sock_) {
        send_each(sock_, specs_.data() + runStart, end - runStart, token0 + static_cast<double>(runStart), &Socket::Deliver,
                  this, eachResults_.data() + runStart, eachErrs_.data() + runStart);
      }
      for (size_t i = runStart; i < end; i++) {
        if (!sock_) {
          eachResults_[i] = kSendFailed;
          eachErrs_[i] = OsError{WSAENOTSOCK_, 0, kSendSyscall, false, {}};
        }
        pending = pending || eachResults_[i] == kSendPending;
      }
      runStart = end + 1;
    };
    for (uint32_t i = 0; i < n; i++) {
      uint32_t maxBytes = 0;
      bool split = false;
      int wsa = 0;
      if (offsets[i] > offsets[i + 1] || offsets[i + 1] > staged.len) {
        wsa = WSAEFAULT_;
      } else {
        Buf& b = batch_[i].views.inlineBufs[0];
        b = Buf{staged.data + offsets[i], offsets[i + 1] - offsets[i]};
        wsa = decode_plan(plans.data + i * plan::kSize, &batch_[i].to, &specs_[i], &maxBytes, &split);
        if (!wsa && (split || specs_[i].pktinfo.segmentSize)) wsa = WSAEFAULT_;  // src/ never coalesces these
        if (!wsa && maxBytes && b.len > maxBytes) wsa = WSAEMSGSIZE_;
        specs_[i].bufs = &b;
        specs_[i].nbufs = 1;
      }
      if (wsa) {
        flushRun(i);
        eachResults_[i] = kSendFailed;
        eachErrs_[i] = OsError{wsa, 0, kSendSyscall, false, {}};
      }
    }
    flushRun(n);
    if (pending) Hold();
    napi_value failures = nullptr;
    uint32_t nf = 0;
    for (uint32_t i = 0; i < n; i++) {
      results[i] = static_cast<double>(eachResults_[i]);
      if (eachResults_[i] != kSendFailed) continue;
      if (!failures) napi_create_array(env, &failures);
      napi_value row, idx, e[4];
      napi_create_array_with_length(env, 5, &row);
      napi_create_double(env, i, &idx);
      napi_set_element(env, row, 0, idx);
      ErrorArgs(Napi::Env(env), eachErrs_[i], e);
      for (uint32_t k = 0; k < 4; k++) napi_set_element(env, row, k + 1, e[k]);
      napi_set_element(env, failures, nf++, row);
    }
    return failures ? Napi::Value(env, failures) : Napi::Env(env).Null();
  }

  // recv(buffer: Uint8Array, token) -> a result array at once (see ReceivedToJs), -1
  // (failed: lastError) or -2 (pending: onreceive later).
  Napi::Value Recv(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!sock_) return Fail(env, WSAENOTSOCK_, "recvmsg");
    Buf b;
    if (!read_view(env, info[0], &b)) return Fail(env, WSAEFAULT_, "recvmsg");
    Received r{};
    long n = recv_overlapped(sock_, const_cast<uint8_t*>(b.data), b.len, info[1].As<Napi::Number>().DoubleValue(),
                             &Socket::DeliverReceived, this, &r, &err_);
    if (n == kSendPending) {
      Hold();
      return Napi::Number::New(env, kSendPending);
    }
    if (n < 0) return Napi::Number::New(env, kSendFailed);
    return ReceivedToJs(env, r);
  }

  // recvBatch(slot, max, token) -> a batch array at once (BatchToJs), -1 (failed:
  // lastError) or -2 (pending: onreceive later, with the batch array).
  Napi::Value RecvBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!sock_) return Fail(env, WSAENOTSOCK_, "recvmmsg");
    size_t slot = info[0].As<Napi::Number>().Uint32Value();
    size_t max = info[1].As<Napi::Number>().Uint32Value();
    if (slot == 0 || slot > (1u << 20) || max == 0 || max > kMaxRecvBatch) return Fail(env, WSAEINVAL_, "recvmmsg");
    recvOut_.resize(max);
    long n = recv_batch(sock_, slot, max, info[2].As<Napi::Number>().DoubleValue(), &Socket::DeliverReceived, this,
                        recvOut_.data(), &err_);
    if (n == kSendPending) {
      Hold();
      return Napi::Number::New(env, kSendPending);
    }
    if (n < 0) return Napi::Number::New(env, kSendFailed);
    napi_value out;
    if (!BatchToJs(env, recvOut_.data(), static_cast<size_t>(n), &out)) return Fail(env, WSAENOBUFS_, "recvmmsg");
    return Napi::Value(env, out);
  }

  Napi::Value CancelRecv(const Napi::CallbackInfo& info) {
    bool removed = sock_ && recv_cancel(sock_, info[0].As<Napi::Number>().DoubleValue());
    if (removed) ReleaseIfIdle();
    return Napi::Boolean::New(info.Env(), removed);
  }

  // [bytes, truncated, fromAddress, fromPort, destination|null, ifindex, tos]
  static Napi::Value ReceivedToJs(Napi::Env env, const Received& r) {
    char from[64] = "", dest[64] = "";
    format_ip(r.from.ip, from, sizeof(from));
    Napi::Array out = Napi::Array::New(env, 7);
    out.Set(0u, Napi::Number::New(env, static_cast<double>(r.bytes)));
    out.Set(1u, Napi::Boolean::New(env, r.truncated));
    out.Set(2u, Napi::String::New(env, from));
    out.Set(3u, Napi::Number::New(env, r.from.port));
    if (r.hasDestination && format_ip(r.destination, dest, sizeof(dest))) out.Set(4u, Napi::String::New(env, dest));
    else out.Set(4u, env.Null());
    out.Set(5u, Napi::Number::New(env, r.ifindex));
    out.Set(6u, Napi::Number::New(env, r.tos));
    return out;
  }

  // A batch's datagrams as [buffer, count, string, string, ...]. buffer holds a table of
  // kBatchFields int32 per datagram (bytes, truncated, from: index of its string in this
  // array, port, destination: index or -1, ifindex, tos, segment), then every datagram's
  // bytes in order: one allocation and one copy for the batch, nothing kept of the slots.
  // An address is made into a string once per batch, not once per datagram.
  static constexpr size_t kBatchFields = 8;
  // false: no memory for it (the caller reports WSAENOBUFS).
  static bool BatchToJs(Napi::Env env, const Received* r, size_t n, napi_value* result) {
    size_t total = n * kBatchFields * sizeof(int32_t);
    for (size_t i = 0; i < n; i++) total += static_cast<size_t>(r[i].bytes);
    void* mem = nullptr;
    napi_value buffer, out;
    if (napi_create_buffer(env, total, &mem, &buffer) != napi_ok) {
      bool pending = false;
      napi_value ignored;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
      return false;
    }
    auto* table = static_cast<int32_t*>(mem);
    uint8_t* data = static_cast<uint8_t*>(mem) + n * kBatchFields * sizeof(int32_t);
    napi_create_array(env, &out);
    napi_set_element(env, out, 0, buffer);
    napi_value count;
    napi_create_uint32(env, static_cast<uint32_t>(n), &count);
    napi_set_element(env, out, 1, count);
    uint32_t strings = 2;
    IpAddr seen[4];
    int32_t seenAt[4];
    size_t nseen = 0, replace = 0;
    auto intern = [&](const IpAddr& ip) -> int32_t {
      for (size_t k = 0; k < nseen; k++)
        if (seen[k].family == ip.family && seen[k].scope == ip.scope && std::memcmp(seen[k].bytes, ip.bytes, 16) == 0)
          return seenAt[k];
      char text[64] = "";
      format_ip(ip, text, sizeof(text));
      napi_value str;
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &str);
      napi_set_element(env, out, strings, str);
      size_t k = nseen < 4 ? nseen++ : replace++ % 4;  // a few recent ones: enough for one sender's flood
      seen[k] = ip;
      seenAt[k] = static_cast<int32_t>(strings);
      return static_cast<int32_t>(strings++);
    };
    for (size_t i = 0; i < n; i++) {
      int32_t* f = table + i * kBatchFields;
      f[0] = static_cast<int32_t>(r[i].bytes);
      f[1] = r[i].truncated ? 1 : 0;
      f[2] = intern(r[i].from.ip);
      f[3] = r[i].from.port;
      f[4] = r[i].hasDestination ? intern(r[i].destination) : -1;
      f[5] = static_cast<int32_t>(r[i].ifindex);
      f[6] = r[i].tos;
      f[7] = static_cast<int32_t>(r[i].segment);
      if (r[i].bytes > 0) std::memcpy(data, r[i].data, static_cast<size_t>(r[i].bytes));
      data += r[i].bytes;
    }
    *result = out;
    return true;
  }

  // One onreceive call's worth: a single receive, or all the datagrams of one batch.
  struct ReceivedGroup {
    const Received* first;
    size_t n;
  };

  // ReceiveSink: onreceive(token, result array | batch array | null, wsa, sysErrno, syscall, icmp)
  static void DeliverReceived(void* ctx, const Received* done, size_t count) {
    std::vector<ReceivedGroup> groups;
    for (size_t i = 0; i < count;) {
      size_t n = 1;
      if (done[i].data != nullptr)
        while (i + n < count && done[i + n].data != nullptr && done[i + n].token == done[i].token) n++;
      groups.push_back(ReceivedGroup{done + i, n});
      i += n;
    }
    // All of them in one callback scope: the caller's code (promise reactions, nextTicks)
    // runs once every receive of this wake is settled, not between two of them. Between
    // them it could make a receive that completes at once, and so before the receives
    // made ahead of it that this wake completed (order), and on Linux one whose recvmmsg
    // writes into the slots that still hold a batch of this wake, not yet copied (that
    // batch would come back with the new datagrams, its own lost). The ffi-rs backend
    // settles a wake's receives in one JS turn too.
    static_cast<Socket*>(ctx)->Emit<ReceivedGroup, 6>("onreceive", groups.data(), groups.size(),
                                                      [](Napi::Env env, const ReceivedGroup& g, napi_value* argv) {
      const Received& r = *g.first;
      argv[0] = Napi::Number::New(env, r.token);
      OsError err = r.err;
      if (r.bytes < 0) {
        argv[1] = env.Null();
      } else if (r.data == nullptr) {
        argv[1] = ReceivedToJs(env, r);
      } else if (!BatchToJs(env, g.first, g.n, &argv[1])) {
        argv[1] = env.Null();
        err = OsError{WSAENOBUFS_, 0, "recvmmsg", false, {}};
      }
      ErrorArgs(env, err, argv + 2);
    }, true);
  }

  // allowEmpty(): the next send call may carry 0-byte views (read_payload). Only the next:
  // every send call takes the permission as it starts, used or not.
  Napi::Value AllowEmpty(const Napi::CallbackInfo& info) {
    emptyChecked_ = true;
    return info.Env().Undefined();
  }

  bool TakeEmptyChecked() {
    bool was = emptyChecked_;
    emptyChecked_ = false;
    return was;
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    double token = info[0].As<Napi::Number>().DoubleValue();
    long sent = sock_ ? send_cancel(sock_, token) : -1;
    if (sent >= 0) {
      splitBytes_.erase(token);
      ReleaseIfIdle();
    }
    return Napi::Number::New(info.Env(), static_cast<double>(sent));
  }

  // connect(record): the destination fields of a plan record.
  Napi::Value Connect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!sock_) return Fail(env, WSAENOTSOCK_, "connect");
    Endpoint peer;
    Buf rec;
    if (!read_view(env, info[0], &rec) || rec.len < plan::kSize || !decode_endpoint(rec.data, &peer))
      return Fail(env, WSAEFAULT_, "connect");
    return Napi::Boolean::New(env, sock_connect(sock_, peer, &err_));
  }

  Napi::Value ShutdownSend(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!sock_) return Fail(env, WSAENOTSOCK_, "shutdown");
    return Napi::Boolean::New(env, sock_shutdown_send(sock_, &err_));
  }

  // address() -> [address, port, family (4|6), scope] or -1 (see lastError)
  Napi::Value Address(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!sock_) return Fail(env, WSAENOTSOCK_, "getsockname");
    Endpoint ep;
    char text[64];
    if (!sock_local_address(sock_, &ep, &err_)) return Napi::Number::New(env, kSendFailed);
    if (!format_ip(ep.ip, text, sizeof(text))) return Fail(env, WSAEFAULT_, "getsockname");
    Napi::Array out = Napi::Array::New(env, 4);
    out.Set(0u, Napi::String::New(env, text));
    out.Set(1u, Napi::Number::New(env, ep.port));
    out.Set(2u, Napi::Number::New(env, ep.ip.family));
    out.Set(3u, Napi::Number::New(env, ep.ip.scope));
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (sock_ && sock_is_open(sock_)) {
      sock_close(sock_, &Socket::Deliver, this);
      ReleaseIfIdle();
    }
    return info.Env().Undefined();
  }

  Napi::Value LastError(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env, 4);
    napi_value argv[4];
    ErrorArgs(env, err_, argv);
    for (uint32_t i = 0; i < 4; i++) out.Set(i, argv[i]);
    return out;
  }

  Napi::Value PendingCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), sock_ ? static_cast<double>(send_pending_count(sock_)) : 0);
  }

  Napi::Value SegmentationOffload(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), sock_ && sock_is_open(sock_) && sock_segmentation_offload(sock_));
  }

  Napi::Value ReceiveOffload(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), sock_ && sock_receive_offload(sock_));
  }

  Napi::Value PerDatagramTos(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), sock_ && sock_per_datagram_tos(sock_));
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), sock_ && sock_is_open(sock_) ? static_cast<double>(sock_handle(sock_)) : -1);
  }

  Napi::Value Fail(Napi::Env env, int wsa, const char* syscall) {
    err_ = OsError{wsa, 0, syscall, false, {}};
    return Napi::Number::New(env, kSendFailed);
  }

  long FailCode(int wsa) {
    err_ = OsError{wsa, 0, kSendSyscall, false, {}};
    lastSent_ = 0;
    return kSendFailed;
  }

  napi_value FailJs(napi_env env, int wsa) {
    FailCode(wsa);
    return FailureToJs(env, 0, 0);
  }

  // A failed send, returned directly: [wsa, sysErrno, syscall, icmp, sent, failedIndex].
  // wsa != 0 replaces err_ with a shim-made failure. A split send reports the segments
  // that went before the failure.
  napi_value FailureToJs(napi_env env, size_t sent, size_t failedIndex, int wsa = 0) {
    if (wsa) FailCode(wsa);
    if (sent == 0 && lastSent_) sent = failedIndex = lastSent_;
    lastSent_ = 0;
    napi_value argv[4], out;
    ErrorArgs(Napi::Env(env), err_, argv);
    napi_create_array_with_length(env, 6, &out);
    for (uint32_t i = 0; i < 4; i++) napi_set_element(env, out, i, argv[i]);
    napi_value a, b;
    napi_create_double(env, static_cast<double>(sent), &a);
    napi_create_double(env, static_cast<double>(failedIndex), &b);
    napi_set_element(env, out, 4, a);
    napi_set_element(env, out, 5, b);
    return out;
  }

  // Queued sends need this object (and its JS peer) alive until they complete, even if
  // JS drops every reference to the socket.
  void Hold() {
    if (!held_) {
      Ref();
      held_ = true;
    }
  }

  void ReleaseIfIdle() {
    if (held_ && send_pending_count(sock_) == 0 && recv_pending_count(sock_) == 0) {
      Unref();
      held_ = false;
    }
  }

  // CompletionSink: oncomplete(token, bytes, wsa, sysErrno, syscall, count, icmp)
  static void Deliver(void* ctx, const Completion* done, size_t count) {
    auto* self = static_cast<Socket*>(ctx);
    // A send that went as a batch of its segments completes with the bytes of the whole.
    std::vector<Completion> fixed;
    if (!self->splitBytes_.empty()) {
      fixed.assign(done, done + count);
      for (Completion& c : fixed) {
        auto it = self->splitBytes_.find(c.token);
        if (it == self->splitBytes_.end()) continue;
        if (c.bytes >= 0) c.bytes = static_cast<long>(it->second);
        self->splitBytes_.erase(it);
      }
      done = fixed.data();
    }
    self->Emit<Completion, 7>("oncomplete", done, count, [](Napi::Env env, const Completion& c, napi_value* argv) {
      argv[0] = Napi::Number::New(env, c.token);
      argv[1] = Napi::Number::New(env, static_cast<double>(c.bytes));
      napi_value e[4];
      ErrorArgs(env, c.err, e);
      argv[2] = e[0];
      argv[3] = e[1];
      argv[4] = e[2];
      argv[5] = Napi::Number::New(env, static_cast<double>(c.count));
      argv[6] = e[3];
    });
  }

  // wsa, sysErrno, syscall, icmp: [address, port, type, code, reporter] | null
  static void ErrorArgs(Napi::Env env, const OsError& err, napi_value* argv) {
    argv[0] = Napi::Number::New(env, err.wsa);
    argv[1] = Napi::Number::New(env, err.sys);
    argv[2] = Napi::String::New(env, err.syscall ? err.syscall : "");
    char about[64] = "", reporter[64] = "";
    if (!err.hasIcmp || !format_ip(err.icmp.about.ip, about, sizeof(about))) {
      argv[3] = env.Null();
      return;
    }
    if (err.icmp.reporter.family) format_ip(err.icmp.reporter, reporter, sizeof(reporter));
    Napi::Array icmp = Napi::Array::New(env, 5);
    icmp.Set(0u, Napi::String::New(env, about));
    icmp.Set(1u, Napi::Number::New(env, err.icmp.about.port));
    icmp.Set(2u, Napi::Number::New(env, err.icmp.type));
    icmp.Set(3u, Napi::Number::New(env, err.icmp.code));
    icmp.Set(4u, Napi::String::New(env, reporter));
    argv[3] = icmp;
  }

  // Runs on the JS thread (from libuv, the IOCP dispatcher or close()): calls this.<name>
  // once per item. MakeCallback, not Call: from a libuv callback it is what runs the
  // promise reactions and nextTick queue afterwards, as for any Node I/O completion. The
  // C API, because a failure (an environment shutting down, a throwing callback) must
  // stop delivery, not abort the process.
  // oneTick: all items inside one callback scope, so that nothing but the callbacks runs
  // until the last one has (the ticks and promise reactions run when the scope closes).
  template <typename Item, size_t Argc>
  void Emit(const char* name, const Item* items, size_t count, void (*args)(Napi::Env, const Item&, napi_value*),
            bool oneTick = false) {
    if (registry_->tornDown) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Object recv = Value();
    Napi::Value fn = recv.Get(name);
    napi_callback_scope tick = nullptr;
    if (oneTick && count > 1 && napi_open_callback_scope(env, recv, context_, &tick) != napi_ok) tick = nullptr;
    for (size_t i = 0; i < count && fn.IsFunction(); i++) {
      napi_value argv[Argc];
      args(env, items[i], argv);
      napi_value result;
      if (napi_make_callback(env, context_, recv, fn, Argc, argv, &result) == napi_ok) continue;
      // User code that ran in the callback's tick (a completion callback, deferred with
      // nextTick) threw: report it as Node reports any throwing I/O callback, and deliver
      // the rest, which are already out of the native queues. No exception pending means
      // the environment can no longer run JS: stop.
      bool pending = false;
      napi_value exception;
      if (napi_is_exception_pending(env, &pending) != napi_ok || !pending ||
          napi_get_and_clear_last_exception(env, &exception) != napi_ok)
        break;
      napi_fatal_exception(env, exception);
    }
    if (tick) napi_close_callback_scope(env, tick);
    ReleaseIfIdle();
  }

  struct BatchItem {
    Views views;
    Endpoint to;
  };

  // The single sends' record as last decoded (Send), and what it decoded to.
  struct DecodedRecord {
    bool valid = false;
    uint8_t rec[plan::kSize];
    Endpoint to;
    SendSpec spec{};
    uint32_t maxBytes = 0;
    bool split = false;
  };

  // A number for a plan just decoded (SendSpec::planId): never 0, never twice (64 bits).
  uint64_t NewPlanId() { return ++planIds_; }

  PlatformSocket* sock_ = nullptr;
  const uint8_t* plan_ = nullptr;  // the record's bytes (planRef_ keeps them alive)
  Napi::Reference<Napi::Value> planRef_;
  bool held_ = false;
  bool emptyChecked_ = false;      // allowEmpty() was called for the next send call
  std::vector<BatchItem> batch_;  // reused by every sendBatch on this socket
  std::vector<SendSpec> specs_;
  std::vector<long> eachResults_;  // sendEach's, reused
  std::vector<OsError> eachErrs_;
  std::vector<Received> recvOut_;  // recvBatch's immediate results, reused
  uint32_t batchMaxBytes_ = 0;     // the limit of the record SendBatch decoded last
  DecodedRecord single_;
  uint64_t planIds_ = 0;
  size_t lastSent_ = 0;           // segments sent before a split send failed
  std::unordered_map<double, double> splitBytes_;  // token -> bytes, for pending split sends
  OsError err_;
  Napi::AsyncContext context_;
  std::shared_ptr<Registry> registry_;
};

void TeardownSockets(void* arg) {
  auto* holder = static_cast<std::shared_ptr<Registry>*>(arg);
  Registry& reg = **holder;
  reg.tornDown = true;
  for (Socket* s : reg.sockets) s->Teardown();
  delete holder;
}

Napi::Value ErrorTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, kWsaTableSize);
  for (int i = 0; i < kWsaTableSize; i++) {
    Napi::Array row = Napi::Array::New(env, 4);
    row.Set(0u, Napi::String::New(env, kWsaTable[i].name));
    row.Set(1u, Napi::Number::New(env, kWsaTable[i].number));
    row.Set(2u, Napi::String::New(env, kWsaTable[i].message));
    row.Set(3u, Napi::Boolean::New(env, kWsaTable[i].onLinux));
    out.Set(static_cast<uint32_t>(i), row);
  }
  return out;
}

}  // namespace

Napi::Value LiveCountsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LiveCounts c = live_counts();
  Napi::Object out = Napi::Object::New(env);
  out.Set("sockets", Napi::Number::New(env, c.sockets));
  out.Set("pollHandles", Napi::Number::New(env, c.pollHandles));
  out.Set("queuedSends", Napi::Number::New(env, c.queuedSends));
  return out;
}

// {name: value} of abi_facts(): what the ffi-rs backend's layout table must match.
Napi::Value AbiLayoutJs(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  abi_facts([](void* ctx, const char* name, long value) {
    auto* o = static_cast<Napi::Object*>(ctx);
    o->Set(name, Napi::Number::New(o->Env(), static_cast<double>(value)));
  }, &out);
  return out;
}

// nameToIndex(name): if_nametoindex, for the planner's %zone names (0 = no such interface).
Napi::Value NameToIndexJs(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  return Napi::Number::New(info.Env(), name.size() < 64 ? interface_index(name.c_str()) : 0);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  uv_loop_s* uvLoop = nullptr;
  napi_get_uv_event_loop(env, &uvLoop);
  data->loop.uvLoop = uvLoop;
  data->loop.dispatcher = TsfnDispatcher::Create(env);
  data->registry = std::make_shared<Registry>();
  napi_add_env_cleanup_hook(env, TeardownSockets, new std::shared_ptr<Registry>(data->registry));
  Napi::Function socketClass = Socket::Define(env);
  data->socketClass = Napi::Persistent(socketClass);
  env.SetInstanceData(data);
  exports.Set("NativeSocket", socketClass);
  exports.Set("errorTable", Napi::Function::New(env, ErrorTable));
  exports.Set("liveCounts", Napi::Function::New(env, LiveCountsJs));
  exports.Set("abiLayout", Napi::Function::New(env, AbiLayoutJs));
  exports.Set("nameToIndex", Napi::Function::New(env, NameToIndexJs));
#ifdef _WIN32
  exports.Set("platform", Napi::String::New(env, "win32"));
#else
  exports.Set("platform", Napi::String::New(env, "posix"));
#endif
  const char* wine = host_wine_version();
  exports.Set("wineVersion", wine ? Napi::Value(Napi::String::New(env, wine)) : env.Null());
  exports.Set("maxBuffers", Napi::Number::New(env, kMaxBuffers));
  exports.Set("maxBatch", Napi::Number::New(env, kMaxBatch));
  exports.Set("maxOffloadSegments", Napi::Number::New(env, kMaxSegments));
  exports.Set("sendSyscall", Napi::String::New(env, kSendSyscall));
  return exports;
}

}  // namespace shim

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return shim::Init(env, exports); }

NODE_API_MODULE(sendmsg_shim, InitModule)
