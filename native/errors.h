// The C++ view of native/errors.def. No numbers are written here.
#pragma once

namespace shim {

enum Wsa : int {
  WSA_OK = 0,
#define WSA_ERROR(name, number, message, onLinux) name##_ = number,
#include "errors.def"
#undef WSA_ERROR
};

struct WsaInfo {
  const char* name;
  int number;
  const char* message;
  bool onLinux;
};

// The table in .def order; the addon exports it so a test can compare it with the TS side.
extern const WsaInfo kWsaTable[];
extern const int kWsaTableSize;

}  // namespace shim
