// State shared by the posix backend's files. Nothing outside platform/posix includes it.
#pragma once

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <uv.h>

#include <atomic>
#include <deque>
#include <vector>

#include "../../native/shim.h"
#include "../../native/sockaddr.h"

#ifndef UDP_GRO
#define UDP_GRO 104  // linux/udp.h; glibc's header has it from 2.31
#endif

namespace shim {

// Room for the larger pktinfo message and a traffic-class one.
constexpr size_t kCmsgSpace =
    CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(uint16_t));

// One message encoded once, so that nothing about the caller's arguments is read again.
// While it is being sent in the call that made it, iov points into the caller's buffers;
// once it is parked, into `owned`: the wire then carries what the buffers held when the
// call was made, whatever JS does to them afterwards (detach, resize, reuse, GC).
struct EncodedMsg {
  std::vector<iovec> iov;
  std::vector<uint8_t> owned;
  sockaddr_storage to;
  socklen_t toLen;
  alignas(cmsghdr) unsigned char control[kCmsgSpace];
  size_t controlLen;
  int flags;
  // The UDP_SEGMENT size it carries (0: none), for cutting it if the kernel refuses.
  uint16_t segment = 0;
  // false for every piece but the last of a message cut into its segments: messages are
  // counted by their last pieces.
  bool last = true;
};

// What encode_msg made of one plan (SendSpec::planId): the destination and the control data,
// not the payload. A send with the plan of the one encoded before on its socket (a sender
// repeating its destination and source, the messages of a batch) copies these bytes instead
// of encoding them again. Nothing points into it: copied from and into each message's own
// storage, so a send nested in a flush (the sink runs JS) cannot change another's bytes.
struct EncodedPlan {
  uint64_t planId = 0;  // 0: holds nothing
  sockaddr_in6 name;    // the larger of the two IP sockaddrs
  socklen_t nameLen = 0;
  alignas(cmsghdr) unsigned char control[kCmsgSpace];
  size_t controlLen = 0;
};

// What one batch knows of the kernel's refusals to segment its messages (send.cc's cut_refused).
struct CutState {
  bool retried = false;    // the one resend of a refused message (may_be_pending_icmp)
  size_t at = SIZE_MAX;    // where the last cut began,
  int err = 0;             // for this errno,
  bool gsoBefore = false;  // with offload in this state before it
};

// A send (one message) or a batch parked until the socket is writable; `next` counts the
// encoded messages already sent (pieces of a cut message each count: see EncodedMsg::last).
struct PendingSend {
  double token;
  bool batch;
  std::vector<EncodedMsg> msgs;
  size_t next;
  CutState cut;  // its refusals so far (send.cc's cut_refused)
};

// A receive waiting for a datagram; data points into the caller's buffer, which the JS
// side keeps alive until the completion. A batch (max > 0) has no buffer of its own: it
// receives into the socket's recvSlots when the datagrams are there.
struct PendingRecv {
  double token;
  uint8_t* data;
  size_t len;
  size_t max = 0;
};

// recvmmsg's memory, kept from call to call: max slots of `slot` bytes and what each
// message needs beside them.
struct RecvSlots {
  std::vector<uint8_t> bytes;
  std::vector<mmsghdr> hdrs;
  std::vector<iovec> iov;
  std::vector<sockaddr_storage> from;
  std::vector<unsigned char> control;
  // The headers are laid out for this slot size and count over this memory: the next
  // recvmmsg only resets what the kernel wrote into them (~3% of a flood receiver's time
  // went to laying out 64 headers a call).
  size_t laidSlot = 0, laidMax = 0;
  const uint8_t* laidOver = nullptr;
};

struct PlatformSocket {
  int fd = -1;
  SockKind kind = SockKind::Udp4;
  bool nonBlocking = false;
  IcmpMode icmp = IcmpMode::Default;
  bool gso = false;  // UDP_SEGMENT accepted so far
  bool gsoBeforeRefusal = false;  // gso just before send_now's last refusal (sock_restore_segmentation_offload)
  bool gro = false;  // UDP_GRO on: a receive may hold several datagrams
  bool recvPktinfo = false;
  uint32_t sendTimeoutMs = 0;
  int peerFamily = 0;
  uv_loop_t* loop = nullptr;
  uv_poll_t* poll = nullptr;  // created on the first send that has to wait
  bool polling = false;
  std::deque<PendingSend> queue;
  std::deque<PendingRecv> recvQueue;
  RecvSlots recvSlots;
  bool delivering = false;  // drain_recv's sink is running: its batch's datagrams are in recvSlots
  ReceiveSink recvSink = nullptr;
  void* recvSinkCtx = nullptr;
  std::vector<EncodedMsg> scratch;  // a batch's messages, reused from call to call
  EncodedPlan sendPlan;             // the plan encoded last (encode_msg_memo)
  std::vector<mmsghdr> hdrs;
  CompletionSink sink = nullptr;
  void* sinkCtx = nullptr;
};

// Process-wide counts behind live_counts(); atomics because worker threads each run
// their own sockets.
extern std::atomic<long> g_liveSockets;
extern std::atomic<long> g_livePolls;
extern std::atomic<long> g_queuedSends;

// The one uv_poll of a socket watches for what its queues wait for: writable while sends
// are parked, readable while receives are. Returns false (err set) if it cannot start.
bool poll_update(PlatformSocket* s, OsError* err);
// Sends what the send queue can send now; true once it is empty. Runs JS (the sink).
// pollError: poll reported POLLERR (see take_queued_icmp_error).
bool drain(PlatformSocket* s, bool pollError = false);
// The messages of msgs[0..next) that went whole (a cut message counts once its last piece has).
size_t whole_messages(const std::vector<EncodedMsg>& msgs, size_t next);
// What a completion of p counts: whole messages for a batch; for a single send its datagrams
// that went (segmentsSent), since drain may have cut it into its segments.
long sent_count(const PendingSend& p);
// Completes what the receive queue can receive now. Runs JS (the sink).
void drain_recv(PlatformSocket* s, bool pollError = false);
// Frees a closed socket's recvmmsg slots (up to 64 MiB), unless a batch in them is being
// delivered right now (drain_recv frees them after).
void release_recv_slots(PlatformSocket* s);

enum class ErrContext { Plain, Send };
// Translates errno at the call that failed; Send adds the socket's state to split EAGAIN.
void set_os_error(OsError* err, int sysErrno, const char* syscall, const PlatformSocket* s,
                  ErrContext ctx);
void set_shim_error(OsError* err, int wsa, const char* syscall);

// With icmpErrors, a send that failed because of an earlier ICMP error reads that error
// from the socket's error queue (one entry per failed call) and refines err from it.
void classify_icmp_error(PlatformSocket* s, OsError* err);
// With icmpErrors: false on a connected socket, Linux still returns a pending ICMP port
// unreachable (ECONNREFUSED, cleared by being returned) from the next call; true means
// the caller retries that call once instead of reporting it.
bool swallow_icmp_error(const PlatformSocket* s, int sysErrno);
// How many such errors one call swallows in a row before it reports the errno: one is what
// an ICMP error leaves, but under a flood of them a new one is pending again by the retry
// (review: 20,000 forged a second reached icmpErrors: false sockets); a local failure with
// the same errno (a route lookup) repeats, and is reported after these few tries.
constexpr int kSwallowTries = 4;
// POLLERR woke a send or receive that would still block: the socket's pending error is
// gone but its error-queue entry stays (sendmmsg(2) takes the error with the message it
// fails, returns the count sent before it and drops the error), and poll reports POLLERR
// for as long as the queue holds an entry. The waiting call takes that entry as its
// failure; true: err is set.
bool take_queued_icmp_error(PlatformSocket* s, const char* syscall, OsError* err);

void encode_msg(SockKind kind, const SendSpec& spec, msghdr* m, iovec* iov, sockaddr_storage* to,
                unsigned char* control);
// encode_msg, with the name and control data copied from `memo` when it holds the spec's
// plan (a nonzero planId), and kept there when not.
void encode_msg_memo(SockKind kind, const SendSpec& spec, msghdr* m, iovec* iov, sockaddr_storage* to,
                     unsigned char* control, EncodedPlan* memo);
// What the control messages of one received datagram say (destination, interface, traffic
// class, GRO segment size), into *out; fields the control data does not carry are reset.
void decode_control(msghdr* m, Received* out);
bool has_local_port(const PlatformSocket* s);

}  // namespace shim
