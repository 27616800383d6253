// State shared by the win32 backend's files. Nothing outside platform/win32 includes it.
#pragma once

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "../../native/shim.h"
#include "../../native/sockaddr.h"

// Receive offload (URO, Windows 10 2004+), from ws2ipdef.h, which mingw-w64 lacks.
#ifndef UDP_RECV_MAX_COALESCED_SIZE
#define UDP_RECV_MAX_COALESCED_SIZE 3
#endif
#ifndef UDP_COALESCED_INFO
#define UDP_COALESCED_INFO 3
#endif

namespace shim {

// The process-wide answer of the IP_TOS probe (socket.cc): DSCP can go per datagram.
bool whole_tos_supported();

// Room for the larger pktinfo message and an ECN one.
constexpr size_t kCmsgSpace =
    WSA_CMSG_SPACE(sizeof(IN6_PKTINFO)) + WSA_CMSG_SPACE(sizeof(INT)) + WSA_CMSG_SPACE(sizeof(DWORD));

// The messages of one sendMsgBatch whose completions are still coming; it completes as
// one when the last of them does. A message the stack would not segment goes as several
// sends under its one index, so what was sent is counted by message, not by send.
struct BatchGroup {
  double token;
  size_t total;
  size_t outstanding = 0;
  size_t submitted = 0;        // messages whose every send was made
  std::vector<char> failed;    // per message: one of its sends failed
  size_t failedAt = SIZE_MAX;  // index of the first message that failed
  OsError err;
};

// What every request on the completion port starts with: the port hands back the
// OVERLAPPED's address, and `kind` says which request it is.
enum class IoKind : uint8_t { Send, Recv };
struct IoHead {
  OVERLAPPED ov;
  IoKind kind;
};

// One overlapped WSASendMsg in flight. Everything the kernel reads stays here until the
// completion is delivered, the payload too (`owned`): after WSA_IO_PENDING the kernel may
// still read it when JS has detached, resized or reused the caller's buffers.
struct PendingSend {
  IoHead head{{}, IoKind::Send};  // first
  PlatformSocket* s;  // touched on the JS thread only: the port thread uses `dispatcher`
  std::shared_ptr<Dispatcher> dispatcher;
  double token;
  std::vector<WSABUF> bufs;
  std::vector<uint8_t> owned;
  sockaddr_storage to;
  alignas(WSACMSGHDR) unsigned char control[kCmsgSpace];
  WSAMSG msg;
  DWORD bytes;
  DWORD status;       // NTSTATUS of the completion
  bool done = false;  // completed, waiting for the sends before it (JS thread only)
  bool cancelled = false;  // cancelled on its own (a signal): delivered without waiting
  std::shared_ptr<BatchGroup> group;  // set for a message of a batch
  size_t index = 0;                   // its place in the batch
  bool segmented = false;             // carries UDP_SEND_MSG_SIZE: a refusal is the offload's
};

// One overlapped WSARecvMsg in flight; data is the caller's buffer, kept alive by JS. A
// batch (max > 0) receives into its own slots, one after another while FIONREAD says more
// is queued; `got` holds what its earlier receives brought.
struct PendingRecv {
  IoHead head{{}, IoKind::Recv};  // first
  PlatformSocket* s;  // JS thread only
  std::shared_ptr<Dispatcher> dispatcher;
  double token;
  WSAMSG msg;
  WSABUF buf;
  sockaddr_storage from;
  alignas(WSACMSGHDR) unsigned char control[256];
  DWORD bytes;
  DWORD status;
  int wsaError = 0;  // a single receive that completed at once behind others: its WSAGetLastError
  bool done = false;
  bool cancelled = false;  // cancelled on its own (a signal): delivered without waiting
  size_t slot = 0;
  size_t max = 0;
  std::vector<uint8_t> slots;
  std::vector<Received> got;
};

// Takes the requests that can be delivered now out of a socket's in-flight list: the
// completed ones at its head (submission order), and any completed one cancelled on its
// own, which carries nothing the order could matter for (posix drops those at once too).
template <typename Req>
std::vector<Req*> take_ready(std::deque<Req*>& list) {
  std::vector<Req*> out;
  while (!list.empty() && list.front()->done) {
    out.push_back(list.front());
    list.pop_front();
  }
  for (auto it = list.begin(); it != list.end();) {
    if ((*it)->done && (*it)->cancelled) {
      out.push_back(*it);
      it = list.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

// Cancels the in-flight request(s) with this token. The kernel may still touch its buffers
// until the cancelled completion arrives, so nothing is reported here: that completion
// says WSA_OPERATION_ABORTED, and take_ready delivers it without waiting for earlier ones.
template <typename Req>
void cancel_in_flight(SOCKET sock, std::deque<Req*>& list, double token) {
  if (sock == INVALID_SOCKET) return;
  for (Req* p : list) {
    if (p->token == token) {
      p->cancelled = true;
      CancelIoEx(reinterpret_cast<HANDLE>(sock), &p->head.ov);
    }
  }
}

struct PlatformSocket {
  SOCKET sock = INVALID_SOCKET;
  SockKind kind = SockKind::Udp4;
  bool nonBlocking = false;
  IcmpMode icmp = IcmpMode::Default;
  bool uso = false;  // UDP_SEND_MSG_SIZE usable
  bool usoBeforeRefusal = false;  // uso just before offload_refused last turned it off
  bool uro = false;  // UDP_RECV_MAX_COALESCED_SIZE taken: a receive may hold several datagrams
  // The slots of the last batch that completed at once: its results point into them until
  // the glue has copied them, and the next batch reuses them.
  std::vector<uint8_t> spareSlots;
  int peerFamily = 0;
  LPFN_WSASENDMSG wsaSendMsg = nullptr;
  LPFN_WSARECVMSG wsaRecvMsg = nullptr;
  bool recvPktinfo = false;
  std::deque<PendingRecv*> recvInFlight;  // submission order; JS thread only
  ReceiveSink recvSink = nullptr;
  void* recvSinkCtx = nullptr;
  std::shared_ptr<Dispatcher> dispatcher;
  std::deque<PendingSend*> inFlight;  // submission order; JS thread only
  CompletionSink sink = nullptr;
  void* sinkCtx = nullptr;
};

// Process-wide counts behind live_counts().
extern std::atomic<long> g_liveSockets;
extern std::atomic<long> g_inFlight;

enum class ErrContext { Plain, Send };
// Translates WSAGetLastError() at the call that failed.
// What the control messages of one received datagram say (destination, interface, traffic
// class, URO segment size), into *out; fields the control data does not carry are reset.
void decode_control(WSAMSG* m, Received* out);

void set_os_error(OsError* err, int wsaErr, const char* syscall, const PlatformSocket* s,
                  ErrContext ctx);
void set_shim_error(OsError* err, int wsa, const char* syscall);
// Translates the NTSTATUS (or Win32 error) an IOCP completion carries.
void set_completion_error(OsError* err, DWORD status);

// The one completion port of the process; its thread starts with the first socket.
bool attach_to_completion_port(PlatformSocket* s, OsError* err);
// Keep the event loop alive while a socket has requests in flight (JS thread).
void io_started(PlatformSocket* s);
void io_finished(PlatformSocket* s);
// JS thread: a receive came back from the port (recv.cc).
void deliver_recv(void* arg);

void encode_msg(SockKind kind, const SendSpec& spec, WSAMSG* m, WSABUF* bufs, sockaddr_storage* to,
                unsigned char* control);

}  // namespace shim
