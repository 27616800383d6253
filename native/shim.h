// The contract between the N-API glue (native/addon.cc) and a platform backend
// (platform/posix, later platform/win32). Types here are OS-free so that the glue and
// the encoder never include a socket header; each backend turns them into msghdr/WSAMSG.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "errors.h"

namespace shim {

struct IpAddr {
  uint8_t family = 0;  // 4 or 6; 0 = none
  uint8_t bytes[16] = {};
  uint32_t scope = 0;  // IPv6 scope id (interface index)
};

struct Endpoint {
  IpAddr ip;
  uint16_t port = 0;
};

struct Buf {
  const uint8_t* data;
  size_t len;
};

enum class SockKind : uint8_t { Udp4, Udp6, Raw4, Raw6 };

// openSocket's icmpErrors (src/binding.ts has the same numbers). Default: nothing on an
// unconnected socket, since one forged ICMP message would fail a reply to an unrelated
// peer; port unreachable on a connected one, as both OSes report by default. On: every
// ICMP error fails one later call (IP_RECVERR; SIO_UDP_CONNRESET + SIO_UDP_NETRESET).
// Off: none, connected or not.
enum class IcmpMode : uint8_t { Default = 0, On = 1, Off = 2 };

struct OpenSpec {
  SockKind kind;
  bool recvPktinfo;        // report each received datagram's destination address and TOS
  int protocol;         // raw only
  bool ipv6Only;        // udp6 only
  bool broadcast;
  bool reusePort;       // udp: SO_REUSEPORT (Linux); win32 refuses it (WSAEOPNOTSUPP)
  bool receiveOffload;  // udp: UDP_GRO (Linux) / UDP_RECV_MAX_COALESCED_SIZE (Windows); best effort
  bool nonBlocking;
  uint32_t sendTimeoutMs;  // 0 = wait forever
  int sendBufferSize;      // 0 = leave the OS default
  IcmpMode icmpErrors;     // udp: which ICMP errors of earlier sends later calls report
  int ttl;                 // 0 = OS default; IP_TTL / IPV6_UNICAST_HOPS
  bool dontFragment;       // IP_PMTUDISC_DO / IPV6_DONTFRAG (IP_DONTFRAGMENT on Windows)
  bool hasBind;
  Endpoint bind;
};

// The earlier datagram an ICMP error is about, where the OS says (Linux's error queue).
struct IcmpReport {
  Endpoint about;      // that datagram's destination
  uint8_t type = 0;
  uint8_t code = 0;
  IpAddr reporter;     // who sent the ICMP message; family 0 when unknown
};

// An OS failure, already translated at the place it happened.
struct OsError {
  int wsa = 0;           // a Wsa value
  int sys = 0;           // what the OS said (errno / WSAGetLastError / NTSTATUS); 0 = shim-made
  const char* syscall = "";
  bool hasIcmp = false;  // icmp is filled: the failure stands for this ICMP error
  IcmpReport icmp;
};

// The control data a send carries, decided by the OS-free encoder: a pktinfo message
// and/or a traffic-class one, each for the destination's family (the dual-stack rule).
struct PktinfoPlan {
  enum Kind : uint8_t { None, V4, V6 } kind = None;
  uint8_t addr[16] = {};  // V4: 4 bytes, V6: 16 bytes; all zero = kernel's choice
  uint32_t ifindex = 0;
  Kind tosKind = None;    // V4: IP_TOS (Windows IP_ECN), V6: IPV6_TCLASS (Windows IPV6_ECN)
  uint8_t tos = 0;        // the whole byte; its low two bits are the ECN codepoint
  uint16_t segmentSize = 0;  // UDP_SEGMENT (Windows UDP_SEND_MSG_SIZE); 0 = one datagram
  bool tosWhole = false;  // win32: the whole byte as IP_TOS / IPV6_TCLASS (the stack takes it), else only ECN
};

// Most segments one offloaded send may carry: Linux's UDP_MAX_SEGMENTS; on Windows what USO
// takes (512 on Windows 11, as quinn-udp measured; a stack that refuses more makes the shim
// cut the send into a batch, and stop offloading on that socket).
#ifdef _WIN32
constexpr size_t kMaxSegments = 512;
#else
constexpr size_t kMaxSegments = 64;
#endif

struct SendSpec {
  const Buf* bufs;
  size_t nbufs;
  const Endpoint* to;  // nullptr: the connected peer
  PktinfoPlan pktinfo;
  uint32_t flags;      // MSG_DONTROUTE only; the encoder refused everything else
  // 0, or the socket's number for this `to` and `pktinfo`: sends of one socket with the same
  // nonzero planId have the same destination and control data, so the platform may reuse
  // what it encoded for the one before. decode_plan sets 0; a copy whose to or pktinfo
  // changes must too.
  uint64_t planId;
};

enum class SendMode : uint8_t {
  Blocking,    // sendMsgSync: honours nonBlocking and sendTimeout
  Overlapped,  // sendMsg: never blocks; may return kSendPending
};

// The system call errors name: "sendmsg" (posix) or "WSASendMsg" (win32).
extern const char* const kSendSyscall;

constexpr long kSendFailed = -1;
constexpr long kSendPending = -2;

struct PlatformSocket;  // defined by each backend

// Runs work on one JS thread (one Node environment), from any thread. The glue implements
// it with a thread-safe function; the win32 backend posts IOCP completions through it.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  // Any thread. Returns false if the environment is gone (then fn never runs).
  virtual bool post(void (*fn)(void*), void* arg) = 0;
  // JS thread: keep the event loop alive while sends are in flight, and let it go.
  virtual void hold() = 0;
  virtual void release() = 0;
};

// What a backend may use to complete overlapped sends on the JS thread.
struct EventLoop {
  void* uvLoop;                            // posix: Node's uv_loop_t
  std::shared_ptr<Dispatcher> dispatcher;  // win32
};

// Called by a backend on the JS thread when queued overlapped sends complete.
struct Completion {
  double token;
  long bytes;   // >= 0 (bytes; for a batch the messages sent), or kSendFailed with err set
  OsError err;
  long count = 0;  // a batch: the messages sent, also when it failed
};
using CompletionSink = void (*)(void* ctx, const Completion* done, size_t count);

// One received datagram (or the failure of one receive).
struct Received {
  double token;
  long bytes;          // >= 0, or kSendFailed with err set
  OsError err;
  bool truncated;      // the datagram was longer than the buffer; bytes is what fit
  Endpoint from;
  bool hasDestination; // with recvPktinfo: the address the datagram was sent to
  IpAddr destination;
  uint32_t ifindex;
  int tos;             // -1 when unknown
  // A batch receive (recv_batch): where the bytes are, valid until the sink returns (or,
  // for an immediate result, until the next receive on the socket); the glue copies them.
  const uint8_t* data = nullptr;
  // Receive offload coalesced several datagrams of this size (the last may be shorter)
  // from one sender into this one; 0: a plain datagram.
  uint32_t segment = 0;
};
// Receives complete through this, in the order they were made. A batch delivers one
// Received per datagram, all with its token, consecutively (a failure: one, alone).
using ReceiveSink = void (*)(void* ctx, const Received* done, size_t count);

// --- implemented by platform/<os>/socket.cc, in this order on every platform ---
PlatformSocket* sock_open(const OpenSpec& spec, const EventLoop& loop, OsError* err);
bool sock_connect(PlatformSocket* s, const Endpoint& peer, OsError* err);
bool sock_shutdown_send(PlatformSocket* s, OsError* err);
bool sock_local_address(PlatformSocket* s, Endpoint* out, OsError* err);
bool sock_is_open(const PlatformSocket* s);
// Whether sends with a segmentSize go to the kernel in one call (UDP GSO / USO). It turns
// false for good when the kernel refuses one (the shim then sends the segments as a batch).
bool sock_segmentation_offload(const PlatformSocket* s);
// Puts the offload back as it was just before the last single send the kernel refused to
// segment, when that send's first segment, sent alone, failed the same way: the failure was
// the message's (an IPv6 source address the kernel will not use gives EINVAL too), not the
// offload's. As it was then, not before the call: sends queued ahead of it, flushed by the
// same call, may have shown the refusal to be the socket's.
void sock_restore_segmentation_offload(PlatformSocket* s);
// Whether the whole TOS / traffic-class byte (DSCP and ECN) can be set per datagram: Linux
// always; Windows where the stack takes an IP_TOS control message (a probe says), else ECN only.
bool sock_per_datagram_tos(const PlatformSocket* s);
// Whether receives may coalesce datagrams (receiveOffload asked for and the OS took it).
bool sock_receive_offload(const PlatformSocket* s);
SockKind sock_kind(const PlatformSocket* s);
// Family of the connected peer: 0 = not connected, 4 = IPv4 or v4-mapped, 6 = IPv6.
int sock_peer_family(const PlatformSocket* s);
intptr_t sock_handle(const PlatformSocket* s);
// Closes the socket. Every overlapped send still queued or in flight completes as
// WSA_OPERATION_ABORTED (unless the OS had already sent it) and never goes out later:
// posix delivers those completions to the sink before returning, win32 through the
// usual completion path afterwards.
void sock_close(PlatformSocket* s, CompletionSink sink, void* ctx);
void sock_destroy(PlatformSocket* s);

// --- implemented by platform/<os>/send.cc ---
long send_now(PlatformSocket* s, const SendSpec& spec, SendMode mode, OsError* err);
// Overlapped send: completes at once (bytes or kSendFailed) or queues and returns
// kSendPending; queued sends complete in submission order through the sink.
long send_overlapped(PlatformSocket* s, const SendSpec& spec, double token, CompletionSink sink,
                     void* ctx, OsError* err);
// Up to kMaxBatch messages in order, each with its own buffers, destination and control
// data. Returns n once all are sent, kSendPending (Overlapped: the completion's count says
// how many went), or kSendFailed with *sent the number sent before the one that failed;
// none after it is sent.
long send_batch(PlatformSocket* s, const SendSpec* specs, size_t n, SendMode mode, double token,
                CompletionSink sink, void* ctx, size_t* sent, OsError* err);
constexpr size_t kMaxBatch = 1024;
// n messages as n overlapped sends with the tokens token0, token0 + 1, ..., in order, in as
// few system calls as the OS allows: what a caller gets from n send_overlapped calls, for
// the cost of one. posix: sendmmsg until the send buffer is full, then each of the rest
// parks as send_overlapped does; win32: one loop of overlapped WSASendMsg. A failure fails
// its own message only (the ones after it still go, as separate sends would). results[i]:
// the bytes, kSendPending (completes through the sink under its token) or kSendFailed
// (errs[i] says why).
void send_each(PlatformSocket* s, const SendSpec* specs, size_t n, double token0, CompletionSink sink,
               void* ctx, long* results, OsError* errs);

// --- implemented by platform/<os>/recv.cc ---
// Receives one datagram into data[0..len): fills *out and returns its size at once, or
// queues the receive and returns kSendPending (the sink gets it, in order), or kSendFailed.
long recv_overlapped(PlatformSocket* s, uint8_t* data, size_t len, double token, ReceiveSink sink,
                     void* ctx, Received* out, OsError* err);
// Receives up to max datagrams, each into its own slot of `slot` bytes owned by the
// backend: fills out[0..k) (k >= 1, out has room for max) and returns k at once, or queues
// and returns kSendPending (the sink gets them later, in order with single receives), or
// kSendFailed. posix: recvmmsg; win32: consecutive WSARecvMsg while FIONREAD says more is
// queued. With receive offload a slot may hold several datagrams (Received::segment).
long recv_batch(PlatformSocket* s, size_t slot, size_t max, double token, ReceiveSink sink, void* ctx,
                Received* out, OsError* err);
constexpr size_t kMaxRecvBatch = 1024;
bool recv_cancel(PlatformSocket* s, double token);
size_t recv_pending_count(const PlatformSocket* s);

// Cancels one overlapped send. >= 0: it was removed and will never complete (posix), and
// this many of its datagrams (a batch: whole messages) had gone, as its completion would
// have counted them; -1: it already completed, or (win32) its completion will report the
// cancellation, with that count.
long send_cancel(PlatformSocket* s, double token);
size_t send_pending_count(const PlatformSocket* s);
// Objects a backend has allocated and not yet freed, process-wide; tests use it to prove
// that closing (and garbage collection) leaves nothing behind.
struct LiveCounts {
  long sockets;
  long pollHandles;  // posix: uv_poll_t; win32: the same as queuedSends
  long queuedSends;  // posix: parked in a socket queue; win32: OVERLAPPED requests in flight
};
LiveCounts live_counts();
// The sizes, offsets and constants a backend that builds messages without this compiler
// relies on (the ffi-rs backend, src/ffi/abi.ts): name/value pairs for a test and a load-time
// check to compare. posix reports the Linux ABI; win32 reports nothing (no ffi backend there).
void abi_facts(void (*put)(void* ctx, const char* name, long value), void* ctx);
// Non-null when the process runs under Wine (tests skip what Wine cannot do).
const char* host_wine_version();

// --- OS-free, native/encode.cc ---
// The plan record's layout (native/plan.def): src/plan.ts, the one planner, writes it.
namespace plan {
#define PLAN_FIELD(name, offset, bytes) constexpr size_t name = offset;
#define PLAN_SIZE(n) constexpr size_t kSize = n;
#define PLAN_FLAG(name, value) constexpr uint8_t name = value;
#include "plan.def"
#undef PLAN_FIELD
#undef PLAN_SIZE
#undef PLAN_FLAG
}  // namespace plan

// One plan record into the destination and the control plan of a send. Every decision
// (dual-stack rule, limits, refusals) was made by the planner; this only checks that the
// record is one the planner can write (WSAEFAULT otherwise). *maxBytes: the transport's
// limit for this destination (0 = none); *split: send the segments as a batch.
int decode_plan(const uint8_t* rec, Endpoint* to, SendSpec* spec, uint32_t* maxBytes, bool* split);
// The segments of one send cut into datagrams of `size` bytes, for when the kernel cannot
// cut them (no UDP_SEGMENT / USO, or refused): views over the same memory, no copy. The glue
// cuts a single send whose offload was refused; win32 cuts a batch's message itself, since
// that message's place in the batch is the platform's to keep.
struct Segments {
  std::vector<Buf> bufs;
  std::vector<SendSpec> specs;
};
void cut_segments(const SendSpec& whole, size_t size, Segments* out);
// A bind or connect address: the same record, destination fields only.
bool decode_endpoint(const uint8_t* rec, Endpoint* out);
// if_nametoindex: the planner's lookup of a %zone name; 0 when no interface has it.
uint32_t interface_index(const char* name);
bool is_v4_mapped(const IpAddr& a);
bool format_ip(const IpAddr& a, char* out, size_t cap);  // without the scope

constexpr uint32_t kMsgOob = 0x1;
constexpr uint32_t kMsgDontRoute = 0x4;
constexpr uint32_t kMsgPartial = 0x8000;

}  // namespace shim
