#!/usr/bin/env node
// npm's install step: build the addon with cmake-js. Where that cannot work (no cmake, no
// C++ compiler) the package still installs on Linux x64/arm64 and runs on the ffi-rs
// backend, so a failed build is reported and is not fatal there. Elsewhere it is.
// SENDMSG_SHIM_IMPLEMENTATION=ffi skips the build: the caller has chosen ffi-rs.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

if (process.env.SENDMSG_SHIM_IMPLEMENTATION === 'ffi') {
  console.log('sendmsg-shim: SENDMSG_SHIM_IMPLEMENTATION=ffi, not building the native addon');
  process.exit(0);
}
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { stdio: 'inherit' });
if (r.status === 0) process.exit(0);

let ffiRs = false;
try {
  require.resolve('ffi-rs');
  ffiRs = ['linux-x64', 'linux-arm64'].includes(`${process.platform}-${process.arch}`);
} catch {
  // not installed (an optional dependency with no binary for this platform)
}
if (!ffiRs) {
  console.error('sendmsg-shim: building the native addon failed (see above); it needs cmake, a C++17 compiler and Node\'s headers.');
  process.exit(r.status ?? 1);
}
console.warn('sendmsg-shim: building the native addon failed (see above); sendmsg-shim will use its ffi-rs backend, ' +
  'which needs no compiler but sends single datagrams about half as fast. For the addon, install cmake and a C++17 compiler, ' +
  'then run: npm rebuild sendmsg-shim');
