// Choosing between the addon and the ffi-rs backend: automatically when the addon cannot
// load (one warning that says why and how to fix it), by environment variable, per socket;
// and the clear errors when neither can run. Each case runs dist/ in a child process, since
// the choice is made once per process.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSocket } from '../src/index';
import { abiFor, LINUX_LP64 } from '../src/ffi/abi';
import { isPosix, wine } from './helpers/platform';

const root = join(__dirname, '..');
const MISSING = join(root, 'build', 'no-addon-here', 'sendmsg_shim.node');

// Sends one datagram from 127.0.0.2 and prints what the receiver saw, and which
// implementation did it.
const SEND = `
  const dgram = require('node:dgram');
  const shim = require(${JSON.stringify(root)});
  const rx = dgram.createSocket('udp4');
  rx.bind(0, '127.0.0.1', async () => {
    rx.on('message', async (m, ri) => { console.log(JSON.stringify({ implementation: shim.implementation, got: [m.toString(), ri.address] })); rx.close(); await s.close(); });
    const s = await shim.openSocket({ type: 'udp4' });
    shim.sendMsgSync(s, { buffers: Buffer.from('hi'), to: { address: '127.0.0.1', port: rx.address().port }, control: { sourceAddress: '127.0.0.2' } });
  });`;

function node(script: string, env: Record<string, string | undefined>, args: string[] = []) {
  const e: Record<string, string | undefined> = { ...process.env, SENDMSG_SHIM_ADDON: undefined, SENDMSG_SHIM_IMPLEMENTATION: undefined, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return spawnSync(process.execPath, [...args, '-e', script], { env: e, encoding: 'utf8', timeout: 20_000 });
}

const linux = isPosix && !wine;
describe.skipIf(!linux)(`implementation choice${linux ? '' : ' (skipped: the ffi-rs backend is Linux only)'}`, () => {
  it('no addon: falls back to ffi-rs, warns once with the reason and the fix, and works', () => {
    const r = node(`${SEND}; require(${JSON.stringify(root)});`, { SENDMSG_SHIM_ADDON: MISSING });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ implementation: 'ffi', got: ['hi', '127.0.0.2'] });
    const warnings = r.stderr.split('\n').filter((l) => l.includes('SENDMSG_SHIM_FFI_FALLBACK'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('no-addon-here');
    expect(warnings[0]).toContain('npm rebuild sendmsg-shim');
    expect(warnings[0]).toContain('SENDMSG_SHIM_IMPLEMENTATION=ffi');
  });

  it('SENDMSG_SHIM_IMPLEMENTATION=ffi chooses ffi-rs without a warning, the addon present or not', () => {
    for (const addon of [undefined, MISSING]) {
      const r = node(SEND, { SENDMSG_SHIM_IMPLEMENTATION: 'ffi', SENDMSG_SHIM_ADDON: addon });
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({ implementation: 'ffi', got: ['hi', '127.0.0.2'] });
    }
  });

  it('SENDMSG_SHIM_IMPLEMENTATION=addon without an addon, or a bad value, fails to load with a coded error', () => {
    const show = `try { require(${JSON.stringify(root)}); console.log('loaded'); } catch (e) { console.log(JSON.stringify([e.code, e.message])); }`;
    const noAddon = JSON.parse(node(show, { SENDMSG_SHIM_IMPLEMENTATION: 'addon', SENDMSG_SHIM_ADDON: MISSING }).stdout);
    expect(noAddon[0]).toBe('ERR_SENDMSG_SHIM_NO_ADDON');
    expect(noAddon[1]).toContain('npm rebuild sendmsg-shim');
    // A file that is there but is no addon for this system: "could not be loaded", and why.
    const notAnAddon = join(mkdtempSync(join(tmpdir(), 'sendmsg-shim-bad-')), 'sendmsg_shim.node');
    writeFileSync(notAnAddon, 'not an ELF file');
    const broken = JSON.parse(node(show, { SENDMSG_SHIM_IMPLEMENTATION: 'addon', SENDMSG_SHIM_ADDON: notAnAddon }).stdout);
    expect(broken[0]).toBe('ERR_SENDMSG_SHIM_NO_ADDON');
    expect(broken[1]).toContain(`${notAnAddon} is there but could not be loaded: `);
    expect(broken[1]).not.toContain('not built');
    const bad = JSON.parse(node(show, { SENDMSG_SHIM_IMPLEMENTATION: 'fast' }).stdout);
    expect(bad).toEqual(['ERR_INVALID_ARG_VALUE', "sendmsg-shim: SENDMSG_SHIM_IMPLEMENTATION must be 'addon' or 'ffi', not 'fast'"]);
  });

  it('neither addon nor ffi-rs: the error says how to fix the addon and why the fallback failed', () => {
    // ffi-rs made unresolvable, as on a platform it ships no binary for.
    const hide = `const M = require('node:module'); const orig = M._resolveFilename;
      M._resolveFilename = function (req, ...rest) { if (req === 'ffi-rs') throw Object.assign(new Error('no ffi-rs here'), { code: 'MODULE_NOT_FOUND' }); return orig.call(this, req, ...rest); };`;
    const show = `${hide} try { require(${JSON.stringify(root)}); console.log('"loaded"'); } catch (e) { console.log(JSON.stringify([e.code, e.message])); }`;
    const [code, message] = JSON.parse(node(show, { SENDMSG_SHIM_ADDON: MISSING }).stdout);
    expect(code).toBe('ERR_SENDMSG_SHIM_NO_ADDON');
    expect(message).toContain('npm rebuild sendmsg-shim');
    expect(message).toContain('npm install ffi-rs@1.3.7');
  });

  it('a worker thread on ffi-rs can end or be terminated while the main thread never loaded ffi-rs', () => {
    // The main thread runs on the addon; each worker opens an ffi-rs socket. ffi-rs used to
    // take the process down (SIGSEGV) when the last thread that loaded it went away.
    const worker = `
      const { parentPort, workerData } = require('node:worker_threads');
      const shim = require(${JSON.stringify(root)});
      shim.openSocket({ type: 'udp4', implementation: 'ffi' }).then((s) => {
        if (workerData === 'end') return s.close();
        // Parked: a receive waits in poll(2) on a threadpool thread when the worker is killed.
        shim.recvMsg(s).catch(() => {});
        parentPort.postMessage('ready');
        setInterval(() => {}, 1000);
      });`;
    const script = `
      const { Worker } = require('node:worker_threads');
      const shim = require(${JSON.stringify(root)});
      let left = 2;
      const done = () => { if (--left === 0) setTimeout(() => console.log(JSON.stringify({ main: shim.implementation, survived: true })), 100); };
      new Worker(${JSON.stringify(worker)}, { eval: true, workerData: 'end' }).on('exit', done);
      const killed = new Worker(${JSON.stringify(worker)}, { eval: true, workerData: 'park' });
      killed.on('message', () => killed.terminate());
      killed.on('exit', done);`;
    const r = node(script, {});
    expect(r.signal).toBe(null);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ main: 'addon', survived: true });
  });

  it('the same process can use both: openSocket({ implementation }) picks per socket', async () => {
    const a = await openSocket({ type: 'udp4', implementation: 'addon' }).catch(() => null);
    const f = await openSocket({ type: 'udp4', implementation: 'ffi' });
    expect(f.implementation).toBe('ffi');
    if (a) expect(a.implementation).toBe('addon');
    await a?.close();
    await f.close();
    expect(() => openSocket({ type: 'udp4', implementation: 'wasm' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});

describe('the ffi-rs struct layout check', () => {
  it('refuses a target it has no table for', () => {
    expect(() => abiFor('linux-ppc64', null)).toThrow(expect.objectContaining({ code: 'ERR_SENDMSG_SHIM_FFI_ABI', message: expect.stringContaining('linux-ppc64') }));
    expect(() => abiFor('darwin-arm64', null)).toThrow(expect.objectContaining({ code: 'ERR_SENDMSG_SHIM_FFI_ABI' }));
  });

  it('refuses when the compiled headers disagree with the table, naming the field', () => {
    const wrong = { ...LINUX_LP64, 'msghdr.msg_control': 24 };
    expect(() => abiFor('linux-x64', wrong)).toThrow(/msghdr\.msg_control \(24, table 32\)/);
    expect(abiFor('linux-arm64', { ...LINUX_LP64 })).toEqual(LINUX_LP64);
  });

  // musl pads msg_iovlen, msg_controllen and cmsg_len unlike glibc; the offsets must agree.
  const musl = spawnSync('musl-gcc', ['--version']).status === 0;
  it.skipIf(!musl)(`matches musl's headers${musl ? '' : ' (skipped: no musl-gcc; Debian: apt install musl-tools)'}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'sendmsg-shim-abi-'));
    try {
      const exe = join(dir, 'abi_musl');
      // Static: nothing of the host's glibc world (nor the ASan lane's LD_PRELOAD) gets in.
      execFileSync('musl-gcc', ['-std=c11', '-static', '-Wall', '-Wextra', '-Werror', '-o', exe, join(root, 'test/native/abi_libc.c')]);
      const facts = JSON.parse(execFileSync(exe, { encoding: 'utf8' })) as Record<string, number>;
      // Every libc-defined entry of the table (the kernel's sock_extended_err is the same everywhere).
      expect(Object.keys(facts).length).toBeGreaterThan(70);
      expect(facts).toEqual(Object.fromEntries(Object.keys(facts).map((k) => [k, LINUX_LP64[k as keyof typeof LINUX_LP64]])));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
