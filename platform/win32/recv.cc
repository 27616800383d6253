// The receive side of the Windows backend (WSARecvMsg through the completion port) is not
// written yet: every receive fails with WSAEOPNOTSUPP, so code written for Linux gets a
// clear error on Windows instead of a hang.
#include "win32.h"

namespace shim {

long recv_overlapped(PlatformSocket*, uint8_t*, size_t, double, ReceiveSink, void*, Received*, OsError* err) {
  set_shim_error(err, WSAEOPNOTSUPP_, "WSARecvMsg");
  return kSendFailed;
}

bool recv_cancel(PlatformSocket*, double) { return false; }

size_t recv_pending_count(const PlatformSocket*) { return 0; }

}  // namespace shim
