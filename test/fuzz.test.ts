// Seeded property test over 100,000 random messages through the public API, against a
// real loopback receiver. Invariants: nothing crashes; every refusal is a Node-style
// argument error or a WsaError; the receiver sees exactly the datagrams reported sent,
// byte for byte, in order. Every address generated is loopback or invalid, so nothing can
// leave the machine. Reproduce a failure with FUZZ_SEED=<seed printed in the test name>.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSocket, recvMsg, sendMsgSync, WsaError, type Socket } from '../src/index';
import { isPosix } from './helpers/platform';

const SEED = Number(process.env.FUZZ_SEED ?? 20261129);
const TOTAL = Number(process.env.FUZZ_N ?? 100_000);
const ROUND = 32;  // messages between two drains
const ROUND_BYTES = 100_000;  // or fewer, so the receiver's socket buffer never overflows

let rx: Socket;
let tx4: Socket;
let tx6: Socket;
let port = 0;
beforeAll(async () => {
  rx = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1' } });
  tx4 = await openSocket({ type: 'udp4' });
  tx6 = await openSocket({ type: 'udp6' });  // dual stack: sends to 127.0.0.1 as v4-mapped
  port = rx.address().port;
});
afterAll(async () => {
  for (const s of [rx, tx4, tx6]) await s?.close();
});

// Views of every kind over fresh memory, with odd offsets and lengths, some empty, some
// detached, some over SharedArrayBuffers.
const view = fc.record({
  kind: fc.constantFrom('buffer', 'u8', 'u16', 'f64', 'dataview', 'sub', 'shared', 'detached'),
  len: fc.oneof(
    { arbitrary: fc.constant(0), weight: 2 },
    { arbitrary: fc.integer({ min: 1, max: 64 }), weight: 6 },
    { arbitrary: fc.integer({ min: 65, max: 700 }), weight: 6 },
    { arbitrary: fc.constantFrom(65507, 65508, 70000), weight: 1 }),  // at and past the limit
  fill: fc.integer({ min: 0, max: 255 }),
}).map(({ kind, len, fill }): unknown => {
  const bytes = (n: number) => new Uint8Array(n).fill(fill);
  switch (kind) {
    case 'buffer': return Buffer.alloc(len, fill);
    case 'u8': return bytes(len);
    case 'u16': return new Uint16Array(bytes(len * 2).buffer);
    case 'f64': return new Float64Array(bytes(len * 8).buffer, 0, Math.floor(len / 8));
    case 'dataview': return new DataView(bytes(len + 3).buffer, 3, len);
    case 'sub': return Buffer.alloc(len + 10, fill).subarray(5, 5 + len);
    case 'shared': { const sab = new SharedArrayBuffer(len); new Uint8Array(sab).fill(fill); return new Uint8Array(sab); }
    default: { const u = bytes(len); structuredClone(u.buffer, { transfer: [u.buffer] }); return u; }
  }
});

// Destinations either reach the receiver (127.0.0.1, or its v4-mapped form on the dual-stack
// socket) or must fail: IPv6 ones on the v4 socket (WSAEAFNOSUPPORT) and malformed ones.
const address = fc.constantFrom('127.0.0.1', '::ffff:127.0.0.1', '::1', 'fe80::1%lo', '127.0.0.256',
  'localhost', '', ' 127.0.0.1', '127.1', '1.2.3', 'fe80::1%', 'fe80::1%nosuchif', '::ffff:999.0.0.1');
const V6_ELSEWHERE = new Set(['::1', 'fe80::1%lo']);  // valid on the v6 socket but not the receiver
const source = fc.constantFrom('127.0.0.1', '127.0.0.2', '::1', '::ffff:127.0.0.3', '0.0.0.0', '127.0.0.256', 'example.com');

const wildMessage = fc.record({
  buffers: fc.oneof(view, fc.array(view, { maxLength: 6 }), fc.constantFrom('text', 42, null, new ArrayBuffer(4), [1, 2])),
  to: fc.oneof(
    fc.constant(undefined),
    fc.record({ address, port: fc.oneof(fc.constant('rx'), fc.constantFrom(0, -1, 65536, 1.5, NaN, '80')) }),
    fc.constantFrom(null, '127.0.0.1:9', 5)),
  control: fc.oneof(
    fc.constant(undefined),
    fc.record({
      sourceAddress: fc.option(source, { nil: undefined }),
      interfaceIndex: fc.option(fc.constantFrom(0, 1, -1, 2 ** 32, 0.5, '1', 999999), { nil: undefined }),
      tos: fc.option(fc.constantFrom(0, 0xb8, 256, -1), { nil: undefined }),
      ecn: fc.option(fc.constantFrom(0, 1, 3, 4), { nil: undefined }),
    }, { requiredKeys: [] }),
    fc.constantFrom(null, [], { sourceAdress: '127.0.0.1' }, { extra: 1 })),
  flags: fc.option(fc.oneof(fc.constantFrom(0, 1, 2, 4, 0x8000, 0x40000000, 0x80000000, -1, 2 ** 32), fc.integer({ min: 0, max: 0xffff })), { nil: undefined }),
  v6: fc.boolean(),
}, { requiredKeys: ['buffers', 'v6'] });

// Mostly valid messages, so that delivery is checked as often as refusal.
const goodView = view.filter((v) => !(ArrayBuffer.isView(v) && v.byteLength === 0 && (v.buffer as ArrayBuffer & { detached?: boolean }).detached));
const validMessage = fc.record({
  buffers: fc.oneof(goodView, fc.array(goodView, { maxLength: 5 })),
  to: fc.record({ address: fc.constantFrom('127.0.0.1', '::ffff:127.0.0.1'), port: fc.constant('rx') }),
  control: fc.option(fc.record({
    sourceAddress: fc.option(fc.constantFrom('127.0.0.1', '127.0.0.2', '::ffff:127.0.0.3'), { nil: undefined }),
    interfaceIndex: fc.option(fc.constantFrom(0, 1), { nil: undefined }),
    tos: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    ecn: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  }, { requiredKeys: [] }), { nil: undefined }),
  flags: fc.option(fc.constantFrom(0, 4), { nil: undefined }),
  v6: fc.boolean(),
}, { requiredKeys: ['buffers', 'to', 'v6'] });

const message = fc.oneof({ arbitrary: validMessage, weight: 3 }, { arbitrary: wildMessage, weight: 2 });

type Case = { buffers: unknown; to?: unknown; control?: unknown; flags?: unknown; v6: boolean };

function bytesOf(buffers: unknown): Buffer {
  const list = Array.isArray(buffers) ? buffers : [buffers];
  return Buffer.concat(list.map((v: ArrayBufferView) => Buffer.from(v.buffer as ArrayBuffer, v.byteOffset, v.byteLength)));
}

describe.skipIf(!isPosix)(`fuzzed messages${isPosix ? '' : ' (skipped: the receiver side runs on Linux)'}`, () => {
  it(`${TOTAL} random messages, seed ${SEED}: no crash, coded errors, exact delivery`, async () => {
    const cases = fc.sample(message, { numRuns: TOTAL, seed: SEED }) as Case[];
    const drain = async (wanted: Buffer[]) => {
      for (const want of wanted) {
        const ac = new AbortController();
        const timer = setTimeout(() => ac.abort(), 2000);
        const got = await recvMsg(rx, { signal: ac.signal });
        clearTimeout(timer);
        expect(got.buffer.equals(want)).toBe(true);
      }
    };
    const tally = { sent: 0, argumentError: 0, wsaError: 0 };
    const codes = new Map<string, number>();
    for (let start = 0; start < cases.length; start += ROUND) {
      const expected: Buffer[] = [];
      let pendingBytes = 0;
      for (const c of cases.slice(start, start + ROUND)) {
        if (pendingBytes > ROUND_BYTES) {
          await drain(expected.splice(0));
          pendingBytes = 0;
        }
        const { v6, to, ...rest } = c;
        let target: unknown = to;
        if (to && typeof to === 'object') {
          const t = to as { address: string; port: unknown };
          target = { address: v6 && V6_ELSEWHERE.has(t.address) ? '127.0.0.1' : t.address, port: t.port === 'rx' ? port : t.port };
        }
        const msg = { ...rest, to: target } as { buffers: unknown };
        let bytes: number;
        try {
          bytes = sendMsgSync(v6 ? tx6 : tx4, msg as never);
        } catch (err) {
          const code = (err as { code?: string }).code ?? 'none';
          codes.set(code, (codes.get(code) ?? 0) + 1);
          if (err instanceof WsaError) tally.wsaError++;
          else if ((err instanceof TypeError || err instanceof RangeError) && code.startsWith('ERR_')) tally.argumentError++;
          else throw new Error(`case ${JSON.stringify(msg, (_k, v) => (ArrayBuffer.isView(v) ? `<${v.constructor.name} ${v.byteLength}>` : v))} threw ${String(err)}`);
          continue;
        }
        const payload = bytesOf(msg.buffers);
        expect(bytes).toBe(payload.length);
        expected.push(payload);
        pendingBytes += payload.length;
        tally.sent++;
      }
      await drain(expected);
    }
    // Nothing extra arrived.
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await expect(recvMsg(rx, { signal: ac.signal })).rejects.toMatchObject({ code: 'WSA_OPERATION_ABORTED' });
    console.log(`fuzz seed ${SEED}: ${JSON.stringify(tally)} ${JSON.stringify(Object.fromEntries(codes))}`);
    expect(tally.sent).toBeGreaterThan(TOTAL / 4);
    expect(tally.argumentError + tally.wsaError + tally.sent).toBe(TOTAL);
  }, 300_000);
});
