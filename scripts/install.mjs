#!/usr/bin/env node
// npm's install step. The package ships prebuilt addons (prebuilds/, see README "Install"),
// so this usually does nothing: it compiles with cmake-js only when no prebuild suits this
// platform, or when the user asks (npm rebuild sendmsg-shim --build-from-source, or
// SENDMSG_SHIM_BUILD_FROM_SOURCE=1). A build that cannot run or fails is reported and is
// not fatal where something else will work: a prebuild, or on Linux x64/arm64 the ffi-rs
// backend. Elsewhere it is. npm 12 runs no install scripts of dependencies at all: nothing
// here is then needed where a prebuild exists.
// SENDMSG_SHIM_IMPLEMENTATION=ffi skips the build: the caller has chosen ffi-rs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { findPrebuild, FROM_SOURCE_MARK } = require('./find-prebuild.cjs');
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = `${process.platform}-${process.arch}`;

if (process.env.SENDMSG_SHIM_IMPLEMENTATION === 'ffi') {
  console.log('sendmsg-shim: SENDMSG_SHIM_IMPLEMENTATION=ffi, not building the native addon');
  process.exit(0);
}
const yes = (v) => v !== undefined && v !== '' && v !== '0' && v !== 'false';
const forced = yes(process.env.SENDMSG_SHIM_BUILD_FROM_SOURCE) || yes(process.env.npm_config_build_from_source);
const prebuild = findPrebuild(root);
rmSync(join(root, FROM_SOURCE_MARK), { force: true });
if (prebuild && !forced) {
  console.log(`sendmsg-shim: using the prebuilt addon ${relative(root, prebuild)}; nothing to build`);
  process.exit(0);
}

const why = forced ? 'a source build was asked for' : `no prebuilt addon for ${target}`;
let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js');
} catch {
  notBuilt(`${why}, and cmake-js is not installed, so the addon cannot be built here. To build it: ` +
    'npm install cmake-js@8.0.0 node-addon-api@8.9.2 (dependencies of this package that the install left out), then npm rebuild sendmsg-shim --build-from-source ' +
    '(needs cmake, a C++17 compiler and Node\'s headers)', 1);
}
console.log(`sendmsg-shim: ${why}; building the native addon with cmake-js`);
const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { cwd: root, stdio: 'inherit' });
if (r.status === 0) {
  if (forced) {
    mkdirSync(dirname(join(root, FROM_SOURCE_MARK)), { recursive: true });
    writeFileSync(join(root, FROM_SOURCE_MARK), 'build/Release was built from source on request; src/binding.ts loads it before prebuilds/\n');
  }
  process.exit(0);
}
notBuilt('building the native addon failed (see above); it needs cmake, a C++17 compiler and Node\'s headers', r.status ?? 1);

// The build did not happen: say so, and fail the install only if nothing else can work.
function notBuilt(reason, status) {
  if (prebuild) {
    console.warn(`sendmsg-shim: ${reason}. The prebuilt addon ${relative(root, prebuild)} stays in use.`);
    process.exit(0);
  }
  let ffiRs = false;
  try {
    require.resolve('ffi-rs');
    ffiRs = ['linux-x64', 'linux-arm64'].includes(target);
  } catch {
    // not installed (an optional dependency with no binary for this platform)
  }
  if (!ffiRs) {
    console.error(`sendmsg-shim: ${reason}.`);
    process.exit(status);
  }
  console.warn(`sendmsg-shim: ${reason}; sendmsg-shim will use its ffi-rs backend, ` +
    'which needs no compiler but sends single datagrams about half as fast. For the addon, install cmake and a C++17 compiler, ' +
    'then run: npm rebuild sendmsg-shim --build-from-source');
  process.exit(0);
}
