// WSARecvMsg with IN_PKTINFO / IN6_PKTINFO on the way in, overlapped like sends: a receive
// that completes at once returns at once (skip-on-success); one that waits completes
// through the completion port, and receives on one socket complete in submission order.
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
  out->bytes = static_cast<long>(bytes);
  out->truncated = truncated;
  sockaddr_to_endpoint(p->from, &out->from);
  if (p->msg.Control.len == 0) return;
  for (WSACMSGHDR* c = WSA_CMSG_FIRSTHDR(&p->msg); c; c = WSA_CMSG_NXTHDR(&p->msg, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      IN_PKTINFO pi;
      std::memcpy(&pi, WSA_CMSG_DATA(c), sizeof(pi));
      out->hasDestination = true;
      out->destination = IpAddr{};
      out->destination.family = 4;
      std::memcpy(out->destination.bytes, &pi.ipi_addr, 4);
      out->ifindex = pi.ipi_ifindex;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      IN6_PKTINFO pi;
      std::memcpy(&pi, WSA_CMSG_DATA(c), sizeof(pi));
      out->hasDestination = true;
      out->destination = IpAddr{};
      out->destination.family = 6;
      std::memcpy(out->destination.bytes, &pi.ipi6_addr, 16);
      out->ifindex = pi.ipi6_ifindex;
    } else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) ||
               (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS)) {
      INT tos;
      std::memcpy(&tos, WSA_CMSG_DATA(c), sizeof(tos));
      out->tos = tos;
    }
  }
}

void deliver_recv(void* arg) {
  auto* p = static_cast<PendingRecv*>(arg);
  PlatformSocket* s = p->s;
  p->done = true;
  std::vector<Received> ready;
  for (PendingRecv* head : take_ready(s->recvInFlight)) {
    Received r;
    finish(head, head->bytes, 0, head->status, &r);
    ready.push_back(r);
    delete head;
    g_inFlight--;
  }
  if (ready.empty()) return;
  io_finished(s);
  if (s->recvSink) s->recvSink(s->recvSinkCtx, ready.data(), ready.size());
}

long recv_overlapped(PlatformSocket* s, uint8_t* data, size_t len, double token, ReceiveSink sink,
                     void* ctx, Received* out, OsError* err) {
  if (s->sock == INVALID_SOCKET) {
    set_shim_error(err, WSAENOTSOCK_, "WSARecvMsg");
    return kSendFailed;
  }
  auto* p = new PendingRecv();
  p->s = s;
  p->dispatcher = s->dispatcher;
  p->token = token;
  start(s, p, data, len);
  DWORD bytes = 0;
  int rc = s->wsaRecvMsg(s->sock, &p->msg, &bytes, &p->head.ov, nullptr);
  int e = rc == 0 ? 0 : WSAGetLastError();
  if (e == WSA_IO_PENDING) {
    s->recvSink = sink;
    s->recvSinkCtx = ctx;
    io_started(s);
    s->recvInFlight.push_back(p);
    g_inFlight++;
    return kSendPending;
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

bool recv_cancel(PlatformSocket* s, double token) {
  cancel_in_flight(s->sock, s->recvInFlight, token);
  return false;
}

size_t recv_pending_count(const PlatformSocket* s) { return s->recvInFlight.size(); }

}  // namespace shim
