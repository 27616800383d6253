// The published shape: `npm pack`, then `npm install <tarball>` in an empty project, as a
// user has it. The tarball carries the prebuilt addons (npm run prebuild), so an install
// needs no compiler and no install script (npm 12 runs none for dependencies): tested with
// --ignore-scripts and no compiler on PATH. A source build happens only on request, and a
// failed one leaves the prebuild in use; with neither, Linux falls back to ffi-rs. Without
// prebuilds/ the install tests skip visibly (CI sets SENDMSG_SHIM_REQUIRE_PREBUILDS=1, and
// then they run and a missing prebuild fails them).
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindOf, PREBUILDS } from './helpers/binaries';
import { isPosix, wine } from './helpers/platform';

const root = join(__dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'sendmsg-shim-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const required = process.env.SENDMSG_SHIM_REQUIRE_PREBUILDS === '1';
const havePrebuilds = required || Object.values(PREBUILDS).every((p) => existsSync(join(root, p.file)));
const linuxX64 = isPosix && !wine && process.platform === 'linux' && process.arch === 'x64';

// Sends 'from tarball' from 127.0.0.2 and prints what a node:dgram receiver saw, the
// implementation and the addon file it loaded (read from the installed dist/ by path).
const MAIN = `
      const dgram = require('node:dgram');
      const path = require('node:path');
      const shim = require('sendmsg-shim');
      const { addonFile } = require(path.join(path.dirname(require.resolve('sendmsg-shim')), 'binding.js'));
      const rx = dgram.createSocket('udp4');
      rx.bind(0, '127.0.0.1', async () => {
        const s = await shim.openSocket({ type: 'udp4' });
        rx.on('message', async (m, rinfo) => {
          console.log(JSON.stringify({ got: [m.toString(), rinfo.address], implementation: shim.implementation, addonFile }));
          rx.close(); await s.close();
        });
        await shim.sendMsg(s, { buffers: [Buffer.from('from '), Buffer.from('tarball')], to: { address: '127.0.0.1', port: rx.address().port }, control: { sourceAddress: '127.0.0.2' } });
      });`;

// npm run as node + npm-cli.js, so that PATH can hold nothing but node.
let npmCli: string | undefined;
function npm(cwd: string, args: string[], env: Record<string, string | undefined> = {}): SpawnSyncReturns<string> {
  const e: Record<string, string | undefined> = { ...process.env, SENDMSG_SHIM_ADDON: undefined, SENDMSG_SHIM_IMPLEMENTATION: undefined, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  npmCli ??= process.env.npm_execpath?.endsWith('.js') ? process.env.npm_execpath
    : realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
  return spawnSync(process.execPath, [npmCli, ...args, '--no-audit', '--no-fund'], { cwd, env: e, encoding: 'utf8', timeout: 300_000 });
}
function run(app: string, env: Record<string, string | undefined> = {}) {
  const e: Record<string, string | undefined> = { ...process.env, SENDMSG_SHIM_ADDON: undefined, SENDMSG_SHIM_IMPLEMENTATION: undefined, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  const r = spawnSync(process.execPath, ['main.cjs'], { cwd: app, env: e, encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) throw new Error(`main.cjs failed (${r.status}): ${r.stderr}`);
  return { ...(JSON.parse(r.stdout) as { got: [string, string]; implementation: string; addonFile: string | null }), stderr: r.stderr };
}
function emptyApp(name: string): string {
  const app = join(work, name);
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  writeFileSync(join(app, 'main.cjs'), MAIN);
  return app;
}
const out = (r: SpawnSyncReturns<string>) => r.stdout + r.stderr;

// The npm pack test runs on Linux (npm here; the Windows and arm64 lanes install the same
// tarball with --os/--cpu under Wine and qemu).
describe.skipIf(!isPosix || wine)(`packed tarball${isPosix && !wine ? '' : ' (skipped: packs and installs on Linux only)'}`, () => {
  it('contains what a source build needs, the prebuilds, and nothing else', () => {
    const json = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
    const files: string[] = JSON.parse(json)[0].files.map((f: { path: string }) => f.path).sort();
    for (const need of ['CMakeLists.txt', 'package.json', 'README.md', 'native/addon.cc', 'native/errors.def', 'native/shim.h',
      'native/glibc_compat.cc', 'native/napi_host_win32.cc', 'cmake/mingw-w64-x86_64.cmake',
      'platform/posix/send.cc', 'platform/win32/send.cc', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/cli.js',
      'dist/ffi/socket.js', 'scripts/install.mjs', 'scripts/find-prebuild.cjs', 'LICENSE', 'docs/usage.md', 'docs/bench.svg',
      'examples/echo-server.ts', 'examples/demo.mjs']) expect(files).toContain(need);
    if (havePrebuilds) for (const p of Object.values(PREBUILDS)) expect(files).toContain(p.file);
    const shipped = ['scripts/install.mjs', 'scripts/find-prebuild.cjs'];
    const stray = files.filter((f) => (/^(test|build[^/]*|node_modules|scripts|bench|docs\/api|\.ci)\//.test(f) && !shipped.includes(f)) ||
      (f.endsWith('.node') && !f.startsWith('prebuilds/')));
    expect(stray).toEqual([]);
  });

  it('every relative link of README and docs/, and every file the CLI help names, is in the tarball', () => {
    const json = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
    const files = new Set<string>(JSON.parse(json)[0].files.map((f: { path: string }) => f.path));
    const pages = [...files].filter((f) => f === 'README.md' || /^docs\/[^/]+\.md$/.test(f));
    expect(pages.length).toBeGreaterThan(5);
    const missing: string[] = [];
    for (const page of pages) {
      const text = readFileSync(join(root, page), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;  // https:, mailto:
        const resolved = posix.normalize(posix.join(posix.dirname(page), target!));
        if (!files.has(resolved)) missing.push(`${page} -> ${target}`);
      }
    }
    for (const [, cited] of readFileSync(join(root, 'src/cli.ts'), 'utf8').matchAll(/\b((?:examples|docs)\/[\w.-]+\.\w+)/g)) {
      if (!files.has(cited!)) missing.push(`src/cli.ts -> ${cited}`);
    }
    expect(missing).toEqual([]);
  });

  describe.skipIf(!havePrebuilds || !linuxX64)(`installed from the tarball${havePrebuilds ? (linuxX64 ? '' : ' (skipped: linux-x64 only)') : ' (skipped: no prebuilds/ here: npm run prebuild)'}`, () => {
    let tgz = '';
    beforeAll(() => {
      execFileSync('npm', ['pack', '--pack-destination', work], { cwd: root, stdio: 'ignore' });
      tgz = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
    }, 120_000);

    it('holds the three prebuilds, each for its machine: ELF x86-64, ELF aarch64, PE32+', () => {
      const x = join(work, 'unpacked');
      mkdirSync(x);
      execFileSync('tar', ['xzf', tgz, '-C', x]);
      for (const p of Object.values(PREBUILDS)) expect([p.file, kindOf(join(x, 'package', p.file))]).toEqual([p.file, p.kind]);
    });

    it('npm install --ignore-scripts with no compiler on PATH: the prebuilt addon, and only the run-time packages', () => {
      const bin = join(work, 'bin-node-only');
      mkdirSync(bin);
      symlinkSync(process.execPath, join(bin, 'node'));
      const env = { PATH: bin };
      // Nothing on this PATH can compile: no cc, c++, g++, clang or cmake.
      const cc = spawnSync('/bin/sh', ['-c', 'command -v cc || command -v c++ || command -v gcc || command -v g++ || command -v clang || command -v cmake'], { env });
      expect(cc.status).not.toBe(0);
      const app = emptyApp('no-scripts');
      const install = npm(app, ['install', '--ignore-scripts', tgz], env);
      expect(install.status, out(install)).toBe(0);
      expect(existsSync(join(app, 'node_modules/sendmsg-shim/build'))).toBe(false);
      const r = run(app, env);
      expect(r.got).toEqual(['from tarball', '127.0.0.2']);
      expect(r.implementation).toBe('addon');
      expect(r.addonFile).toBe(join(app, 'node_modules/sendmsg-shim', PREBUILDS['linux-x64'].file));
      expect(r.stderr).toBe('');
      // What the install brought besides sendmsg-shim itself: the loader, ffi-rs, and cmake-js
      // with node-addon-api, so that npm install can build the addon where no prebuild fits.
      const lock = JSON.parse(readFileSync(join(app, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
      const brought = Object.keys(lock.packages).map((p) => p.replace(/^.*node_modules\//, '')).filter((n) => n && n !== 'sendmsg-shim').sort();
      expect(brought).toEqual(expect.arrayContaining(['@yuuang/ffi-rs-linux-x64-gnu', 'cmake-js', 'ffi-rs', 'node-addon-api', 'node-gyp-build']));
      // README states the figure.
      const readme = readFileSync(join(root, 'README.md'), 'utf8');
      expect(/brings (\d+) more packages on\s+Linux x64/.exec(readme)?.[1]).toBe(String(brought.length));
    }, 300_000);

    it('with install scripts: nothing is built; a source build asked for that cannot compile says so, and the prebuild stays', () => {
      const app = emptyApp('scripts');
      const env = { CXX: '/bin/false', CC: '/bin/false' };
      const install = npm(app, ['install', '--foreground-scripts', tgz], env);
      expect(install.status, out(install)).toBe(0);
      expect(out(install)).toContain('sendmsg-shim: using the prebuilt addon prebuilds/linux-x64/node.napi.glibc.node; nothing to build');
      expect(existsSync(join(app, 'node_modules/sendmsg-shim/build'))).toBe(false);
      const forced = npm(app, ['rebuild', 'sendmsg-shim', '--foreground-scripts'], { ...env, SENDMSG_SHIM_BUILD_FROM_SOURCE: '1' });
      expect(forced.status, out(forced)).toBe(0);
      expect(out(forced)).toContain('a source build was asked for; building the native addon with cmake-js');
      expect(out(forced)).toContain('building the native addon failed (see above)');
      expect(out(forced)).toContain('The prebuilt addon prebuilds/linux-x64/node.napi.glibc.node stays in use.');
      const r = run(app);
      expect([r.implementation, r.addonFile]).toEqual(['addon', join(app, 'node_modules/sendmsg-shim', PREBUILDS['linux-x64'].file)]);
    }, 300_000);

    it('npm rebuild --build-from-source: a failing compiler leaves the prebuild in use; a working one builds, and that build is loaded', () => {
      const app = emptyApp('from-source');
      const install = npm(app, ['install', tgz]);  // cmake-js and node-addon-api come as dependencies
      expect(install.status, out(install)).toBe(0);
      const pkg = join(app, 'node_modules/sendmsg-shim');
      const broken = npm(app, ['rebuild', 'sendmsg-shim', '--build-from-source', '--foreground-scripts'], { CXX: '/bin/false', CC: '/bin/false' });
      expect(broken.status, out(broken)).toBe(0);
      expect(out(broken)).toContain('building the native addon failed (see above)');
      expect(out(broken)).toContain('stays in use');
      expect(run(app).addonFile).toBe(join(pkg, PREBUILDS['linux-x64'].file));
      const built = npm(app, ['rebuild', 'sendmsg-shim', '--build-from-source', '--foreground-scripts']);
      expect(built.status, out(built)).toBe(0);
      expect(out(built)).toContain('a source build was asked for; building the native addon with cmake-js');
      expect(existsSync(join(pkg, 'build/from-source'))).toBe(true);
      const r = run(app);
      expect(r.got).toEqual(['from tarball', '127.0.0.2']);
      expect([r.implementation, r.addonFile]).toEqual(['addon', join(pkg, 'build/Release/sendmsg_shim.node')]);
    }, 300_000);

    it('no prebuild for the platform and nothing built: ffi-rs runs it, with the fallback warning', () => {
      const app = emptyApp('no-prebuild');
      const install = npm(app, ['install', '--ignore-scripts', tgz]);
      expect(install.status, out(install)).toBe(0);
      // As on a platform the package ships no binary for.
      rmSync(join(app, 'node_modules/sendmsg-shim/prebuilds/linux-x64'), { recursive: true });
      const r = run(app);
      expect(r.got).toEqual(['from tarball', '127.0.0.2']);
      expect([r.implementation, r.addonFile]).toEqual(['ffi', null]);
      expect(r.stderr).toContain('SENDMSG_SHIM_FFI_FALLBACK');
      expect(r.stderr).toContain('npm rebuild sendmsg-shim --build-from-source');
    }, 300_000);
  });
});
