#!/usr/bin/env bash
# npm run test:asan — the shared suite against an AddressSanitizer + UndefinedBehaviorSanitizer
# build of the addon (build-asan/). Node itself is not instrumented: the ASan runtime is
# preloaded, leak checking is left to the suite's own live-object counts (Node keeps
# memory until exit by design), and any ASan or UBSan report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1 -g"
# cmake-js sets CMAKE_CXX_FLAGS itself (after ours), so the sanitizer flags go in the
# build type's own variable; an addon without them would run the suite uninstrumented and
# prove nothing, so the build is checked for ASan's report calls before anything runs.
npx cmake-js compile --out build-asan --CDCMAKE_BUILD_TYPE=RelWithDebInfo \
  "--CDCMAKE_CXX_FLAGS_RELWITHDEBINFO=$FLAGS" "--CDCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined" >/dev/null
if ! nm -D --undefined-only build-asan/Release/sendmsg_shim.node | grep __asan_report >/dev/null; then
  echo "build-asan/Release/sendmsg_shim.node is not instrumented (no __asan_report imports)" >&2
  exit 1
fi
npm run build:ts --silent
ASAN_LIB=$(g++ -print-file-name=libasan.so)
LOG=$(mktemp -d)
export SENDMSG_SHIM_ADDON="$PWD/build-asan/Release/sendmsg_shim.node"
export SHIM_SANITIZER=asan
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$LOG/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$LOG/ubsan"
rc=0
LD_PRELOAD="$ASAN_LIB" npx vitest run || rc=$?
if ls "$LOG"/asan* "$LOG"/ubsan* >/dev/null 2>&1; then
  echo "sanitizer reports:"; cat "$LOG"/asan* "$LOG"/ubsan* 2>/dev/null | head -80; rc=1
fi
rm -rf "$LOG"
exit $rc
