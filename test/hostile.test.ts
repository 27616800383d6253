// Hostile callers (issue 13): getters that change between reads or re-enter the API,
// Proxies, views whose own properties lie, buffers detached by a later getter. The shim
// reads every field once, measures the views only when no user code can run any more, and
// sends exactly what it read. A node:dgram receiver is the witness.
import { afterEach, describe, expect, it } from 'vitest';
import { openSocket, sendMsg, sendMsgBatch, sendMsgBatchSync, sendMsgSync, type Message, type Socket } from '../src/index';
import { catchAsync, catchSync, expectWsa } from './helpers/expect';
import { receiver, type Receiver } from './helpers/receiver';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});
async function setup(): Promise<{ s: Socket; r: Receiver; to: { address: string; port: number } }> {
  const s = await openSocket({ type: 'udp4' });
  const r = await receiver();
  open.push(s, r);
  return { s, r, to: { address: '127.0.0.1', port: r.port } };
}
const text = (ms: Array<{ data: Buffer }>) => ms.map((m) => m.data.toString());
/** Moves an ArrayBuffer's memory away, leaving the original detached. */
const detach = (ab: ArrayBufferLike) => structuredClone(ab, { transfer: [ab as ArrayBuffer] });

describe('hostile callers', () => {
  it('an element getter that re-enters sendMsgBatchSync on the same socket: each batch sends its own payloads', async () => {
    const { s, r, to } = await setup();
    const inner: Message[] = [0, 1, 2, 3, 4].map((i) => ({ buffers: Buffer.from(`inner-${i}`), to }));
    const sneaky: ArrayBufferView[] = [];
    Object.defineProperty(sneaky, 0, { enumerable: true, get: () => {
      expect(sendMsgBatchSync(s, inner)).toEqual({ sent: 5 });
      return Buffer.from('outer-1');
    } });
    const outer: Message[] = [{ buffers: Buffer.from('outer-0'), to }, { buffers: sneaky, to }, { buffers: Buffer.from('outer-2'), to }];
    expect(sendMsgBatchSync(s, outer)).toEqual({ sent: 3 });
    expect(text(await r.waitFor(8))).toEqual(['inner-0', 'inner-1', 'inner-2', 'inner-3', 'inner-4', 'outer-0', 'outer-1', 'outer-2']);
  });

  it('an index getter that returns a fresh view on each read is read once: that view is what is sent', async () => {
    const { s, r, to } = await setup();
    let reads = 0;
    const buffers: ArrayBufferView[] = [];
    Object.defineProperty(buffers, 0, { enumerable: true, get: () => Buffer.from(`read-${++reads}`) });
    await sendMsg(s, { buffers, to });
    sendMsgSync(s, { buffers, to });
    await sendMsgBatch(s, [{ buffers, to }]);
    expect(reads).toBe(3);  // once per call
    expect(text(await r.waitFor(3))).toEqual(['read-1', 'read-2', 'read-3']);
  });

  it('segmentSize is read once: a getter answering 100, then 100, then 0.5 sends 100-byte segments', async () => {
    const { s, r, to } = await setup();
    const answers = [100, 100, 0.5];
    let reads = 0;
    const msg = { buffers: Buffer.alloc(600, 1), to, get segmentSize() { return answers[Math.min(reads++, 2)]; } };
    expect(sendMsgSync(s, msg)).toBe(600);
    expect(reads).toBe(1);
    const got = await r.waitFor(6);
    expect(got.map((m) => m.data.length)).toEqual([100, 100, 100, 100, 100, 100]);
  });

  it('a Proxy around the buffers array sends like the array; each element and the length are read once', async () => {
    const { s, r, to } = await setup();
    const reads: string[] = [];
    const buffers = new Proxy([Buffer.from('ab'), Buffer.from('cd')], {
      get(target, key, recv) {
        reads.push(String(key));
        return Reflect.get(target, key, recv);
      },
    });
    expect(sendMsgSync(s, { buffers, to })).toBe(4);
    await expect(sendMsg(s, { buffers, to })).resolves.toBe(4);
    expect(text(await r.waitFor(2))).toEqual(['abcd', 'abcd']);
    expect(reads).toEqual(['length', '0', '1', 'length', '0', '1']);
  });

  it('buffers are read in order up to the first that is not a view, which the error names; nothing is sent', async () => {
    const { s, r, to } = await setup();
    for (const n of [2, 3, 4, 5]) {
      const reads: string[] = [];
      const list: unknown[] = Array.from({ length: n }, (_, i) => (i === n - 2 ? `not a view` : Buffer.from(`${i}`)));
      const buffers = new Proxy(list, {
        get(target, key, recv) {
          reads.push(String(key));
          return Reflect.get(target, key, recv);
        },
      }) as ArrayBufferView[];
      const e = catchSync(() => sendMsgSync(s, { buffers, to }));
      expect(e).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining(`msg.buffers[${n - 2}]`) });
      expect(reads).toEqual(['length', ...Array.from({ length: n - 1 }, (_, i) => String(i))]);
    }
    expect(await r.settle(100)).toEqual([]);
  });

  it('a view whose own byteLength lies is measured by what it really covers', async () => {
    const { s, r, to } = await setup();
    const small = Buffer.alloc(20, 0x41);
    Object.defineProperty(small, 'byteLength', { value: 10 });
    expect(sendMsgSync(s, { buffers: small, to })).toBe(20);
    expect((await r.waitFor(1))[0]!.data.length).toBe(20);
    // A view too large for UDP cannot sneak past the size limit by claiming to be small.
    const big = new Uint8Array(70_000);
    Object.defineProperty(big, 'byteLength', { value: 10 });
    expectWsa(catchSync(() => sendMsgSync(s, { buffers: big, to })), 'WSAEMSGSIZE');
    expectWsa(await catchAsync(sendMsg(s, { buffers: [big], to })), 'WSAEMSGSIZE');
    expect(await r.settle(100)).toHaveLength(1);
  });

  it('a getter read after the buffers that detaches them: refused as an argument error, nothing sent', async () => {
    const { s, r, to } = await setup();
    const payload = new Uint8Array(new ArrayBuffer(8));
    const msg = { buffers: [payload], get to() { detach(payload.buffer); return to; } };
    expect(catchSync(() => sendMsgSync(s, msg))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    // In a batch, a later message's getter detaching an earlier message's buffer.
    const first = new Uint8Array(new ArrayBuffer(8));
    const batch = [{ buffers: first, to }, { buffers: Buffer.from('x'), get to() { detach(first.buffer); return to; } }];
    expect(catchSync(() => sendMsgBatchSync(s, batch))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('msgs[0].buffers') });
    expect(await r.settle(100)).toEqual([]);
  });

  it('a getter that closes the socket while the message is read: WSAENOTSOCK, nothing sent', async () => {
    const { s, r, to } = await setup();
    const msg = { buffers: Buffer.from('x'), get to() { void s.close(); return to; } };
    expectWsa(await catchAsync(sendMsg(s, msg)), 'WSAENOTSOCK');
    expect(await r.settle(100)).toEqual([]);
  });

  it('a resizable ArrayBuffer shrunk by a later getter is sent at its size when the call sealed it', async () => {
    const { s, r, to } = await setup();
    const ab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(16, { maxByteLength: 64 });
    new Uint8Array(ab).fill(0x42);
    const view = new Uint8Array(ab);  // length-tracking
    const msg = { buffers: view, get to() { ab.resize(4); return to; } };
    expect(sendMsgSync(s, msg)).toBe(4);
    expect((await r.waitFor(1))[0]!.data).toEqual(Buffer.alloc(4, 0x42));
  });

  it('a msgs Proxy whose length changes between reads is read once: the MAX_BATCH check holds', async () => {
    const { s, to } = await setup();
    let reads = 0;
    const msgs = new Proxy([{ buffers: Buffer.from('x'), to }], {
      get(target, key, recv) {
        if (key === 'length') return ++reads === 1 ? 1025 : 1;
        return Reflect.get(target, key, recv);
      },
    });
    expect(catchSync(() => sendMsgBatchSync(s, msgs))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(reads).toBe(1);
  });

  it('a caller who replaced typed-array, DataView and Math builtins after load: none of them runs inside a send, and what goes out is what was asked', async () => {
    const { s, r, to } = await setup();
    const other = await receiver();
    open.push(other);
    const Real = globalThis.Uint8Array;
    const empty = new Real(0);
    const emptyDv = new DataView(new ArrayBuffer(0));
    const dv = new DataView(new ArrayBuffer(4));
    const big = Buffer.alloc(300, 7);
    const first = Buffer.from('first');
    const sources = { control: { sourceAddress: '127.0.0.1' } };
    const calls: Record<string, number> = {};
    let inside = false;
    // Each replacement counts itself and, once at a time, tries to re-enter the shim with a
    // datagram to another receiver from another source (review: a `length` getter that did
    // this made the outer datagram leave from 127.0.0.9).
    const reenter = (name: string) => {
      calls[name] = (calls[name] ?? 0) + 1;
      if (inside) return;
      inside = true;
      try { sendMsgSync(s, { buffers: Buffer.from('inner'), to: { address: '127.0.0.1', port: other.port }, control: { sourceAddress: '127.0.0.9' } }); }
      catch { /* ffi-rs refuses a call from inside another (WSAEINPROGRESS) */ }
      finally { inside = false; }
    };
    const restore: Array<() => void> = [];
    const replace = (obj: object, key: string | symbol, name: string) => {
      const d = Object.getOwnPropertyDescriptor(obj, key)!;
      if (d.get) {
        const get = d.get;
        Object.defineProperty(obj, key, { ...d, get(this: unknown) { reenter(name); return get.call(this); } });
      } else {
        const fn = d.value as (...a: unknown[]) => unknown;
        Object.defineProperty(obj, key, { ...d, value: function (this: unknown, ...a: unknown[]) { reenter(name); return fn.apply(this, a); } });
      }
      restore.push(() => Object.defineProperty(obj, key, d));
    };
    const ta = Object.getPrototypeOf(Uint8Array.prototype) as object;
    for (const k of ['length', 'byteLength', 'byteOffset', 'buffer', 'set', 'fill', 'subarray', 'slice', 'at']) replace(ta, k, `%TypedArray%.prototype.${k}`);
    replace(Object.getPrototypeOf(Uint8Array) as object, Symbol.species, 'Symbol.species');
    for (const k of ['byteLength', 'byteOffset', 'buffer', 'getUint8', 'getUint16', 'getUint32', 'getInt32', 'getInt16', 'getBigUint64',
      'setUint8', 'setUint16', 'setUint32', 'setInt32', 'setInt16', 'setBigUint64']) replace(DataView.prototype, k, `DataView.prototype.${k}`);
    for (const k of ['min', 'max', 'floor', 'ceil']) replace(Math, k, `Math.${k}`);
    const ctors = { Uint8Array, Uint16Array, Uint32Array, Int32Array, Float64Array, DataView, ArrayBuffer };
    for (const name of Object.keys(ctors) as Array<keyof typeof ctors>) {
      const C = ctors[name] as unknown as new (...a: unknown[]) => unknown;
      (globalThis as Record<string, unknown>)[name] = new Proxy(C, { construct(t, a, nt) { reenter(`new ${name}`); return Reflect.construct(t, a, nt); } });
      restore.push(() => { (globalThis as Record<string, unknown>)[name] = C; });
    }
    const pending: Array<Promise<unknown>> = [];
    try {
      sendMsgSync(s, { buffers: empty, to, ...sources });  // a 0-byte view: the addon's refusal, then allowEmpty()
      sendMsgSync(s, { buffers: [emptyDv], to, ...sources });
      pending.push(sendMsg(s, { buffers: first, to, ...sources }), sendMsg(s, { buffers: dv, to, ...sources }));  // the second is staged
      sendMsgSync(s, { buffers: big, to, segmentSize: 100, ...sources });
      expect(sendMsgBatchSync(s, [{ buffers: dv, to, ...sources }, { buffers: [empty, first], to: { address: '127.0.0.1', port: to.port }, ...sources }])).toEqual({ sent: 2 });
      pending.push(sendMsgBatch(s, [{ buffers: [dv, emptyDv], to, ...sources }, { buffers: big, to, segmentSize: 150, ...sources }]));
    } finally {
      for (const undo of restore.reverse()) undo();
    }
    expect(calls).toEqual({});
    expect(await Promise.all(pending)).toEqual([5, 4, { sent: 2 }]);
    const got = await r.waitFor(12);
    expect(got.map((m) => m.data.length).sort((a, b) => a - b)).toEqual([0, 0, 4, 4, 4, 5, 5, 100, 100, 100, 150, 150]);
    expect(new Set(got.map((m) => m.address))).toEqual(new Set(['127.0.0.1']));
    expect(await other.settle(100)).toEqual([]);
  });

  it('signals: one without removeEventListener is refused up front; sendMsgSync takes none', async () => {
    const { s, to } = await setup();
    const noRemove = { aborted: false, addEventListener() {} };
    expect(catchSync(() => sendMsg(s, { buffers: Buffer.from('x'), to, signal: noRemove as unknown as AbortSignal }))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(catchSync(() => sendMsgSync(s, { buffers: Buffer.from('x'), to, signal: new AbortController().signal }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});

// A view over a resizable ArrayBuffer that was shrunk below it is "out of bounds": every
// intrinsic length getter says 0 (a DataView's throws). It is not an empty payload: sending
// it as one would put a datagram on the wire that the caller never wrote.
describe('views left outside a shrunk resizable ArrayBuffer', () => {
  type Resizable = ArrayBuffer & { resize(n: number): void };
  const resizable = (n: number) => new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable)(n, { maxByteLength: 64 });
  const shapes: Record<string, (ab: Resizable) => ArrayBufferView> = {
    'a fixed Uint8Array past the end': (ab) => new Uint8Array(ab, 4, 8),
    'a fixed Uint8Array whose start is still inside': (ab) => new Uint8Array(ab, 1, 8),
    'a length-tracking Uint8Array past the end': (ab) => new Uint8Array(ab, 12),
    'a Float64Array': (ab) => new Float64Array(ab, 8, 1),
    'a DataView': (ab) => new DataView(ab, 4, 8),
    'a length-tracking DataView past the end': (ab) => new DataView(ab, 12),
  };
  const outside = (shape: (ab: Resizable) => ArrayBufferView) => {
    const ab = resizable(16);
    const v = shape(ab);
    ab.resize(2);
    return v;
  };
  const refused = { code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('outside its ArrayBuffer') };

  for (const [name, shape] of Object.entries(shapes)) {
    it(`${name}: every send refuses it as an argument error, before any I/O`, async () => {
      const { s, r, to } = await setup();
      expect(catchSync(() => sendMsgSync(s, { buffers: outside(shape), to }))).toMatchObject(refused);
      expect(catchSync(() => sendMsgSync(s, { buffers: [Buffer.from('a'), outside(shape)], to }))).toMatchObject(
        { ...refused, message: expect.stringContaining('msg.buffers[1]') });
      expect(catchSync(() => sendMsgSync(s, { buffers: [outside(shape)], to, segmentSize: 100 }))).toMatchObject(refused);
      expect(catchSync(() => sendMsg(s, { buffers: outside(shape), to }))).toMatchObject(refused);
      expect(catchSync(() => sendMsg(s, { buffers: [outside(shape)], to }, () => {}))).toMatchObject(refused);
      expect(catchSync(() => sendMsgBatchSync(s, [{ buffers: Buffer.from('b'), to }, { buffers: outside(shape), to }]))).toMatchObject(
        { ...refused, message: expect.stringContaining('msgs[1].buffers') });
      expect(catchSync(() => sendMsgBatch(s, [{ buffers: [outside(shape)], to }]))).toMatchObject(refused);
      // The socket is fine afterwards, and nothing of the refused calls went out.
      expect(sendMsgSync(s, { buffers: Buffer.from('after'), to })).toBe(5);
      expect(text(await r.waitFor(1))).toEqual(['after']);
      expect(await r.settle(100)).toHaveLength(1);
    });
  }

  it('shrunk by a getter that runs after the view was read: refused, nothing sent', async () => {
    const { s, r, to } = await setup();
    const ab = resizable(16);
    const view = new Uint8Array(ab, 4, 8);
    expect(catchSync(() => sendMsgSync(s, { buffers: view, get to() { ab.resize(2); return to; } }))).toMatchObject(refused);
    const ab2 = resizable(16);
    const first = new DataView(ab2, 4, 8);
    const batch = [{ buffers: first, to }, { buffers: Buffer.from('x'), get to() { ab2.resize(2); return to; } }];
    expect(catchSync(() => sendMsgBatchSync(s, batch))).toMatchObject({ ...refused, message: expect.stringContaining('msgs[0].buffers') });
    expect(await r.settle(100)).toEqual([]);
  });

  it('an empty view that lies inside its resizable ArrayBuffer is an empty datagram, as with any buffer', async () => {
    const { s, r, to } = await setup();
    const ab = resizable(16);
    const empty = new Uint8Array(ab, 2, 0);
    const tracking = new Uint8Array(ab, 2);
    ab.resize(2);
    expect(sendMsgSync(s, { buffers: empty, to })).toBe(0);
    expect(sendMsgSync(s, { buffers: [tracking, new DataView(ab, 2)], to })).toBe(0);
    expect(await sendMsg(s, { buffers: empty, to })).toBe(0);
    expect(sendMsgBatchSync(s, [{ buffers: tracking, to }])).toEqual({ sent: 1 });
    expect((await r.waitFor(4)).map((m) => m.data.length)).toEqual([0, 0, 0, 0]);
  });
});
