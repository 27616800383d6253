#!/usr/bin/env node
// npm run prebuild [-- linux-x64 linux-arm64 win32-x64]: builds the prebuilt addons that
// ship in the package, with cmake-js, into prebuilds/<platform>-<arch>/ (node-gyp-build's
// layout): linux-x64 natively, linux-arm64 with cmake/aarch64-linux-gnu.cmake and win32-x64
// with cmake/mingw-w64-x86_64.cmake, both Linux builds with SHIM_PORTABLE (static C++
// runtime, glibc 2.28 symbols at most). Runs on a Linux x64 host with Debian's cross
// toolchains: g++-aarch64-linux-gnu, g++-mingw-w64-x86-64-posix (.ci/run installs them).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const TARGETS = {
  'linux-x64': { file: 'node.napi.glibc.node', compiler: 'g++', args: ['--CDSHIM_PORTABLE=ON'] },
  'linux-arm64': {
    file: 'node.napi.glibc.node', compiler: 'aarch64-linux-gnu-g++', apt: 'g++-aarch64-linux-gnu',
    args: ['--CDSHIM_PORTABLE=ON', '--CDCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake'],
  },
  'win32-x64': {
    file: 'node.napi.node', compiler: 'x86_64-w64-mingw32-g++-posix', apt: 'g++-mingw-w64-x86-64-posix',
    args: ['--CDCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake'],
  },
};

const wanted = process.argv.slice(2);
for (const t of wanted) if (!TARGETS[t]) throw new Error(`prebuild: unknown target ${t} (known: ${Object.keys(TARGETS).join(', ')})`);
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`prebuild: runs on a Linux x64 host (this is ${process.platform}-${process.arch})`);
  process.exit(1);
}
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
let failed = 0;
for (const [target, t] of Object.entries(TARGETS)) {
  if (wanted.length && !wanted.includes(target)) continue;
  if (spawnSync('sh', ['-c', `command -v ${t.compiler}`], { stdio: 'ignore' }).status !== 0) {
    console.error(`prebuild ${target}: ${t.compiler} not found${t.apt ? ` (apt-get install ${t.apt})` : ''}`);
    failed++;
    continue;
  }
  const out = join('build-prebuild', target);
  console.log(`prebuild ${target}: cmake-js compile ${t.args.join(' ')}`);
  const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', out, ...t.args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`prebuild ${target}: the build failed`);
    failed++;
    continue;
  }
  const dir = join(root, 'prebuilds', target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, t.file);
  copyFileSync(join(root, out, 'Release', 'sendmsg_shim.node'), dest);
  console.log(`prebuild ${target}: ${relative(root, dest)} (${statSync(dest).size} bytes)`);
}
process.exit(failed ? 1 : 0);
