#!/usr/bin/env bash
# npm run test:ffi — the shared suite against the ffi-rs backend, as a machine without a
# C++ compiler has it: the addon is looked for where no build exists, in this process and
# in every child process the tests start, and SENDMSG_SHIM_IMPLEMENTATION=ffi says that is
# meant (without it each process would print the fallback warning, which tests that check
# stderr would see; test/implementation.test.ts covers the automatic fallback itself).
# The differential test skips here: it needs both backends.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build:ts --silent
export SENDMSG_SHIM_ADDON="$PWD/build/no-addon-here/sendmsg_shim.node"
export SENDMSG_SHIM_TEST_IMPLEMENTATION=ffi
export SENDMSG_SHIM_IMPLEMENTATION=ffi
npx vitest run
