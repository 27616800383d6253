// Seeded property test over 100,000 random messages through the public API, against a
// real loopback receiver. Invariants: nothing crashes; every refusal is a Node-style
// argument error or a WsaError; the receiver sees exactly the datagrams reported sent,
// byte for byte, in order. Every address generated is loopback or invalid, so nothing can
// leave the machine. Reproduce a failure with FUZZ_SEED=<seed printed in the test name>.
// Hostile callers too: three of every four messages are handed over through getters or
// Proxies whose later reads answer something else (another payload, another destination),
// so a second read anywhere would show as a wrong datagram at the receiver.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSocket, recvMsg, sendMsgSync, WsaError, type Socket } from '../src/index';
import { isPosix } from './helpers/platform';
import { V6_ELSEWHERE, bytesOf, message, type Case } from './helpers/messages';

const SEED = Number(process.env.FUZZ_SEED ?? 20261129);

/** Answers `first` on the first read and `later` on every read after it. */
function once<T>(first: T, later: T): () => T {
  let read = false;
  return () => {
    if (read) return later;
    read = true;
    return first;
  };
}
const DECOY = Buffer.from('a second read of this field');

/**
 * The same message as the caller's code would hand it over: kind 0 as is; 1 buffers behind a
 * Proxy; 2 every field behind a getter whose later reads lie; 3 every buffer element behind
 * an index getter whose later reads lie. The shim must send exactly what kind 0 sends.
 */
function hostile(msg: Record<string, unknown>, kind: number): Record<string, unknown> {
  if (kind === 1 && Array.isArray(msg.buffers)) return { ...msg, buffers: new Proxy(msg.buffers, {}) };
  if (kind === 2) {
    const out = {};
    for (const [key, value] of Object.entries(msg)) {
      const later = key === 'buffers' ? DECOY : key === 'to' ? { address: '127.0.0.1', port: 9 } : value;
      Object.defineProperty(out, key, { enumerable: true, get: once(value, later) });
    }
    return out;
  }
  if (kind === 3 && Array.isArray(msg.buffers)) {
    const arr: unknown[] = [];
    msg.buffers.forEach((b, i) => Object.defineProperty(arr, i, { enumerable: true, get: once(b, DECOY) }));
    return { ...msg, buffers: arr };
  }
  return msg;
}
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
    let index = 0;
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
        const handed = hostile(msg, index++ % 4);
        let bytes: number;
        try {
          bytes = sendMsgSync(v6 ? tx6 : tx4, handed as never);
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
