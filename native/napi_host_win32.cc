// Windows: where the addon's Node-API functions come from. A DLL linked against an import
// library for node.exe loads only into a process whose executable is named node.exe; a
// renamed node.exe, a single-executable application or Electron has another name and the
// load fails. So the addon imports nothing from the host by name: for every function in
// node-api-headers' node_api.def (CMakeLists.txt writes the list to napi_exports.inc) it
// defines the function itself as a one-instruction trampoline through a pointer slot, named
// __imp_<function> as an import library would name it, and fills the slots when the DLL
// loads, from the module that exports Node-API: the running executable (node.exe under any
// name, Electron, a SEA), else a node.dll / libnode.dll embedding. A function the host does
// not export answers napi_generic_failure instead of jumping to address 0.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

namespace {
// napi_status is an enum; 9 is napi_generic_failure in every Node-API version.
extern "C" int shim_napi_missing() { return 9; }
}  // namespace

extern "C" {
#define SHIM_NAPI(name) void* __imp_##name = reinterpret_cast<void*>(&shim_napi_missing);
#include "napi_exports.inc"
#undef SHIM_NAPI
}

// The trampolines: napi_x jumps to whatever __imp_napi_x holds.
__asm__(".text\n"
#define SHIM_NAPI(name) \
  ".globl " #name "\n.def " #name "; .scl 2; .type 32; .endef\n" #name ":\n\tjmp *__imp_" #name "(%rip)\n"
#include "napi_exports.inc"
#undef SHIM_NAPI
);

namespace {
struct Slot {
  const char* name;
  void** slot;
};
const Slot kSlots[] = {
#define SHIM_NAPI(name) {#name, &__imp_##name},
#include "napi_exports.inc"
#undef SHIM_NAPI
};

HMODULE napi_host() {
  const wchar_t* const candidates[] = {nullptr, L"node.dll", L"libnode.dll"};
  for (const wchar_t* name : candidates) {
    HMODULE m = GetModuleHandleW(name);
    if (m && GetProcAddress(m, "napi_module_register")) return m;
  }
  return nullptr;
}

// Runs while the DLL loads (the C runtime's DllMain), before Node looks up
// napi_register_module_v1; GetModuleHandle and GetProcAddress are safe there.
__attribute__((constructor)) void resolve_napi() {
  HMODULE host = napi_host();
  if (!host) return;  // every call answers napi_generic_failure; the module init fails cleanly
  for (const Slot& s : kSlots) {
    FARPROC f = GetProcAddress(host, s.name);
    if (f) *s.slot = reinterpret_cast<void*>(f);
  }
}
}  // namespace
