// The boundary of issue 13: one parser of address literals, one planner, one plan record per
// message, reused while a sender repeats itself. What is checked here is what a stale or
// shared record would get wrong: the right destination, port and source for every datagram
// (node:dgram receivers witness rinfo.address), batches whose views go as direct arguments
// or as one array, and caller code that tries to run between planning and the system call.
import net from 'node:net';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { formatIp, ipLiteral, parseIp } from '../src/address';
import { openSocket, sendMsg, sendMsgBatch, sendMsgBatchSync, sendMsgSync, type Message } from '../src/index';
import { LiteralMemo, memoLiteral } from '../src/plan';
import { kState } from '../src/socket';
import { catchSync, expectWsa } from './helpers/expect';
import { receiver } from './helpers/receiver';
import { isPosix, wine } from './helpers/platform';
import { useSockets } from './helpers/sockets';

// "data@source" as the receiver saw it. Wine drops WSASendMsg's control data, so there the
// source cannot be checked (the rest still is): the expectation drops it too.
const seen = (m: { data: Buffer; address: string }) => (wine ? `${m.data}` : `${m.data}@${m.address}`);
const want = (xs: string[]) => (wine ? xs.map((x) => x.split('@')[0]!) : xs);

const noZones = () => 0;

describe('the address parser (src/address.ts, the only one)', () => {
  const literals = [
    '0.0.0.0', '127.0.0.1', '255.255.255.255', '1.2.3.4', '::', '::1', '1::', 'fe80::1', '2001:db8::1', '2001:db8:0:0:0:0:2:1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::1.2.3.4', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', 'FE80::ABCD', '0:0:0:0:0:0:0:1',
    'fe80::1%1', 'fe80::1%4294967295',
  ];
  const notLiterals = [
    '', ' ', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.04', '256.1.1.1', '1.2.3.-1', '0x7f.0.0.1', 'localhost', 'example.com',
    ':::', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::1', '::1.2.3', '::1.2.3.256', '1.2.3.4%1', 'fe80::1%', '[::1]',
    '::ffff:1.2.3.4.5', '1:2:3:4:5:6:7:1.2.3.4', `${'1:'.repeat(40)}1`,
  ];

  it('accepts exactly what inet_pton does (Node\'s net.isIP is the witness), and formats as inet_ntop', () => {
    for (const text of literals) {
      const a = parseIp(text, noZones);
      expect(a, text).not.toBeNull();
      const bare = text.split('%')[0]!;
      expect(a!.family, text).toBe(net.isIP(bare));
      expect(formatIp(a!.family, a!.bytes), text).toBe(new net.SocketAddress({ address: bare, family: a!.family === 4 ? 'ipv4' : 'ipv6' }).address);
    }
    for (const text of notLiterals) expect(parseIp(text, noZones), JSON.stringify(text)).toBeNull();
  });

  it('agrees with net.isIP on 20,000 mutations of literals', () => {
    let seed = 13;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const alphabet = '0123456789abcdefABCDEF:.%x ';
    for (let i = 0; i < 20_000; i++) {
      const chars = [...literals[rnd(literals.length)]!.split('%')[0]!];
      for (let m = 1 + rnd(3); m > 0; m--) {
        const at = rnd(chars.length + 1);
        const op = rnd(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[rnd(alphabet.length)]!);
        else chars[at] = alphabet[rnd(alphabet.length)]!;
      }
      const text = chars.join('');
      const a = parseIp(text, noZones);
      const family = text.includes('%') ? (parseIp(text, () => 1) ? net.isIP(text.split('%')[0]!) : 0) : net.isIP(text);
      expect(a === null ? 0 : a.family, JSON.stringify(text)).toBe(text.includes('%') && a === null ? 0 : family);
    }
  });

  it('flags loopback and the dual-stack "v4" once, at parse time', () => {
    const f = (t: string) => { const a = parseIp(t, noZones)!; return [a.v4, a.loopback]; };
    expect(f('127.9.9.9')).toEqual([true, true]);
    expect(f('::ffff:127.0.0.2')).toEqual([true, true]);
    expect(f('::ffff:10.0.0.1')).toEqual([true, false]);
    expect(f('::1')).toEqual([false, true]);
    expect(f('::2')).toEqual([false, false]);
    expect(parseIp('fe80::1%nosuchif0', noZones)!.scope).toBe(-1);
  });

  it('a zone name is looked up on every use (interfaces come, go and are renamed); numbers and plain literals are cached', () => {
    let lookups = 0;
    const lookup = () => { lookups++; return 7; };
    expect(ipLiteral('fe80::1%zoneA', lookup)!.scope).toBe(7);
    expect(ipLiteral('fe80::1%zoneA', lookup)!.scope).toBe(7);
    expect(lookups).toBe(2);
    const a = ipLiteral('fe80::1%3', lookup);
    expect(ipLiteral('fe80::1%3', lookup)).toBe(a);
    expect(lookups).toBe(2);
  });

  it('the literal a send remembers for the next message is never one with a zone name', () => {
    const memo = new LiteralMemo();
    const a = memoLiteral('10.1.2.3', 'to.address', memo);
    expect([memo.text, memo.literal]).toEqual(['10.1.2.3', a]);
    memoLiteral('fe80::1%3', 'to.address', memo);
    expect(memo.text).toBe('fe80::1%3');
    memoLiteral(`fe80::1%${os.networkInterfaces().lo ? 'lo' : 'nosuchif0'}`, 'to.address', memo);
    expect(memo.text).toBe('fe80::1%3');
    expect(catchSync(() => memoLiteral('10.1.2', 'to.address', memo))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(memo.text).toBe('fe80::1%3');
  });
});

describe('one plan record per socket, reused only while nothing changed', () => {
  const { track } = useSockets();
  const trackAll = (...xs: Array<{ close(): unknown }>) => xs.forEach((x) => track(x));

  it('the same message object sent with its port, address and source changed in between goes where each send said', async () => {
    const [a, b] = [await receiver(), await receiver()];
    trackAll(a, b);
    const s = track(await openSocket({ type: 'udp4' }));
    const to = { address: '127.0.0.1', port: a.port };
    const control: { sourceAddress: string } = { sourceAddress: '127.0.0.2' };
    const msg: Message = { buffers: Buffer.from('1'), to, control };
    sendMsgSync(s, msg);
    to.port = b.port;
    msg.buffers = Buffer.from('2');
    sendMsgSync(s, msg);
    control.sourceAddress = '127.0.0.3';
    msg.buffers = Buffer.from('3');
    await sendMsg(s, msg);
    to.address = '127.0.0.1';  // the same text again: the cached literal
    to.port = a.port;
    msg.buffers = Buffer.from('4');
    expect(sendMsgBatchSync(s, [msg, { ...msg, buffers: Buffer.from('5'), to: { address: '127.0.0.1', port: b.port } }, msg])).toEqual({ sent: 3 });
    const got = (r: typeof a, n: number) => r.waitFor(n).then((ms) => ms.map(seen));
    expect(await got(a, 3)).toEqual(want(['1@127.0.0.2', '4@127.0.0.3', '4@127.0.0.3']));
    expect(await got(b, 3)).toEqual(want(['2@127.0.0.2', '3@127.0.0.3', '5@127.0.0.3']));
  });

  it('single sends and batches taking turns on one socket: each goes where it says, from the source it says', async () => {
    const [a, b] = [await receiver(), await receiver()];
    trackAll(a, b);
    const s = track(await openSocket({ type: 'udp4' }));
    const toA = { address: '127.0.0.1', port: a.port };
    const toB = { address: '127.0.0.1', port: b.port };
    const src = (n: number) => ({ sourceAddress: `127.0.0.${n}` });
    sendMsgSync(s, { buffers: Buffer.from('1'), to: toA, control: src(2) });
    expect(sendMsgBatchSync(s, [{ buffers: Buffer.from('2'), to: toB, control: src(2) }, { buffers: Buffer.from('3'), to: toB, control: src(3) }])).toEqual({ sent: 2 });
    sendMsgSync(s, { buffers: Buffer.from('4'), to: toA, control: src(2) });
    expect(await sendMsgBatch(s, [{ buffers: Buffer.from('5'), to: toA, control: src(3) }])).toEqual({ sent: 1 });
    sendMsgSync(s, { buffers: Buffer.from('6'), to: toA, control: src(2) });
    await sendMsg(s, { buffers: Buffer.from('7'), to: toB, control: src(2) });
    sendMsgSync(s, { buffers: Buffer.from('8'), to: toA, control: src(2) });
    const got = (r: typeof a, n: number) => r.waitFor(n).then((ms) => ms.map(seen));
    expect(await got(a, 5)).toEqual(want(['1@127.0.0.2', '4@127.0.0.2', '5@127.0.0.3', '6@127.0.0.2', '8@127.0.0.2']));
    expect(await got(b, 3)).toEqual(want(['2@127.0.0.2', '3@127.0.0.3', '7@127.0.0.2']));
  });

  it('connect() changes what a send without `to` is planned for', async () => {
    const a = track(await receiver());
    const r6 = track(await receiver('udp6'));
    const s = track(await openSocket({ type: 'udp6', ipv6Only: false }));
    const msg = { buffers: Buffer.from('x'), control: { sourceAddress: '::1' } };
    s.connect('::1', r6.port);
    expect(sendMsgSync(s, msg)).toBe(1);
    // Now a v4-mapped peer: the same message's IPv6 source no longer fits the dual-stack rule.
    s.connect('::ffff:127.0.0.1', a.port);
    const e = expectWsa(catchSync(() => sendMsgSync(s, msg)), 'WSAEINVAL');
    expect(e.message).toContain('::1');
    expect(sendMsgSync(s, { buffers: Buffer.from('y'), control: { sourceAddress: '127.0.0.2' } })).toBe(1);
    expect((await r6.waitFor(1)).map(seen)).toEqual(want(['x@::1']));
    expect((await a.waitFor(1)).map(seen)).toEqual(want(['y@127.0.0.2']));
  });

  it('a batch whose views go as one array (more than 256) and one whose views go as arguments send the same', async () => {
    const r = track(await receiver());
    const s = track(await openSocket({ type: 'udp4' }));
    const to = { address: '127.0.0.1', port: r.port };
    const many: Message[] = Array.from({ length: 300 }, (_, i) => ({ buffers: [Buffer.from(`m${i}`), Buffer.from('.')], to }));
    expect(sendMsgBatchSync(s, many)).toEqual({ sent: 300 });
    expect(await sendMsgBatch(s, many.slice(0, 3))).toEqual({ sent: 3 });
    const wide = Array.from({ length: 1024 }, (_, i) => Buffer.from([i & 0xff]));
    expect(sendMsgBatchSync(s, [{ buffers: wide, to }])).toEqual({ sent: 1 });
    const got = await r.waitFor(304);
    expect(got.slice(0, 300).map((m) => m.data.toString())).toEqual(many.map((_, i) => `m${i}.`));
    expect(got[303]!.data).toEqual(Buffer.from(wide.map((b) => b[0]!)));
  });

  it('caller code in Array.prototype[Symbol.iterator], push and Function.prototype.apply never runs between planning and the call', async () => {
    const r = track(await receiver());
    const s = track(await openSocket({ type: 'udp4' }));
    const to = { address: '127.0.0.1', port: r.port };
    const inner: Message[] = [{ buffers: Buffer.from('inner'), to: { address: '127.0.0.1', port: 9 } }];
    const proto = Array.prototype as unknown as Record<PropertyKey, unknown>;
    const saved = { iterator: proto[Symbol.iterator], push: proto.push, apply: Function.prototype.apply };
    let reentered = 0;
    const reenter = () => {
      if (reentered++ < 3) sendMsgBatchSync(s, inner);
    };
    try {
      proto[Symbol.iterator] = function (this: unknown[]) { reenter(); return (saved.iterator as () => Iterator<unknown>).call(this); };
      proto.push = function (this: unknown[], ...items: unknown[]) { reenter(); return (saved.push as (...x: unknown[]) => number).apply(this, items); };
      // eslint-disable-next-line no-extend-native
      Function.prototype.apply = function (this: (...a: unknown[]) => unknown, self: unknown, args: unknown[]) { reenter(); return Reflect.apply(this, self, args ?? []); };
      expect(sendMsgBatchSync(s, [{ buffers: Buffer.from('a'), to }, { buffers: [Buffer.from('b'), Buffer.from('!')], to }])).toEqual({ sent: 2 });
    } finally {
      proto[Symbol.iterator] = saved.iterator;
      proto.push = saved.push;
      Function.prototype.apply = saved.apply;
    }
    expect(reentered).toBeGreaterThan(0);  // the patches were live (while reading the messages, which may run caller code)
    expect((await r.waitFor(2)).map((m) => m.data.toString())).toEqual(['a', 'b!']);
  });

  // Linux's UDP_SEGMENT inside sendmmsg; without USO (Wine) Windows cuts the message itself,
  // which test/segment.test.ts checks on every OS.
  it.skipIf(!isPosix)('a batch message with segmentSize is offloaded as before (up to 64 segments), on every implementation', async () => {
    const r = track(await receiver());
    const s = track(await openSocket({ type: 'udp4' }));
    const to = { address: '127.0.0.1', port: r.port };
    const payload = Buffer.from('a'.repeat(100) + 'b'.repeat(100) + 'c'.repeat(50));
    expect(sendMsgBatchSync(s, [{ buffers: payload, to, segmentSize: 100 }, { buffers: Buffer.from('z'), to }])).toEqual({ sent: 2 });
    expect((await r.waitFor(4)).map((m) => m.data.toString())).toEqual(['a'.repeat(100), 'b'.repeat(100), 'c'.repeat(50), 'z']);
  });

  it('a buffers array whose length is not a small integer is an argument error with a code', async () => {
    const s = track(await openSocket({ type: 'udp4' }));
    for (const length of [-1, 1.5, NaN, 2 ** 32, '2']) {
      const buffers = new Proxy([Buffer.from('x')], { get: (t, k) => (k === 'length' ? length : Reflect.get(t, k)) });
      const e = catchSync(() => sendMsgSync(s, { buffers, to: { address: '127.0.0.1', port: 9 } })) as { code?: string };
      expect(e.code, String(length)).toBe('ERR_OUT_OF_RANGE');
    }
  });

  it('a caller\'s TypedArray fill/set/subarray that re-enters sendMsgSync cannot leave its plan in the outer send\'s record', async () => {
    const [r, other] = [await receiver(), await receiver()];
    trackAll(r, other);
    const s = track(await openSocket({ type: 'udp4' }));
    const to = { address: '127.0.0.1', port: r.port };
    const ta = Object.getPrototypeOf(Uint8Array.prototype) as Record<string, unknown>;
    const saved = { fill: ta.fill, set: ta.set, subarray: ta.subarray };
    let inside = false;
    const innerErrors: unknown[] = [];
    const hook = (name: 'fill' | 'set' | 'subarray') => function (this: unknown, ...args: unknown[]) {
      if (!inside) {
        inside = true;
        // The addon sends it (no JS runs while it builds a message); ffi-rs, which is JS and
        // builds messages in a shared arena, refuses a call from inside another.
        try { sendMsgSync(s, { buffers: Buffer.from('inner'), to: { address: '127.0.0.1', port: other.port }, control: { sourceAddress: '127.0.0.9' } }); }
        catch (err) { innerErrors.push((err as { code?: string }).code); }
        finally { inside = false; }
      }
      return (saved[name] as (...a: unknown[]) => unknown).apply(this, args);
    };
    try {
      ta.fill = hook('fill');
      ta.set = hook('set');
      ta.subarray = hook('subarray');
      sendMsgSync(s, { buffers: Buffer.from('outer'), to });
    } finally {
      Object.assign(ta, saved);
    }
    sendMsgSync(s, { buffers: Buffer.from('after'), to });
    expect((await r.waitFor(2)).map((m) => `${m.data}@${m.address}`)).toEqual(['outer@127.0.0.1', 'after@127.0.0.1']);
    if (s.implementation === 'ffi') expect(innerErrors.filter((c) => c !== 'WSAEINPROGRESS')).toEqual([]);
    else expect(innerErrors).toEqual([]);
  });

  it('an Array.prototype index setter that re-enters the shim while a batch\'s arguments are built cannot redirect it', async () => {
    const [r, other] = [await receiver(), await receiver()];
    trackAll(r, other);
    const s = track(await openSocket({ type: 'udp4' }));
    const s2 = track(await openSocket({ type: 'udp4' }));
    let fired = 0;
    for (const index of ['4', '5']) {
      Object.defineProperty(Array.prototype, index, {
        configurable: true,
        set(v) {
          Object.defineProperty(this, index, { value: v, writable: true, enumerable: true, configurable: true });
          if (fired++ > 0) return;  // once: the inner batch builds arguments too
          sendMsgBatchSync(s2, [{ buffers: Buffer.from('other'), to: { address: '127.0.0.1', port: other.port }, control: { sourceAddress: '127.0.0.9' } }]);
        },
      });
    }
    try {
      expect(sendMsgBatchSync(s, [{ buffers: Buffer.from('mine'), to: { address: '127.0.0.1', port: r.port } }])).toEqual({ sent: 1 });
    } finally {
      delete (Array.prototype as unknown as Record<string, unknown>)['4'];
      delete (Array.prototype as unknown as Record<string, unknown>)['5'];
    }
    expect(fired).toBeGreaterThan(0);
    expect((await r.waitFor(1)).map((m) => `${m.data}@${m.address}`)).toEqual(['mine@127.0.0.1']);
  });

  it('more views than the addon takes as arguments, passed past src/, fail cleanly', async () => {
    const r0 = track(await receiver());
    const s = track(await openSocket({ type: 'udp4' }));
    sendMsgSync(s, { buffers: Buffer.from('planned'), to: { address: '127.0.0.1', port: r0.port } });
    const views = Array.from({ length: 12 }, () => Buffer.from('x'));
    const r = (s[kState].native.sendSync as (...v: unknown[]) => unknown)(...views);
    // The addon takes at most 4 views as arguments: WSAEFAULT, nothing read past them. ffi-rs
    // takes any number (it is JavaScript), all sent as one datagram.
    if (s.implementation === 'addon') expect(Array.isArray(r) && r[0]).toBe(10014);
    else expect(r).toBe(12);
  });

  it('the addon sends a 0-byte view only on the call right after allowEmpty(), and calls no JS to decide', async () => {
    const r0 = track(await receiver());
    const s = track(await openSocket({ type: 'udp4' }));
    sendMsgSync(s, { buffers: Buffer.from('planned'), to: { address: '127.0.0.1', port: r0.port } });
    const n = s[kState].native;
    const send = n.sendSync as (...v: unknown[]) => unknown;
    const ab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(16, { maxByteLength: 32 });
    const outside = new Uint8Array(ab, 4, 8);
    ab.resize(2);
    if (s.implementation === 'addon') {
      // N-API sees 0 bytes for an empty view, a detached one and this one alike: refused
      // before any I/O; src/ decides (validate.ts unusableView) and says allowEmpty().
      expect(send.call(n, outside)).toEqual(expect.arrayContaining([10014]));
      expect(send.call(n, Buffer.alloc(0))).toEqual(expect.arrayContaining([10014]));
      n.allowEmpty();
      expect(send.call(n, Buffer.alloc(0))).toBe(0);
      // Taken by that call: the next is refused again, and so is one after an unused permission.
      expect(send.call(n, Buffer.alloc(0))).toEqual(expect.arrayContaining([10014]));
      n.allowEmpty();
      expect(send.call(n, Buffer.from('ab'))).toBe(2);
      expect(send.call(n, Buffer.alloc(0))).toEqual(expect.arrayContaining([10014]));
      expect((await r0.waitFor(3)).map((m) => m.data.length)).toEqual([7, 0, 2]);
    } else {
      // ffi-rs asks validate.ts itself: the empty view goes, the one outside its buffer does not.
      expect(send.call(n, outside)).toEqual(expect.arrayContaining([10014]));
      expect(send.call(n, Buffer.alloc(0))).toBe(0);
    }
    // Through the API both are what they are: an empty datagram, an argument error.
    expect(sendMsgSync(s, { buffers: Buffer.alloc(0), to: { address: '127.0.0.1', port: r0.port } })).toBe(0);
    expect(catchSync(() => sendMsgSync(s, { buffers: outside, to: { address: '127.0.0.1', port: r0.port } }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });

  it('nothing reachable from a socket leads to memory the native side keeps or reads: detaching all of it changes no send', async () => {
    const [r, other] = [await receiver(), await receiver()];
    trackAll(r, other);
    const s = track(await openSocket({ type: 'udp4' }));
    const to = { address: '127.0.0.1', port: r.port };
    sendMsgSync(s, { buffers: Buffer.from('1'), to });
    await sendMsg(s, { buffers: Buffer.from('2'), to });
    // Every ArrayBuffer a caller can reach from the socket: own properties of every kind
    // (symbols, non-enumerable), array elements, map and set entries, typed arrays' buffers.
    const found = new Set<ArrayBufferLike>();
    const seen = new Set<unknown>();
    const walk = (v: unknown, depth: number): void => {
      if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v) || depth > 8) return;
      seen.add(v);
      if (v instanceof ArrayBuffer) found.add(v);
      if (ArrayBuffer.isView(v)) found.add(v.buffer);
      if (v instanceof Map) for (const [k, x] of v) { walk(k, depth + 1); walk(x, depth + 1); }
      if (v instanceof Set) for (const x of v) walk(x, depth + 1);
      for (const key of Reflect.ownKeys(v)) {
        const d = Reflect.getOwnPropertyDescriptor(v, key);
        if (d && 'value' in d) walk(d.value, depth + 1);
      }
    };
    walk(s, 0);
    // The socket's own plan record (64 bytes, kept by the addon as a pointer) is not among them.
    expect([...found].filter((ab) => ab.byteLength === 64)).toEqual([]);
    // Detach each: ArrayBuffer.prototype.transfer where there is one (Node 21+), else a
    // structuredClone transfer.
    for (const ab of found) {
      const transfer = (ab as { transfer?: () => ArrayBuffer }).transfer;
      try {
        if (transfer) transfer.call(ab);
        else structuredClone(ab, { transfer: [ab as ArrayBuffer] });
      } catch {
        // untransferable here: nothing to prove for this one
      }
    }
    sendMsgSync(s, { buffers: Buffer.from('3'), to });
    expect(await sendMsg(s, { buffers: Buffer.from('4'), to })).toBe(1);
    expect(sendMsgBatchSync(s, [{ buffers: Buffer.from('5'), to }])).toEqual({ sent: 1 });
    expect((await r.waitFor(5)).map((m) => `${m.data}`)).toEqual(['1', '2', '3', '4', '5']);
    expect(other.messages).toEqual([]);
  });
});
