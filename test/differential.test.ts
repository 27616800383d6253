// The two implementations side by side: the same scripted sequence of good and bad messages
// goes through a socket on the native addon and one on the ffi-rs backend, each with its
// own node:dgram receivers; every step must give the same result (bytes or WsaError code,
// errno, syscall) and the receivers must see the same datagrams from the same addresses.
// Then a seeded random sequence (the fuzz test's generator) through both.
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MSG, openSocket, recvMsg, sendMsg, sendMsgBatch, sendMsgBatchSync, sendMsgSync, type Message, type OpenSocketOptions, type Socket,
} from '../src/index';
import { bindingFor } from '../src/binding';
import { LINUX_LP64 } from '../src/ffi/abi';
import { V6_ELSEWHERE, message, type Case } from './helpers/messages';

function loads(impl: 'addon' | 'ffi'): string | null {
  try {
    bindingFor(impl);
    return null;
  } catch (err) {
    return `${impl}: ${(err as Error).message.split('\n')[0]}`;
  }
}
const missing = [loads('addon'), loads('ffi')].filter(Boolean).join('; ');

type Outcome = { ok: number | object } | { code: string; errno: number; sysCode?: string; syscall?: string };

/** What one call ended with, with nothing that differs between two runs (ports, fds). */
async function outcome(fn: () => unknown): Promise<Outcome> {
  try {
    const r = await fn();
    if (r && typeof r === 'object' && 'error' in r) {
      const { error, ...rest } = r as { error?: { code: string; errno: number; sysCode?: string; syscall?: string } };
      return { ok: { ...rest, error: error && { code: error.code, errno: error.errno, sysCode: error.sysCode, syscall: error.syscall } } };
    }
    if (r && typeof r === 'object' && 'buffer' in r) {
      const m = r as { buffer: Buffer; truncated: boolean; from: { address: string } };
      return { ok: { data: digest(m.buffer), truncated: m.truncated, from: m.from.address } };
    }
    return { ok: r as number };
  } catch (err) {
    const e = err as { code: string; errno: number; sysCode?: string; syscall?: string };
    return { code: e.code, errno: e.errno, sysCode: e.sysCode, syscall: e.syscall };
  }
}

interface Env {
  impl: 'addon' | 'ffi';
  ports: { rx4: number; rx6: number; closed: number };
  seen: Array<{ data: string; from: string; to: string }>;
  open: (o: Omit<OpenSocketOptions, 'implementation'>) => Promise<Socket>;
  close: () => Promise<void>;
}

async function environment(impl: 'addon' | 'ffi'): Promise<Env> {
  const seen: Env['seen'] = [];
  const receivers: dgram.Socket[] = [];
  const listen = async (type: 'udp4' | 'udp6', address: string, name: string): Promise<number> => {
    const r = dgram.createSocket(type === 'udp6' ? { type, ipv6Only: true } : { type });
    r.on('message', (m, rinfo) => seen.push({ data: digest(m), from: rinfo.address, to: name }));
    await new Promise<void>((resolve) => r.bind(0, address, resolve));
    receivers.push(r);
    return r.address().port;
  };
  // A port nobody listens on: bound and closed again, so ICMP port unreachable answers.
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
  const closed = probe.address().port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const sockets: Socket[] = [];
  return {
    impl,
    seen,
    ports: { rx4: await listen('udp4', '127.0.0.1', 'rx4'), rx6: await listen('udp6', '::1', 'rx6'), closed },
    open: async (o) => {
      const s = await openSocket({ ...o, implementation: impl });
      sockets.push(s);
      return s;
    },
    close: async () => {
      for (const s of sockets) await s.close();
      for (const r of receivers) r.close();
    },
  };
}

const big = (n: number) => Buffer.alloc(n, 0x5a);
/** What each receiver got, in its order (the order between two receivers is the event loop's). */
const byReceiver = (seen: Env['seen']) => ({ rx4: seen.filter((x) => x.to === 'rx4'), rx6: seen.filter((x) => x.to === 'rx6') });
/** Short payloads as hex, long ones as length and hash, so that a difference stays readable. */
const digest = (b: Buffer): string => (b.length <= 32 ? b.toString('hex') : `${b.length} bytes ${createHash('sha1').update(b).digest('hex')}`);

/** The script: [name, step]. Each step gets its environment and returns what to compare. */
const SCRIPT: Array<[string, (e: Env, s: Record<string, Socket>) => unknown]> = [
  ['gather three buffers', (e, s) => sendMsgSync(s.u4, { buffers: [Buffer.from('ab'), new Uint16Array([0x6463]), new DataView(new Uint8Array([0x65]).buffer)], to: { address: '127.0.0.1', port: e.ports.rx4 } })],
  ['empty datagram', (e, s) => sendMsgSync(s.u4, { buffers: [], to: { address: '127.0.0.1', port: e.ports.rx4 } })],
  ['source address 127.0.0.2', (e, s) => sendMsg(s.u4, { buffers: Buffer.from('src2'), to: { address: '127.0.0.1', port: e.ports.rx4 }, control: { sourceAddress: '127.0.0.2' } })],
  ['source address with interface 1', (e, s) => sendMsgSync(s.u4, { buffers: Buffer.from('if1'), to: { address: '127.0.0.1', port: e.ports.rx4 }, control: { sourceAddress: '127.0.0.3', interfaceIndex: 1 } })],
  ['interface that does not exist', (e, s) => sendMsgSync(s.u4, { buffers: Buffer.from('x'), to: { address: '127.0.0.1', port: e.ports.rx4 }, control: { interfaceIndex: 999_999 } })],
  ['source address that is not local', (e, s) => sendMsgSync(s.u4, { buffers: Buffer.from('x'), to: { address: '127.0.0.1', port: e.ports.rx4 }, control: { sourceAddress: '192.0.2.1' } })],
  ['v6 source for a v4 destination', (e, s) => sendMsgSync(s.u4, { buffers: Buffer.from('x'), to: { address: '127.0.0.1', port: e.ports.rx4 }, control: { sourceAddress: '::1' } })],
  ['largest IPv4 datagram', (e, s) => sendMsgSync(s.u4, { buffers: [big(65000), big(507)], to: { address: '127.0.0.1', port: e.ports.rx4 } })],
  ['one byte over the IPv4 limit', (e, s) => sendMsgSync(s.u4, { buffers: big(65508), to: { address: '127.0.0.1', port: e.ports.rx4 } })],
  ['MSG.OOB', (e, s) => sendMsgSync(s.u4, { buffers: Buffer.from('x'), to: { address: '127.0.0.1', port: e.ports.rx4 }, flags: MSG.OOB })],
  ['MSG.PARTIAL', (e, s) => sendMsg(s.u4, { buffers: Buffer.from('x'), to: { address: '127.0.0.1', port: e.ports.rx4 }, flags: MSG.PARTIAL })],
  ['an unknown flag', (e, s) => sendMsgSync(s.u4, { buffers: Buffer.from('x'), to: { address: '127.0.0.1', port: e.ports.rx4 }, flags: 0x100 })],
  ['MSG.DONTROUTE on loopback', (e, s) => sendMsgSync(s.u4, { buffers: Buffer.from('dontroute'), to: { address: '127.0.0.1', port: e.ports.rx4 }, flags: MSG.DONTROUTE })],
  ['IPv6 destination on udp4', (e, s) => sendMsgSync(s.u4, { buffers: Buffer.from('x'), to: { address: '::1', port: e.ports.rx6 } })],
  ['broadcast without broadcast: true', (_e, s) => sendMsgSync(s.u4, { buffers: Buffer.from('x'), to: { address: '255.255.255.255', port: 9 } })],
  ['no destination, not connected', (_e, s) => sendMsgSync(s.u4, { buffers: Buffer.from('x') })],
  ['TOS and ECN', (e, s) => sendMsgSync(s.u4, { buffers: Buffer.from('tos'), to: { address: '127.0.0.1', port: e.ports.rx4 }, control: { tos: 0xb8, ecn: 1 } })],
  ['segmentSize: five segments', (e, s) => sendMsgSync(s.u4, { buffers: big(4500), to: { address: '127.0.0.1', port: e.ports.rx4 }, segmentSize: 1000 })],
  ['segmentSize: too many segments', (e, s) => sendMsgSync(s.u4, { buffers: big(6500), to: { address: '127.0.0.1', port: e.ports.rx4 }, segmentSize: 100 })],
  ['IPv6 with source ::1', (e, s) => sendMsgSync(s.u6, { buffers: Buffer.from('v6'), to: { address: '::1', port: e.ports.rx6 }, control: { sourceAddress: '::1' } })],
  ['IPv6 zone that names no interface', (e, s) => sendMsgSync(s.u6, { buffers: Buffer.from('x'), to: { address: 'fe80::1%nosuchif0', port: e.ports.rx6 } })],
  ['IPv6 one byte over the limit', (e, s) => sendMsgSync(s.u6, { buffers: big(65528), to: { address: '::1', port: e.ports.rx6 } })],
  ['dual stack: v4-mapped destination, v4 source', (e, s) => sendMsgSync(s.dual, { buffers: Buffer.from('mapped'), to: { address: '::ffff:127.0.0.1', port: e.ports.rx4 }, control: { sourceAddress: '127.0.0.4' } })],
  ['dual stack: v4-mapped destination, v6 source', (e, s) => sendMsgSync(s.dual, { buffers: Buffer.from('x'), to: { address: '::ffff:127.0.0.1', port: e.ports.rx4 }, control: { sourceAddress: '::1' } })],
  ['v6-only socket, v4-mapped destination', (e, s) => sendMsgSync(s.v6only, { buffers: Buffer.from('x'), to: { address: '::ffff:127.0.0.1', port: e.ports.rx4 } })],
  ['batch with a bad message in the middle', (e, s) => sendMsgBatchSync(s.u4, [
    { buffers: Buffer.from('b0'), to: { address: '127.0.0.1', port: e.ports.rx4 } },
    { buffers: big(65508), to: { address: '127.0.0.1', port: e.ports.rx4 } },
    { buffers: Buffer.from('b2'), to: { address: '127.0.0.1', port: e.ports.rx4 } }])],
  ['batch failing in the kernel midway', (e, s) => sendMsgBatch(s.u4, [
    { buffers: Buffer.from('k0'), to: { address: '127.0.0.1', port: e.ports.rx4 } },
    { buffers: Buffer.from('k1'), to: { address: '127.0.0.1', port: e.ports.rx4 }, control: { interfaceIndex: 999_999 } },
    { buffers: Buffer.from('k2'), to: { address: '127.0.0.1', port: e.ports.rx4 } }])],
  ['batch of mixed destinations and sources', (e, s) => sendMsgBatch(s.dual, [
    { buffers: Buffer.from('m0'), to: { address: '::1', port: e.ports.rx6 } },
    { buffers: Buffer.from('m1'), to: { address: '::ffff:127.0.0.1', port: e.ports.rx4 }, control: { sourceAddress: '127.0.0.5' } },
    { buffers: Buffer.from('m2'), to: { address: '127.0.0.1', port: e.ports.rx4 } }])],
  ['connected: first send to a closed port', (e, s) => { s.conn.connect('127.0.0.1', e.ports.closed); return sendMsgSync(s.conn, { buffers: Buffer.from('first') }); }],
  ['connected: the ICMP error fails the next send', async (_e, s) => {
    await new Promise((r) => setTimeout(r, 50));
    return sendMsgSync(s.conn, { buffers: Buffer.from('second') });
  }],
  ['connected: and only that one', (_e, s) => sendMsgSync(s.conn, { buffers: Buffer.from('third') })],
  ['after shutdown(send)', (e, s) => { s.shut.shutdown('send'); return sendMsgSync(s.shut, { buffers: Buffer.from('x'), to: { address: '127.0.0.1', port: e.ports.rx4 } }); }],
  ['receive into a short buffer: truncated', async (_e, s) => {
    const p = recvMsg(s.rx, { bufferSize: 4 });
    sendMsgSync(s.u4, { buffers: Buffer.from('truncated!'), to: { address: '127.0.0.1', port: s.rx.address().port }, control: { sourceAddress: '127.0.0.6' } });
    return p;
  }],
  ['closed socket', async (e, s) => { await s.u4.close(); return sendMsgSync(s.u4, { buffers: Buffer.from('x'), to: { address: '127.0.0.1', port: e.ports.rx4 } }); }],
];

async function runScript(e: Env): Promise<Outcome[]> {
  const s: Record<string, Socket> = {
    u4: await e.open({ type: 'udp4' }),
    u6: await e.open({ type: 'udp6', ipv6Only: true }),
    dual: await e.open({ type: 'udp6' }),
    v6only: await e.open({ type: 'udp6', ipv6Only: true }),
    conn: await e.open({ type: 'udp4' }),
    shut: await e.open({ type: 'udp4' }),
    rx: await e.open({ type: 'udp4', bind: { address: '127.0.0.1' } }),
  };
  const out: Outcome[] = [];
  for (const [, step] of SCRIPT) out.push(await outcome(() => step(e, s)));
  await new Promise((r) => setTimeout(r, 100));
  return out;
}

describe.skipIf(missing !== '')(`addon and ffi-rs backends${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const envs: Env[] = [];
  afterAll(async () => {
    for (const e of envs) await e.close();
  });

  it('agree on the struct layout and constants (the ffi table against the compiled headers)', () => {
    expect(bindingFor('addon').abiLayout()).toEqual({ ...LINUX_LP64 });
    expect(bindingFor('ffi').abiLayout()).toEqual({ ...LINUX_LP64 });
  });

  it('give the same results and deliver the same datagrams for a scripted sequence', async () => {
    const [a, f] = [await environment('addon'), await environment('ffi')];
    envs.push(a, f);
    const [ra, rf] = [await runScript(a), await runScript(f)];
    if (process.env.DIFF_SHOW) console.log(JSON.stringify(SCRIPT.map((st, i) => [st[0], ra[i]]), null, 0).replace(/\],\[/g, "]\n["));
    for (let i = 0; i < SCRIPT.length; i++) expect({ step: SCRIPT[i][0], ...rf[i] }).toEqual({ step: SCRIPT[i][0], ...ra[i] });
    // The script covers both outcomes, and what arrived is the same, in the same order.
    expect(ra.filter((o) => 'code' in o).length).toBeGreaterThan(10);
    expect(ra.filter((o) => 'ok' in o).length).toBeGreaterThan(10);
    expect(a.seen.length).toBeGreaterThan(10);
    expect(byReceiver(f.seen)).toEqual(byReceiver(a.seen));
    expect(a.seen).toContainEqual({ data: digest(Buffer.from('src2')), from: '127.0.0.2', to: 'rx4' });
    expect(a.seen).toContainEqual({ data: digest(Buffer.from('mapped')), from: '127.0.0.4', to: 'rx4' });
  });

  it('give the same results for 3,000 seeded random messages', async () => {
    const [a, f] = [await environment('addon'), await environment('ffi')];
    envs.push(a, f);
    const cases = fc.sample(message, { numRuns: 3000, seed: 7 }) as Case[];
    const socks = async (e: Env) => ({ v4: await e.open({ type: 'udp4' }), v6: await e.open({ type: 'udp6' }) });
    const [sa, sf] = [await socks(a), await socks(f)];
    const results: Outcome[][] = [[], []];
    for (let i = 0; i < cases.length; i++) {
      const { v6, to, ...rest } = cases[i];
      [a, f].forEach((e, k) => {
        let target: unknown = to;
        if (to && typeof to === 'object') {
          const t = to as { address: string; port: unknown };
          target = { address: v6 && V6_ELSEWHERE.has(t.address) ? '127.0.0.1' : t.address, port: t.port === 'rx' ? e.ports.rx4 : t.port };
        }
        const s = k === 0 ? sa : sf;
        try {
          results[k].push({ ok: sendMsgSync(v6 ? s.v6 : s.v4, { ...rest, to: target } as Message) });
        } catch (err) {
          const x = err as { code: string; errno: number; sysCode?: string; syscall?: string };
          results[k].push({ code: x.code, errno: x.errno, sysCode: x.sysCode, syscall: x.syscall });
        }
      });
      // Let the receivers keep up: their socket buffers must not overflow.
      if (i % 16 === 15) await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < cases.length; i++) expect({ i, ...results[1][i] }).toEqual({ i, ...results[0][i] });
    expect(results[0].filter((o) => 'ok' in o).length).toBeGreaterThan(500);
    expect(f.seen.length).toBe(a.seen.length);
    expect(byReceiver(f.seen)).toEqual(byReceiver(a.seen));
  }, 60_000);
});
