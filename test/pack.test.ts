// The published shape: `npm pack`, then `npm install <tarball>` in an empty project, as a
// user has it. The tarball carries the prebuilt addons (npm run prebuild), so an install
// needs no compiler and no install script (npm 12 runs none for dependencies): tested with
// --ignore-scripts and no compiler on PATH, and it brings only the run-time packages. A
// source build happens only on request (or where no prebuild fits): it fetches the pinned
// cmake-js and node-addon-api into the package at that moment, and a failed fetch or compile
// leaves the prebuild in use; with neither, Linux falls back to ffi-rs. Without prebuilds/
// the install tests skip visibly (CI sets SENDMSG_SHIM_REQUIRE_PREBUILDS=1, and then they
// run and a missing prebuild fails them); without the npm registry, so do the source builds.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
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

// The build tools a source build fetches: the exact versions in package.json's devDependencies.
const devDependencies = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies;
const tools = ['cmake-js', 'node-addon-api'].map((name) => `${name}@${devDependencies[name]}`).join(' ');
const TOOLCHAIN = 'build-toolchain';

// Those tests need the npm registry at build time, as a user's source build does; without
// it they skip and say why.
function registryProblem(): string | undefined {
  const r = npm(work, ['ping', '--fetch-retries=0', '--fetch-timeout=20000']);
  if (r.status === 0) return undefined;
  const lines = out(r).split('\n').map((l) => l.replace(/^npm error\s*/, '').trim());
  return `the npm registry is unreachable: ${lines.find((l) => l.includes('reason:')) ?? lines.find((l) => l) ?? `npm ping exited ${r.status}`}`;
}
const offline = havePrebuilds && linuxX64 ? registryProblem() : undefined;

// A registry that refuses connections (a port just freed) and an empty cache: a fetch fails
// at once, as it does offline.
async function deadRegistry(): Promise<Record<string, string>> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return { npm_config_registry: `http://127.0.0.1:${port}/`, npm_config_fetch_retries: '0', npm_config_cache: mkdtempSync(join(work, 'cache-')) };
}

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
      // What the install brought besides sendmsg-shim itself: the loader, and ffi-rs with its
      // binary for this platform. No build tools: a source build fetches its own.
      const lock = JSON.parse(readFileSync(join(app, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
      const brought = Object.keys(lock.packages).map((p) => p.replace(/^.*node_modules\//, '')).filter((n) => n && n !== 'sendmsg-shim').sort();
      expect(brought).toEqual(['@yuuang/ffi-rs-linux-x64-gnu', 'ffi-rs', 'node-gyp-build']);
      // npm's own count agrees (it counts sendmsg-shim too).
      expect(out(install)).toContain(`added ${brought.length + 1} packages`);
      // README states the figure.
      const readme = readFileSync(join(root, 'README.md'), 'utf8');
      expect(/brings (\d+) more packages on\s+Linux x64/.exec(readme)?.[1]).toBe(String(brought.length));
    }, 300_000);

    it('with install scripts: nothing is built; a forced source build whose build tools cannot be fetched says so, and the prebuild stays', async () => {
      const app = emptyApp('scripts');
      const env = { CXX: '/bin/false', CC: '/bin/false' };
      const install = npm(app, ['install', '--foreground-scripts', tgz], env);
      expect(install.status, out(install)).toBe(0);
      expect(out(install)).toContain('sendmsg-shim: using the prebuilt addon prebuilds/linux-x64/node.napi.glibc.node; nothing to build');
      const pkg = join(app, 'node_modules/sendmsg-shim');
      expect(existsSync(join(pkg, 'build'))).toBe(false);
      const forced = npm(app, ['rebuild', 'sendmsg-shim', '--foreground-scripts'], { ...env, ...await deadRegistry(), SENDMSG_SHIM_BUILD_FROM_SOURCE: '1' });
      expect(forced.status, out(forced)).toBe(0);
      expect(out(forced)).toContain(`a source build was asked for; fetching ${tools} into ${TOOLCHAIN}/`);
      expect(out(forced)).toContain(`the build tools ${tools} could not be fetched (see above). To build the addon: make the npm registry reachable, ` +
        `or npm install ${tools} in your project, then run npm rebuild sendmsg-shim --build-from-source`);
      expect(out(forced)).toContain('The prebuilt addon prebuilds/linux-x64/node.napi.glibc.node stays in use.');
      expect(existsSync(join(pkg, 'build'))).toBe(false);
      const r = run(app);
      expect([r.implementation, r.addonFile]).toEqual(['addon', join(pkg, PREBUILDS['linux-x64'].file)]);
    }, 300_000);

    it('no prebuild for the platform and nothing built: ffi-rs runs it, with the fallback warning', async () => {
      const app = emptyApp('no-prebuild');
      const install = npm(app, ['install', '--ignore-scripts', tgz]);
      expect(install.status, out(install)).toBe(0);
      // As on a platform the package ships no binary for.
      rmSync(join(app, 'node_modules/sendmsg-shim/prebuilds/linux-x64'), { recursive: true });
      // Its install script cannot fetch the build tools either: not an install failure where
      // ffi-rs will work.
      const rebuild = npm(app, ['rebuild', 'sendmsg-shim', '--foreground-scripts'], await deadRegistry());
      expect(rebuild.status, out(rebuild)).toBe(0);
      expect(out(rebuild)).toContain(`no prebuilt addon for linux-x64; fetching ${tools} into ${TOOLCHAIN}/`);
      expect(out(rebuild)).toContain(`the build tools ${tools} could not be fetched (see above)`);
      expect(out(rebuild)).toContain('sendmsg-shim will use its ffi-rs backend');
      const r = run(app);
      expect(r.got).toEqual(['from tarball', '127.0.0.2']);
      expect([r.implementation, r.addonFile]).toEqual(['ffi', null]);
      expect(r.stderr).toContain('SENDMSG_SHIM_FFI_FALLBACK');
      expect(r.stderr).toContain('npm rebuild sendmsg-shim --build-from-source');
    }, 300_000);

    describe.skipIf(!!offline)(`source builds, their build tools fetched from the npm registry${offline ? ` (skipped: ${offline})` : ''}`, () => {
      it('SENDMSG_SHIM_BUILD_FROM_SOURCE=1 npm install <tarball>: fetches the pinned build tools into the package, builds build/Release and loads it', () => {
        const app = emptyApp('forced-install');
        const install = npm(app, ['install', '--foreground-scripts', tgz], { SENDMSG_SHIM_BUILD_FROM_SOURCE: '1' });
        expect(install.status, out(install)).toBe(0);
        const pkg = join(app, 'node_modules/sendmsg-shim');
        expect(out(install)).toContain(`a source build was asked for; fetching ${tools} into ${TOOLCHAIN}/`);
        expect(out(install)).toContain(`building the native addon with cmake-js ${devDependencies['cmake-js']} (${TOOLCHAIN}/node_modules/cmake-js/bin/cmake-js)`);
        for (const name of ['cmake-js', 'node-addon-api']) {
          const fetched = JSON.parse(readFileSync(join(pkg, TOOLCHAIN, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
          expect([name, fetched.version]).toEqual([name, devDependencies[name]]);
        }
        // Compiled against the fetched node-addon-api.
        expect(readFileSync(join(pkg, 'build/CMakeCache.txt'), 'utf8')).toContain(`NODE_ADDON_API_DIR:UNINITIALIZED=${join(pkg, TOOLCHAIN, 'node_modules/node-addon-api')}\n`);
        expect(existsSync(join(pkg, 'build/from-source'))).toBe(true);
        expect(kindOf(join(pkg, 'build/Release/sendmsg_shim.node'))).toBe('ELF x86-64');
        const r = run(app);
        expect(r.got).toEqual(['from tarball', '127.0.0.2']);
        expect([r.implementation, r.addonFile]).toEqual(['addon', join(pkg, 'build/Release/sendmsg_shim.node')]);
        // The build tools stay inside sendmsg-shim: the project's own tree has no more packages.
        const lock = JSON.parse(readFileSync(join(app, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
        expect(Object.keys(lock.packages).sort()).toEqual(['node_modules/@yuuang/ffi-rs-linux-x64-gnu', 'node_modules/ffi-rs',
          'node_modules/node-gyp-build', 'node_modules/sendmsg-shim']);
      }, 300_000);

      it('npm rebuild --build-from-source: a failing compiler leaves the prebuild in use; a working one builds with the tools already fetched, and that build is loaded', () => {
        const app = emptyApp('from-source');
        const install = npm(app, ['install', tgz]);
        expect(install.status, out(install)).toBe(0);
        const pkg = join(app, 'node_modules/sendmsg-shim');
        const broken = npm(app, ['rebuild', 'sendmsg-shim', '--build-from-source', '--foreground-scripts'], { CXX: '/bin/false', CC: '/bin/false' });
        expect(broken.status, out(broken)).toBe(0);
        expect(out(broken)).toContain(`fetching ${tools} into ${TOOLCHAIN}/`);
        expect(out(broken)).toContain('building the native addon failed (see above)');
        expect(out(broken)).toContain('stays in use');
        expect(run(app).addonFile).toBe(join(pkg, PREBUILDS['linux-x64'].file));
        // cmake-js removed build/ after the failed compile; the build tools are not in it.
        expect(existsSync(join(pkg, TOOLCHAIN, 'node_modules/cmake-js/bin/cmake-js'))).toBe(true);
        const built = npm(app, ['rebuild', 'sendmsg-shim', '--build-from-source', '--foreground-scripts']);
        expect(built.status, out(built)).toBe(0);
        expect(out(built)).not.toContain('fetching');
        expect(out(built)).toContain(`a source build was asked for; building the native addon with cmake-js ${devDependencies['cmake-js']} (${TOOLCHAIN}/`);
        expect(existsSync(join(pkg, 'build/from-source'))).toBe(true);
        const r = run(app);
        expect(r.got).toEqual(['from tarball', '127.0.0.2']);
        expect([r.implementation, r.addonFile]).toEqual(['addon', join(pkg, 'build/Release/sendmsg_shim.node')]);
      }, 300_000);

      it('no prebuild for the platform: npm install builds the addon with the fetched build tools, and it is loaded', () => {
        const app = emptyApp('no-prebuild-built');
        const install = npm(app, ['install', '--ignore-scripts', tgz]);
        expect(install.status, out(install)).toBe(0);
        const pkg = join(app, 'node_modules/sendmsg-shim');
        rmSync(join(pkg, 'prebuilds/linux-x64'), { recursive: true });
        // The install script as npm install runs it (npm rebuild runs the same lifecycle).
        const rebuild = npm(app, ['rebuild', 'sendmsg-shim', '--foreground-scripts']);
        expect(rebuild.status, out(rebuild)).toBe(0);
        expect(out(rebuild)).toContain(`no prebuilt addon for linux-x64; fetching ${tools} into ${TOOLCHAIN}/`);
        expect(out(rebuild)).toContain('no prebuilt addon for linux-x64; building the native addon with cmake-js');
        expect(existsSync(join(pkg, 'build/from-source'))).toBe(false);
        const r = run(app);
        expect(r.got).toEqual(['from tarball', '127.0.0.2']);
        expect([r.implementation, r.addonFile]).toEqual(['addon', join(pkg, 'build/Release/sendmsg_shim.node')]);
        expect(r.stderr).toBe('');
      }, 300_000);
    });
  });
});
