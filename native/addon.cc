// N-API glue: turns JS values into the OS-free contract of shim.h and results back into
// plain numbers. Arguments arrive validated by src/; checks here are assertions that keep
// a bug in the TS layer from becoming memory corruption.
#include <napi.h>

#include <mutex>
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

bool read_string(napi_env env, napi_value v, char* out, size_t cap) {
  size_t len = 0;
  return napi_get_value_string_utf8(env, v, out, cap, &len) == napi_ok && len + 1 < cap;
}

bool read_ip(napi_env env, napi_value v, IpAddr* out) {
  char text[80];
  return read_string(env, v, text, sizeof(text)) && parse_ip(text, out);
}

// One ArrayBufferView into b; false if v is not a view or its buffer is detached.
bool read_view(napi_env env, napi_value v, Buf* b) {
  bool is = false;
  void* data = nullptr;
  size_t length = 0;
  napi_value ab;
  size_t offset = 0;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok)
      return false;
    static const size_t kSize[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
    length *= type < sizeof(kSize) / sizeof(kSize[0]) ? kSize[type] : 1;
  } else if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    if (napi_get_dataview_info(env, v, &length, &data, &ab, &offset) != napi_ok) return false;
  } else {
    return false;
  }
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, ab, &detached) != napi_ok || detached) return false;
  b->data = static_cast<const uint8_t*>(data);
  b->len = length;
  return true;
}

// What one message carries, decoded from (buffers, toAddress, toPort, source, ifindex,
// flags, tos, segmentSize); tos is -1 for none, segmentSize 0 for none.
constexpr uint32_t kSendArgs = 8;
struct DecodedSend {
  Buf inlineBufs[16];
  std::vector<Buf> heapBufs;
  Endpoint to;
  IpAddr source;
  SendSpec spec{};
};

// 0, or the Wsa code to fail with: WSAEFAULT for a buffer src/ should have refused,
// WSAEINVAL for an address that does not parse (e.g. a %zone no interface has), or what
// the OS-free encoder refuses (size, flags, families).
int decode_send(napi_env env, const napi_value* v, PlatformSocket* s, DecodedSend* d) {
  napi_value bufs = v[0];
  bool isArray = false;
  napi_is_array(env, bufs, &isArray);
  Buf* out = d->inlineBufs;
  size_t n = 1;
  if (isArray) {
    uint32_t len = 0;
    napi_get_array_length(env, bufs, &len);
    if (len > kMaxBuffers) return WSAEFAULT_;
    n = len;
    if (n > 16) {
      d->heapBufs.resize(n);
      out = d->heapBufs.data();
    }
    for (uint32_t i = 0; i < len; i++) {
      napi_value el;
      if (napi_get_element(env, bufs, i, &el) != napi_ok || !read_view(env, el, &out[i])) return WSAEFAULT_;
    }
  } else if (!read_view(env, bufs, &out[0])) {
    return WSAEFAULT_;
  }
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += out[i].len;

  napi_valuetype type;
  const Endpoint* to = nullptr;
  napi_typeof(env, v[1], &type);
  if (type == napi_string) {
    if (!read_ip(env, v[1], &d->to.ip)) return WSAEINVAL_;
    uint32_t port = 0;
    napi_get_value_uint32(env, v[2], &port);
    d->to.port = static_cast<uint16_t>(port);
    to = &d->to;
  }
  const IpAddr* source = nullptr;
  napi_typeof(env, v[3], &type);
  if (type == napi_string) {
    if (!read_ip(env, v[3], &d->source)) return WSAEINVAL_;
    source = &d->source;
  }
  uint32_t ifindex = 0, flags = 0;
  int32_t tos = -1;
  uint32_t segmentSize = 0;
  napi_get_value_uint32(env, v[4], &ifindex);
  napi_get_value_uint32(env, v[5], &flags);
  napi_get_value_int32(env, v[6], &tos);
  napi_get_value_uint32(env, v[7], &segmentSize);

  d->spec.bufs = out;
  d->spec.nbufs = n;
  d->spec.to = to;
  d->spec.flags = flags;
  return plan_send(sock_kind(s), sock_peer_family(s), to, source, ifindex, flags, tos, segmentSize, total,
                   &d->spec.pktinfo);
}

int decode_args(const Napi::CallbackInfo& info, PlatformSocket* s, DecodedSend* d) {
  napi_value v[kSendArgs];
  for (size_t i = 0; i < kSendArgs; i++) v[i] = info[i];
  return decode_send(info.Env(), v, s, d);
}

class Socket : public Napi::ObjectWrap<Socket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSocket",
                       {
                           InstanceMethod<&Socket::Open>("open"),
                           InstanceMethod<&Socket::SendSync>("sendSync"),
                           InstanceMethod<&Socket::SendAsync>("sendAsync"),
                           InstanceMethod<&Socket::SendBatch>("sendBatch"),
                           InstanceMethod<&Socket::LastBatch>("lastBatch"),
                           InstanceMethod<&Socket::Cancel>("cancel"),
                           InstanceMethod<&Socket::Recv>("recv"),
                           InstanceMethod<&Socket::CancelRecv>("cancelRecv"),
                           InstanceMethod<&Socket::Connect>("connect"),
                           InstanceMethod<&Socket::ShutdownSend>("shutdownSend"),
                           InstanceMethod<&Socket::Address>("address"),
                           InstanceMethod<&Socket::Close>("close"),
                           InstanceMethod<&Socket::LastError>("lastError"),
                           InstanceAccessor<&Socket::PendingCount>("pendingCount"),
                           InstanceAccessor<&Socket::SegmentationOffload>("segmentationOffload"),
                           InstanceAccessor<&Socket::Fd>("fd"),
                       });
  }

  // new NativeSocket(oncomplete): oncomplete(token, bytes, wsa, sysErrno, syscall, count, icmp)
  // The callback is kept as a property of this object, not in a C++ persistent: it closes
  // over the JS Socket, which holds this object, and a strong persistent in that cycle
  // would make every socket immortal.
  explicit Socket(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<Socket>(info),
        context_(info.Env(), "sendmsg-shim:send"),
        registry_(info.Env().GetInstanceData<AddonData>()->registry) {
    info.This().As<Napi::Object>().Set("oncomplete", info[0]);
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
  //      bindAddress|null, bindPort, icmpErrors, ttl, dontFragment, recvPktinfo) -> boolean
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
      if (!read_ip(env, info[7], &spec.bind.ip)) return Fail(env, WSAEINVAL_, "bind");
      spec.bind.port = static_cast<uint16_t>(info[8].As<Napi::Number>().Uint32Value());
    }
    spec.icmpErrors = static_cast<IcmpMode>(info[9].As<Napi::Number>().Uint32Value());
    spec.ttl = info[10].As<Napi::Number>().Int32Value();
    spec.dontFragment = info[11].ToBoolean();
    spec.recvPktinfo = info[12].ToBoolean();
    sock_ = sock_open(spec, env.GetInstanceData<AddonData>()->loop, &err_);
    return Napi::Boolean::New(env, sock_ != nullptr);
  }

  Napi::Value SendSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!sock_) return Fail(env, WSAENOTSOCK_, kSendSyscall);
    DecodedSend d;
    if (int wsa = decode_args(info, sock_, &d)) return Fail(env, wsa, kSendSyscall);
    return Napi::Number::New(env, static_cast<double>(send_now(sock_, d.spec, SendMode::Blocking, &err_)));
  }

  // sendAsync(..., token) -> bytes, -1 (failed: see lastError) or -2 (pending: oncomplete later)
  Napi::Value SendAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!sock_) return Fail(env, WSAENOTSOCK_, kSendSyscall);
    DecodedSend d;
    if (int wsa = decode_args(info, sock_, &d)) return Fail(env, wsa, kSendSyscall);
    double token = info[kSendArgs].As<Napi::Number>().DoubleValue();
    long r = send_overlapped(sock_, d.spec, token, &Socket::Deliver, this, &err_);
    if (r == kSendPending) Hold();
    return Napi::Number::New(env, static_cast<double>(r));
  }

  // sendBatch(flat, n, overlapped, token): flat holds n groups of the kSendArgs send arguments.
  // -> n (all sent), -1 (failed: lastError, lastBatch), -2 (pending: one completion later)
  Napi::Value SendBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    lastBatch_ = {0, 0};
    if (!sock_) return Fail(env, WSAENOTSOCK_, kSendSyscall);
    napi_value flat = info[0];
    uint32_t n = info[1].As<Napi::Number>().Uint32Value();
    bool overlapped = info[2].ToBoolean();
    double token = info[3].As<Napi::Number>().DoubleValue();
    if (n > kMaxBatch) return Fail(env, WSAEFAULT_, kSendSyscall);
    if (batch_.size() < n) batch_.resize(n);  // no reallocation below: specs point into it
    if (specs_.size() < n) specs_.resize(n);
    for (uint32_t i = 0; i < n; i++) {
      napi_value v[kSendArgs];
      for (uint32_t k = 0; k < kSendArgs; k++) napi_get_element(env, flat, i * kSendArgs + k, &v[k]);
      // What the shim refuses fails the whole batch before anything is sent.
      if (int wsa = decode_send(env, v, sock_, &batch_[i])) {
        lastBatch_ = {0, i};
        return Fail(env, wsa, kSendSyscall);
      }
      specs_[i] = batch_[i].spec;
    }
    size_t sent = 0;
    long r = send_batch(sock_, specs_.data(), n, overlapped ? SendMode::Overlapped : SendMode::Blocking, token,
                        &Socket::Deliver, this, &sent, &err_);
    lastBatch_ = {static_cast<uint32_t>(sent), static_cast<uint32_t>(sent)};
    if (r == kSendPending) Hold();
    return Napi::Number::New(env, static_cast<double>(r));
  }

  // [sent, failedIndex] of the last sendBatch that failed at once.
  Napi::Value LastBatch(const Napi::CallbackInfo& info) {
    Napi::Array out = Napi::Array::New(info.Env(), 2);
    out.Set(0u, Napi::Number::New(info.Env(), lastBatch_.sent));
    out.Set(1u, Napi::Number::New(info.Env(), lastBatch_.failedIndex));
    return out;
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

  // ReceiveSink: onreceive(token, result array | null, wsa, sysErrno, syscall, icmp)
  static void DeliverReceived(void* ctx, const Received* done, size_t count) {
    static_cast<Socket*>(ctx)->Emit<Received, 6>("onreceive", done, count, [](Napi::Env env, const Received& r, napi_value* argv) {
      argv[0] = Napi::Number::New(env, r.token);
      argv[1] = r.bytes >= 0 ? napi_value(ReceivedToJs(env, r)) : napi_value(env.Null());
      ErrorArgs(env, r.err, argv + 2);
    });
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    bool removed = sock_ && send_cancel(sock_, info[0].As<Napi::Number>().DoubleValue());
    if (removed) ReleaseIfIdle();
    return Napi::Boolean::New(info.Env(), removed);
  }

  Napi::Value Connect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!sock_) return Fail(env, WSAENOTSOCK_, "connect");
    Endpoint peer;
    if (!read_ip(env, info[0], &peer.ip)) return Fail(env, WSAEINVAL_, "connect");
    peer.port = static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value());
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

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), sock_ && sock_is_open(sock_) ? static_cast<double>(sock_handle(sock_)) : -1);
  }

  Napi::Value Fail(Napi::Env env, int wsa, const char* syscall) {
    err_ = OsError{wsa, 0, syscall, false, {}};
    return Napi::Number::New(env, kSendFailed);
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
    static_cast<Socket*>(ctx)->Emit<Completion, 7>("oncomplete", done, count, [](Napi::Env env, const Completion& c, napi_value* argv) {
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
  template <typename Item, size_t Argc>
  void Emit(const char* name, const Item* items, size_t count, void (*args)(Napi::Env, const Item&, napi_value*)) {
    if (registry_->tornDown) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Object recv = Value();
    Napi::Value fn = recv.Get(name);
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
    ReleaseIfIdle();
  }

  PlatformSocket* sock_ = nullptr;
  bool held_ = false;
  std::vector<DecodedSend> batch_;  // reused by every sendBatch on this socket
  std::vector<SendSpec> specs_;
  struct {
    uint32_t sent;
    uint32_t failedIndex;
  } lastBatch_{0, 0};
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
#ifdef _WIN32
  exports.Set("platform", Napi::String::New(env, "win32"));
#else
  exports.Set("platform", Napi::String::New(env, "posix"));
#endif
  const char* wine = host_wine_version();
  exports.Set("wineVersion", wine ? Napi::Value(Napi::String::New(env, wine)) : env.Null());
  exports.Set("maxBuffers", Napi::Number::New(env, kMaxBuffers));
  exports.Set("maxBatch", Napi::Number::New(env, kMaxBatch));
  exports.Set("sendSyscall", Napi::String::New(env, kSendSyscall));
  return exports;
}

}  // namespace shim

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return shim::Init(env, exports); }

NODE_API_MODULE(sendmsg_shim, InitModule)
