// WSAGetLastError() and IOCP completion statuses -> the one WSAE enum. Winsock numbers are
// already the enum's numbers; this file only folds the codes Winsock (or Wine, which
// passes Linux errnos through) uses for conditions the shim names differently.
#include "win32.h"

namespace shim {

static int from_wsa(int e) {
  switch (e) {
    case WSAECONNREFUSED:  // Wine's spelling of a UDP port unreachable
    case WSAECONNRESET:
      return WSAECONNRESET_;
    case WSAEDESTADDRREQ:
    case WSAENOTCONN:
      return WSAENOTCONN_;
    case WSAEBADF:
    case WSAENOTSOCK:
    case WSA_INVALID_HANDLE:
      return WSAENOTSOCK_;
    case WSAEPROTOTYPE:
    case WSAESOCKTNOSUPPORT:
    case WSAEPROTONOSUPPORT:
      return WSAEPROTONOSUPPORT_;
    case WSAEPFNOSUPPORT:
    case WSAEAFNOSUPPORT:
      return WSAEAFNOSUPPORT_;
    case WSA_NOT_ENOUGH_MEMORY:
    case WSAENOBUFS:
      return WSAENOBUFS_;
    case WSAEMFILE: return WSAEMFILE_;
    default:
      for (int i = 0; i < kWsaTableSize; i++) {
        if (kWsaTable[i].number == e) return e;
      }
      return WSASYSCALLFAILURE_;
  }
}

void set_os_error(OsError* err, int wsaErr, const char* syscall, const PlatformSocket*,
                  ErrContext) {
  err->sys = wsaErr;
  err->syscall = syscall;
  err->wsa = from_wsa(wsaErr);
}

void set_shim_error(OsError* err, int wsa, const char* syscall) {
  err->wsa = wsa;
  err->sys = 0;
  err->syscall = syscall;
}

// NTSTATUS values a UDP send completion can carry (ntstatus.h names, numbers inline so
// that the file needs no DDK header).
static int from_ntstatus(DWORD st) {
  switch (st) {
    case 0xC0000120: return WSA_OPERATION_ABORTED_;  // STATUS_CANCELLED
    case 0xC000023F:                                  // STATUS_PORT_UNREACHABLE
    case 0xC000020D:                                  // STATUS_CONNECTION_RESET
    case 0xC0000236:                                  // STATUS_CONNECTION_REFUSED
      return WSAECONNRESET_;
    case 0xC000023D: return WSAEHOSTUNREACH_;  // STATUS_HOST_UNREACHABLE
    case 0xC000023C: return WSAENETUNREACH_;   // STATUS_NETWORK_UNREACHABLE
    case 0xC000A012: return WSAENETRESET_;     // STATUS_HOPLIMIT_EXCEEDED (TTL expiry)
    case 0xC0000206:                           // STATUS_INVALID_BUFFER_SIZE
    case 0x80000005:                           // STATUS_BUFFER_OVERFLOW
      return WSAEMSGSIZE_;
    case 0xC000009A:  // STATUS_INSUFFICIENT_RESOURCES
    case 0xC0000017:  // STATUS_NO_MEMORY
      return WSAENOBUFS_;
    case 0xC0000022: return WSAEACCES_;  // STATUS_ACCESS_DENIED
    case 0xC000000D: return WSAEINVAL_;  // STATUS_INVALID_PARAMETER
    // What a stack without the asked offload (USO) may complete a send with; WSAEOPNOTSUPP
    // is what Winsock makes of it at the call, and what send.cc's offload_refused looks for.
    case 0xC00000BB: return WSAEOPNOTSUPP_;  // STATUS_NOT_SUPPORTED
    case 0xC00000B5: return WSAETIMEDOUT_;  // STATUS_IO_TIMEOUT
    case 0xC0000008:  // STATUS_INVALID_HANDLE
    case 0xC0000024:  // STATUS_OBJECT_TYPE_MISMATCH
      return WSAENOTSOCK_;
    case 0xC000020C: return WSAENOTCONN_;  // STATUS_CONNECTION_DISCONNECTED
    case 0xC0000241: return WSAESHUTDOWN_;  // STATUS_CONNECTION_ABORTED (after shutdown)
    default: return WSASYSCALLFAILURE_;
  }
}

// Win32 errors, as GetQueuedCompletionStatus / GetOverlappedResult report them.
static int from_win32(DWORD e) {
  switch (e) {
    case ERROR_OPERATION_ABORTED: return WSA_OPERATION_ABORTED_;
    case ERROR_PORT_UNREACHABLE:
    case ERROR_CONNECTION_REFUSED:
    case ERROR_NETNAME_DELETED:
      return WSAECONNRESET_;
    case ERROR_HOST_UNREACHABLE: return WSAEHOSTUNREACH_;
    case ERROR_NETWORK_UNREACHABLE: return WSAENETUNREACH_;
    case ERROR_MORE_DATA: return WSAEMSGSIZE_;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_NO_SYSTEM_RESOURCES:
      return WSAENOBUFS_;
    case ERROR_TIMEOUT:
    case ERROR_SEM_TIMEOUT:
      return WSAETIMEDOUT_;
    case ERROR_ACCESS_DENIED: return WSAEACCES_;
    case ERROR_INVALID_HANDLE: return WSAENOTSOCK_;
    default: return from_wsa(static_cast<int>(e));
  }
}

void set_completion_error(OsError* err, DWORD status) {
  err->sys = static_cast<int>(status);
  err->syscall = "WSASendMsg";
  err->wsa = (status & 0xC0000000u) ? from_ntstatus(status) : from_win32(status);
}

}  // namespace shim
