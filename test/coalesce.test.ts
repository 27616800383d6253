// sendMsg calls made in one turn of the event loop go to the OS together (one sendmmsg on
// Linux, one native loop on Windows: src/send.ts "Coalescing"). What a caller must not be
// able to tell, apart from the speed: each call's own result, the order on the wire, the
// bytes as they were at the call, and that nothing is lost (close, connect, exit).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sendMsg, sendMsgBatchSync, sendMsgSync, type Message, type Socket } from '../src/index';
import { catchAsync, expectWsa } from './helpers/expect';
import { itControlData } from './helpers/platform';
import { receiver } from './helpers/receiver';
import { useSockets } from './helpers/sockets';

const { shim, track } = useSockets();
const b = (s: string) => Buffer.from(s);
const texts = (got: Array<{ data: Buffer }>) => got.map((m) => m.data.toString());
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function pair(): Promise<{ s: Socket; to: { address: string; port: number }; r: Awaited<ReturnType<typeof receiver>> }> {
  const r = track(await receiver());
  const s = await shim({ type: 'udp4' });
  return { s, r, to: { address: '127.0.0.1', port: r.port } };
}

describe('sendMsg calls of one turn, coalesced', () => {
  it('the first call of a turn goes at once; a sender that awaits each call never waits for a turn to end', async () => {
    const { s, r, to } = await pair();
    for (let i = 0; i < 3; i++) {
      const sent = sendMsg(s, { buffers: b(`at once ${i}`), to });
      expect(s.pendingSends).toBe(0);  // not staged: it went to the OS in the call
      expect(await sent).toBe(9);
    }
    const first = sendMsg(s, { buffers: b('first'), to });
    const second = sendMsg(s, { buffers: b('second'), to });
    expect(s.pendingSends).toBe(1);  // the second waits for the end of the turn
    expect(await Promise.all([first, second])).toEqual([5, 6]);
    expect(texts(await r.waitFor(5))).toEqual(['at once 0', 'at once 1', 'at once 2', 'first', 'second']);
  });

  it('each call keeps its own result, in the order made; they wait for the end of the turn, counted in pendingSends', async () => {
    const { s, r, to } = await pair();
    const calls = Array.from({ length: 200 }, (_, i) => sendMsg(s, { buffers: [b(`m${i}`), b('.'.repeat(i % 7))], to }));
    // The first went at once; the other 199 wait for the end of this turn.
    expect(s.pendingSends).toBe(199);
    const bytes = await Promise.all(calls);
    expect(bytes).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`.length + (i % 7)));
    expect(s.pendingSends).toBe(0);
    const got = await r.waitFor(200);
    expect(texts(got)).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}${'.'.repeat(i % 7)}`));
  });

  itControlData('a failure fails its own message only: the ones after it still go', async () => {
    const { s, r, to } = await pair();
    const results = await Promise.allSettled([
      sendMsg(s, { buffers: b('first'), to }),
      // Not a local address: the kernel refuses this one datagram (nothing leaves).
      sendMsg(s, { buffers: b('refused'), to, control: { sourceAddress: '192.0.2.1' } }),
      sendMsg(s, { buffers: b('third'), to }),
    ]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 5 });
    expect(results[2]).toEqual({ status: 'fulfilled', value: 5 });
    const err = expectWsa((results[1] as PromiseRejectedResult).reason, 'WSAENETUNREACH');
    expect(err).toMatchObject({ address: '127.0.0.1', port: to.port, sourceAddress: '192.0.2.1' });
    expect(texts(await r.waitFor(2))).toEqual(['first', 'third']);
    expect(texts(await r.settle(100))).toEqual(['first', 'third']);
  });

  it('what goes is what the buffers held at the call: changed, detached or shrunk before the turn ends', async () => {
    const { s, r, to } = await pair();
    const changed = b('original');
    const detached = new Uint8Array(b('detached'));
    // Resizable buffers are in Node 20; its TypeScript lib (ES2022) does not know them.
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void };
    const resizable = new Resizable(6, { maxByteLength: 64 });
    const shrunk = new Uint8Array(resizable);
    shrunk.set(b('shrunk'));
    const calls = [
      sendMsg(s, { buffers: b('lead'), to }),  // the first of the turn goes at once: the others are staged
      sendMsg(s, { buffers: changed, to }),
      sendMsg(s, { buffers: [detached], to }),
      sendMsg(s, { buffers: shrunk, to }),
    ];
    expect(s.pendingSends).toBe(3);
    changed.fill(0x21);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    expect(detached.byteLength).toBe(0);
    resizable.resize(0);
    expect(await Promise.all(calls)).toEqual([4, 8, 8, 6]);
    expect(texts(await r.waitFor(4))).toEqual(['lead', 'original', 'detached', 'shrunk']);
  });

  it('every other kind of send goes after the sendMsg calls made before it', async () => {
    const { s, r, to } = await pair();
    const a = sendMsg(s, { buffers: b('a'), to });
    expect(sendMsgSync(s, { buffers: b('b'), to })).toBe(1);
    const c = sendMsg(s, { buffers: b('c'), to });
    expect(sendMsgBatchSync(s, [{ buffers: b('d'), to }])).toEqual({ sent: 1 });
    const e = sendMsg(s, { buffers: b('e1e2'), to, segmentSize: 2 });
    const f = sendMsg(s, { buffers: b('f'), to });
    const g = sendMsg(s, { buffers: b('g'), to, signal: new AbortController().signal });
    const h = sendMsg(s, { buffers: b('h'), to });
    expect(await Promise.all([a, c, e, f, g, h])).toEqual([1, 1, 4, 1, 1, 1]);
    expect(texts(await r.waitFor(9))).toEqual(['a', 'b', 'c', 'd', 'e1', 'e2', 'f', 'g', 'h']);
  });

  it('a refused call fails after the results of the calls before it, and does not hold up the ones after', async () => {
    const { s, r, to } = await pair();
    const order: string[] = [];
    const note = (name: string) => (v: unknown) => { order.push(`${name}:${v instanceof Error ? (v as unknown as { code: string }).code : v}`); };
    const calls = [
      sendMsg(s, { buffers: b('one'), to }).then(note('one'), note('one')),
      sendMsg(s, { buffers: b('v6'), to: { address: '::1', port: to.port } }).then(note('v6'), note('v6')),
      sendMsg(s, { buffers: b('two'), to }).then(note('two'), note('two')),
    ];
    await Promise.all(calls);
    expect(order).toEqual(['one:3', 'v6:WSAEAFNOSUPPORT', 'two:3']);
    expect(texts(await r.waitFor(2))).toEqual(['one', 'two']);
  });

  it('close() and connect() in the same turn: the calls before them go out as addressed', async () => {
    const { s, r, to } = await pair();
    const r2 = track(await receiver());
    const first = sendMsg(s, { buffers: b('to r'), to });
    s.connect('127.0.0.1', r2.port);
    const second = sendMsg(s, { buffers: b('to r2') });
    const closing = s.close();
    expect(await Promise.all([first, second])).toEqual([4, 5]);
    await closing;
    expect(texts(await r.waitFor(1))).toEqual(['to r']);
    expect(texts(await r2.waitFor(1))).toEqual(['to r2']);
  });

  it('callbacks: each called once, never synchronously, in the order of the calls', async () => {
    const { s, r, to } = await pair();
    const seen: Array<[number, number]> = [];
    let returned = false;
    await new Promise<void>((resolve, reject) => {
      for (let i = 0; i < 5; i++) {
        sendMsg(s, { buffers: b(`c${i}`), to }, (err, bytes) => {
          if (err || !returned) reject(err ?? new Error('called synchronously'));
          seen.push([i, bytes]);
          if (seen.length === 5) resolve();
        });
      }
      returned = true;
    });
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => [i, 2]));
    expect(texts(await r.waitFor(5))).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
  });

  it('more than one batch holds (1,024 calls, and messages past the staging area) in one turn: all go, in order', async () => {
    const { s, r, to } = await pair();
    const msgs: Message[] = [];
    for (let i = 0; i < 1100; i++) msgs.push({ buffers: b(`s${i}`), to });
    for (let i = 0; i < 3; i++) msgs.splice(500 + i, 0, { buffers: Buffer.alloc(60_000, 0x41 + i), to });
    const bytes = await Promise.all(msgs.map((m) => sendMsg(s, m)));
    expect(bytes.reduce((x, y) => x + y, 0)).toBe(msgs.reduce((n, m) => n + (m.buffers as Buffer).length, 0));
    const got = await r.waitFor(msgs.length, 5000);
    expect(got.map((m) => m.data.length === 60_000 ? `big${m.data[0]! - 0x41}` : m.data.toString()))
      .toEqual(msgs.map((m) => ((m.buffers as Buffer).length === 60_000 ? `big${(m.buffers as Buffer)[0]! - 0x41}` : (m.buffers as Buffer).toString())));
  });

  it('several sockets in one turn: each keeps its own order and source', async () => {
    const r = track(await receiver());
    const to = { address: '127.0.0.1', port: r.port };
    const x = await shim({ type: 'udp4' });
    const y = await shim({ type: 'udp4' });
    const calls: Promise<number>[] = [];
    for (let i = 0; i < 20; i++) calls.push(sendMsg(i % 2 ? x : y, { buffers: b(`${i % 2 ? 'x' : 'y'}${i}`), to }));
    await Promise.all(calls);
    const got = await r.waitFor(20);
    const from = (sock: Socket) => texts(got.filter((m) => m.port === sock.address().port));
    expect(from(x)).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19].map((i) => `x${i}`));
    expect(from(y)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18].map((i) => `y${i}`));
  });

  it('a getter that re-enters the shim while a call is read: the inner send goes first, then the outer, nothing mixed', async () => {
    const { s, r, to } = await pair();
    const before = sendMsg(s, { buffers: b('before'), to });
    let inner: Promise<number> | undefined;
    const outer = sendMsg(s, {
      get buffers() {
        inner = sendMsg(s, { buffers: b('inner'), to });
        expect(sendMsgSync(s, { buffers: b('sync'), to })).toBe(4);
        return b('outer');
      },
      to,
    });
    expect(await Promise.all([before, inner!, outer])).toEqual([6, 5, 5]);
    expect(texts(await r.waitFor(4))).toEqual(['before', 'inner', 'sync', 'outer']);
  });

  it('a global Promise replaced during the calls runs none of its code: every call still settles and sends', async () => {
    const { s, r, to } = await pair();
    const Real = globalThis.Promise;
    let constructed = 0;
    // A Promise that never calls its executor, and re-enters the shim when constructed.
    class Hostile<T> extends Real<T> {
      constructor() {
        super(() => {});
        constructed++;
      }
    }
    let calls: Array<Promise<number> | undefined>;
    globalThis.Promise = Hostile as unknown as PromiseConstructor;
    try {
      calls = [sendMsg(s, { buffers: b('one'), to }), sendMsg(s, { buffers: b('two'), to }), sendMsg(s, { buffers: b('three'), to })];
    } finally {
      globalThis.Promise = Real;
    }
    expect(constructed).toBe(0);
    expect(await Real.all(calls)).toEqual([3, 3, 5]);
    expect(texts(await r.waitFor(3))).toEqual(['one', 'two', 'three']);
  });

  it('a call made before process.exit() in the same turn still goes out', async () => {
    const r = track(await receiver());
    const entry = join(__dirname, '..', 'dist', 'index.js');
    const script = `const { openSocket, sendMsg } = require(${JSON.stringify(entry)});
      openSocket({ type: 'udp4' }).then((s) => {
        for (let i = 0; i < 3; i++) sendMsg(s, { buffers: Buffer.from('exit' + i), to: { address: '127.0.0.1', port: ${r.port} } });
        process.exit(0);
      });`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(texts(await r.waitFor(3))).toEqual(['exit0', 'exit1', 'exit2']);
  });

  it('a closed socket: the call fails with WSAENOTSOCK, as before coalescing', async () => {
    const { s, to } = await pair();
    await s.close();
    expectWsa(await catchAsync(sendMsg(s, { buffers: b('late'), to })), 'WSAENOTSOCK');
    await turn();
  });
});
