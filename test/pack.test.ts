// The published shape: `npm pack`, then `npm install <tarball>` in an empty project builds
// the addon there (cmake-js and node-addon-api are dependencies) and sends from 127.0.0.2.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isPosix } from './helpers/platform';

const root = join(__dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'sendmsg-shim-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Sends 'from tarball' from 127.0.0.2 and prints what a node:dgram receiver saw.
const MAIN = `
      const dgram = require('node:dgram');
      const { openSocket, sendMsg } = require('sendmsg-shim');
      const rx = dgram.createSocket('udp4');
      rx.bind(0, '127.0.0.1', async () => {
        const s = await openSocket({ type: 'udp4' });
        rx.on('message', async (m, rinfo) => { console.log(JSON.stringify([m.toString(), rinfo.address])); rx.close(); await s.close(); });
        await sendMsg(s, { buffers: [Buffer.from('from '), Buffer.from('tarball')], to: { address: '127.0.0.1', port: rx.address().port }, control: { sourceAddress: '127.0.0.2' } });
      });`;

// The Windows build is cross-compiled (npm run build:win); npm install builds on Linux.
describe.skipIf(!isPosix)(`packed tarball${isPosix ? '' : ' (skipped: builds with cmake-js on Linux only)'}`, () => {
  it('contains what the build needs and nothing else', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
    const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path).sort();
    for (const need of ['CMakeLists.txt', 'package.json', 'README.md', 'native/addon.cc', 'native/errors.def', 'native/shim.h',
      'platform/posix/send.cc', 'platform/win32/send.cc', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/cli.js',
      'dist/ffi/socket.js', 'scripts/install.mjs']) expect(files).toContain(need);
    const stray = files.filter((f) => (/^(test|build|node_modules|scripts|examples|bench|\.ci)\//.test(f) && f !== 'scripts/install.mjs') || f.endsWith('.node'));
    expect(stray).toEqual([]);
  });

  it('installs into an empty project, builds there, and sends a datagram from 127.0.0.2', () => {
    execFileSync('npm', ['pack', '--pack-destination', work], { cwd: root, stdio: 'ignore' });
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
    const app = join(work, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', join(work, tgz)], { cwd: app, stdio: 'ignore' });
    writeFileSync(join(app, 'main.cjs'), MAIN);
    const out = execFileSync(process.execPath, ['main.cjs'], { cwd: app, encoding: 'utf8', timeout: 10_000 });
    expect(JSON.parse(out)).toEqual(['from tarball', '127.0.0.2']);
    // The "bin" works as users run it.
    const caps = execFileSync('npx', ['--no-install', 'sendmsg-shim', 'capabilities', '--json'], { cwd: app, encoding: 'utf8' });
    expect(JSON.parse(caps)).toMatchObject({ backend: 'posix', sourceAddress: true });
  }, 240_000);

  it('installs where no C++ compiler works: the build failure is reported, and it runs on ffi-rs', () => {
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
    const app = join(work, 'no-compiler');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'no-compiler', version: '1.0.0', private: true }));
    // CMake's compiler check fails with this, as on a machine with no g++/clang.
    const env: Record<string, string | undefined> = { ...process.env, CXX: '/bin/false', CC: '/bin/false' };
    delete env.SENDMSG_SHIM_ADDON;
    delete env.SENDMSG_SHIM_IMPLEMENTATION;
    const install = spawnSync('npm', ['install', '--foreground-scripts', '--no-audit', '--no-fund', join(work, tgz)], { cwd: app, env, encoding: 'utf8' });
    expect(install.status).toBe(0);
    expect(install.stdout + install.stderr).toContain('sendmsg-shim will use its ffi-rs backend');
    expect(existsSync(join(app, 'node_modules/sendmsg-shim/build/Release/sendmsg_shim.node'))).toBe(false);
    writeFileSync(join(app, 'main.cjs'), MAIN);
    const run = spawnSync(process.execPath, ['main.cjs'], { cwd: app, env, encoding: 'utf8', timeout: 10_000 });
    expect(JSON.parse(run.stdout)).toEqual(['from tarball', '127.0.0.2']);
    expect(run.stderr).toContain('SENDMSG_SHIM_FFI_FALLBACK');
  }, 240_000);
});
