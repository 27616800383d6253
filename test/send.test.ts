// DESIGN.md's semantics table, row by row where loopback can produce it, through the
// public API, with node:dgram as the witness of payload and source address.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { MSG, openSocket, sendMsg, sendMsgBatch, sendMsgBatchSync, sendMsgSync, type Socket } from '../src/index';
import { catchAsync, catchSync, expectWsa } from './helpers/expect';
import { itControlData, itUnlessWine, posixSysCode, sendSyscall } from './helpers/platform';
import { receiver, type Receiver } from './helpers/receiver';

const open: Array<Socket | Receiver> = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});
async function sock(opts: Parameters<typeof openSocket>[0]): Promise<Socket> {
  const s = await openSocket(opts);
  open.push(s);
  return s;
}
async function rx(type: 'udp4' | 'udp6' = 'udp4', address?: string): Promise<Receiver> {
  const r = await receiver(type, address);
  open.push(r);
  return r;
}
const b = (s: string) => Buffer.from(s);

describe('source address per datagram (IPv4)', () => {
  it('gathers buffers, with and without control data, sync, promise and callback', async () => {
    const r = await rx();
    const s = await sock({ type: 'udp4' });
    const to = { address: '127.0.0.1', port: r.port };
    expect(sendMsgSync(s, { buffers: [b('one'), b(':'), b('sync')], to })).toBe(8);
    expect(await sendMsg(s, { buffers: [b('two:'), new Uint8Array(b('promise')), new DataView(new Uint8Array([33]).buffer)], to, control: { sourceAddress: '127.0.0.1' } })).toBe(12);
    const n = await new Promise<number>((resolve, reject) =>
      sendMsg(s, { buffers: new Uint16Array([0x6968]), to }, (err, bytes) => (err ? reject(err) : resolve(bytes))));
    expect(n).toBe(2);
    const got = await r.waitFor(3);
    expect(got.map((m) => m.data.toString())).toEqual(['one:sync', 'two:promise!', 'hi']);
    expect(new Set(got.map((m) => m.port))).toEqual(new Set([s.address().port]));
  });

  itControlData('sends each datagram from its own 127.0.0.x source', async () => {
    const r = await rx();
    const s = await sock({ type: 'udp4' });
    const to = { address: '127.0.0.1', port: r.port };
    expect(sendMsgSync(s, { buffers: [b('one:'), b('127.0.0.1')], to, control: { sourceAddress: '127.0.0.1' } })).toBe(13);
    expect(await sendMsg(s, { buffers: [b('two:'), new Uint8Array(b('127.0.0.2')), new DataView(new Uint8Array([33]).buffer)], to, control: { sourceAddress: '127.0.0.2' } })).toBe(14);
    const n = await new Promise<number>((resolve, reject) =>
      sendMsg(s, { buffers: b('three:127.0.0.3'), to, control: { sourceAddress: '127.0.0.3' } }, (err, bytes) => (err ? reject(err) : resolve(bytes))));
    expect(n).toBe(15);
    const got = await r.waitFor(3);
    expect(got.map((m) => [m.data.toString(), m.address])).toEqual([
      ['one:127.0.0.1', '127.0.0.1'],
      ['two:127.0.0.2!', '127.0.0.2'],
      ['three:127.0.0.3', '127.0.0.3'],
    ]);
    // The source port is the socket's own, whatever the source address.
    expect(new Set(got.map((m) => m.port))).toEqual(new Set([s.address().port]));
  });

  itControlData('overrides the bound address of a socket bound to 127.0.0.1', async () => {
    const r = await rx();
    const s = await sock({ type: 'udp4', bind: { address: '127.0.0.1' } });
    await sendMsg(s, { buffers: b('x'), to: { address: '127.0.0.1', port: r.port }, control: { sourceAddress: '127.0.0.2' } });
    expect((await r.waitFor(1))[0].address).toBe('127.0.0.2');
  });

  it('without control data, sends from the routing choice', async () => {
    const r = await rx();
    const s = await sock({ type: 'udp4' });
    await sendMsg(s, { buffers: b('plain'), to: { address: '127.0.0.1', port: r.port } });
    expect((await r.waitFor(1))[0].address).toBe('127.0.0.1');
  });

  // Runs under Wine too: on Windows the shim itself fills the source of an interface-only
  // send from the interface (Windows would send from 0.0.0.0), so the lookup, and its
  // WSAENETDOWN for a missing interface, are the shim's (platform/win32/send.cc).
  it('interfaceIndex 1 (loopback) alone is accepted; a missing interface is WSAENETDOWN', async () => {
    const r = await rx();
    const s = await sock({ type: 'udp4' });
    await sendMsg(s, { buffers: b('lo'), to: { address: '127.0.0.1', port: r.port }, control: { interfaceIndex: 1 } });
    expect((await r.waitFor(1))[0].data.toString()).toBe('lo');
    const err = catchSync(() => sendMsgSync(s, { buffers: b('no'), to: { address: '127.0.0.1', port: r.port }, control: { interfaceIndex: 999999 } }));
    expect(expectWsa(err, 'WSAENETDOWN')).toMatchObject(posixSysCode('ENODEV'));
    expect((await r.settle()).length).toBe(1);
  });

  it('a zero-length datagram is a datagram', async () => {
    const r = await rx();
    const s = await sock({ type: 'udp4' });
    expect(sendMsgSync(s, { buffers: [], to: { address: '127.0.0.1', port: r.port } })).toBe(0);
    expect((await r.waitFor(1))[0].data.length).toBe(0);
  });
});

describe('payload views', () => {
  it('every kind of view sends the bytes it covers, alone, gathered and in a batch', async () => {
    const r = await rx();
    const s = await sock({ type: 'udp4' });
    const to = { address: '127.0.0.1', port: r.port };
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void };
    const rab = new Resizable(8, { maxByteLength: 16 });
    new Uint8Array(rab).set([1, 2, 3, 4, 5, 6, 7, 8]);
    const tracking16 = new Uint16Array(rab, 2);
    const trackingDv = new DataView(rab, 1);
    rab.resize(6);
    const shared = new Float32Array(new SharedArrayBuffer(12), 4, 2);
    shared.set([1.5, -2]);
    const views: ArrayBufferView[] = [
      Buffer.from('pooled'), new Uint8Array([1, 2, 3]).subarray(1), new Uint8ClampedArray([250, 251]), new Int8Array([-1]),
      new Uint16Array([0x0102, 0x0304]).subarray(1), new Int16Array([-2]), new Int32Array([-1, 7]), new Uint32Array([0xdeadbeef]),
      new Float32Array([0.25]), new Float64Array([1.5, 2.5]).subarray(1), new BigInt64Array([-3n]), new BigUint64Array([0x0102030405060708n]),
      new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2), tracking16, trackingDv, shared, new Uint8Array(0), new DataView(new ArrayBuffer(0)),
    ];
    const bytes = (v: ArrayBufferView) => Buffer.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    expect([tracking16.byteLength, trackingDv.byteLength]).toEqual([4, 5]);
    for (const v of views) expect(sendMsgSync(s, { buffers: v, to })).toBe(v.byteLength);
    expect(sendMsgSync(s, { buffers: views, to })).toBe(views.reduce((n, v) => n + v.byteLength, 0));
    expect(sendMsgBatchSync(s, views.map((v) => ({ buffers: [v, v], to })))).toEqual({ sent: views.length });
    expect(await sendMsgBatch(s, [{ buffers: views.slice(0, 4), to }, { buffers: views.slice(4), to }])).toEqual({ sent: 2 });
    const got = (await r.waitFor(2 * views.length + 3)).map((m) => m.data);
    const want = [
      ...views.map(bytes), Buffer.concat(views.map(bytes)), ...views.map((v) => Buffer.concat([bytes(v), bytes(v)])),
      Buffer.concat(views.slice(0, 4).map(bytes)), Buffer.concat(views.slice(4).map(bytes)),
    ];
    expect(got).toEqual(want);
  });
});

describe('IPv6 and dual stack', () => {
  it('udp6 sends to ::1 from ::1 with IPV6_PKTINFO', async () => {
    const r = await rx('udp6');
    const s = await sock({ type: 'udp6' });
    await sendMsg(s, { buffers: [b('six')], to: { address: '::1', port: r.port }, control: { sourceAddress: '::1' } });
    const [m] = await r.waitFor(1);
    expect([m.data.toString(), m.address]).toEqual(['six', '::1']);
  });

  itControlData('dual stack: v4 and v4-mapped destinations take an IPv4 source (IN_PKTINFO rule)', async () => {
    const r = await rx();
    const s = await sock({ type: 'udp6', ipv6Only: false });
    await sendMsg(s, { buffers: b('a'), to: { address: '127.0.0.1', port: r.port }, control: { sourceAddress: '127.0.0.2' } });
    await sendMsg(s, { buffers: b('b'), to: { address: '::ffff:127.0.0.1', port: r.port }, control: { sourceAddress: '::ffff:127.0.0.3' } });
    await sendMsg(s, { buffers: b('c'), to: { address: '::ffff:127.0.0.1', port: r.port } });
    const got = await r.waitFor(3);
    expect(got.map((m) => [m.data.toString(), m.address])).toEqual([['a', '127.0.0.2'], ['b', '127.0.0.3'], ['c', '127.0.0.1']]);
  });

  it('dual stack: a source of the other family than the destination is WSAEINVAL, nothing sent', async () => {
    const r = await rx();
    const r6 = await rx('udp6');
    const s = await sock({ type: 'udp6' });
    expectWsa(await catchAsync(sendMsg(s, { buffers: b('x'), to: { address: '127.0.0.1', port: r.port }, control: { sourceAddress: '::1' } })), 'WSAEINVAL');
    expectWsa(catchSync(() => sendMsgSync(s, { buffers: b('x'), to: { address: '::1', port: r6.port }, control: { sourceAddress: '127.0.0.1' } })), 'WSAEINVAL');
    expect((await r.settle()).length + r6.messages.length).toBe(0);
  });

  it('ipv6Only: true refuses v4-mapped destinations (WSAENETUNREACH)', async () => {
    const r = await rx();
    const s = await sock({ type: 'udp6', ipv6Only: true });
    expectWsa(catchSync(() => sendMsgSync(s, { buffers: b('x'), to: { address: '127.0.0.1', port: r.port } })), 'WSAENETUNREACH');
    expect((await r.settle()).length).toBe(0);
  });

  it('a %zone that no interface has is WSAEINVAL, not scope 0', async () => {
    const s = await sock({ type: 'udp6' });
    expectWsa(catchSync(() => sendMsgSync(s, { buffers: b('x'), to: { address: 'fe80::1%nosuchif0', port: 9 } })), 'WSAEINVAL');
    expectWsa(await catchAsync(sendMsg(s, { buffers: b('x'), to: { address: '::1', port: 9 }, control: { sourceAddress: 'fe80::1%nosuchif0' } })), 'WSAEINVAL');
  });

  it('an IPv6 destination on a udp4 socket is WSAEAFNOSUPPORT', async () => {
    const s = await sock({ type: 'udp4' });
    expectWsa(catchSync(() => sendMsgSync(s, { buffers: b('x'), to: { address: '::1', port: 9 } })), 'WSAEAFNOSUPPORT');
    expectWsa(await catchAsync(sendMsg(s, { buffers: b('x'), to: { address: '::ffff:127.0.0.1', port: 9 } })), 'WSAEAFNOSUPPORT');
  });
});

describe('the semantics table', () => {
  it('datagrams above the transport limit are WSAEMSGSIZE and nothing is sent; the limit itself passes', async () => {
    const r4 = await rx();
    const r6 = await rx('udp6');
    const s4 = await sock({ type: 'udp4', sendBufferSize: 1 << 20 });
    const s6 = await sock({ type: 'udp6', sendBufferSize: 1 << 20 });
    const e = expectWsa(catchSync(() => sendMsgSync(s4, { buffers: [Buffer.alloc(60000), Buffer.alloc(5508)], to: { address: '127.0.0.1', port: r4.port } })), 'WSAEMSGSIZE');
    expect(e.message).toBe(`${sendSyscall} WSAEMSGSIZE: message too long 127.0.0.1:${r4.port}`);
    expect([e.address, e.port, e.syscall, e.sysErrno]).toEqual(['127.0.0.1', r4.port, sendSyscall, undefined]);
    expectWsa(await catchAsync(sendMsg(s6, { buffers: Buffer.alloc(65528), to: { address: '::1', port: r6.port } })), 'WSAEMSGSIZE');
    // A v4-mapped destination has the IPv4 limit even on a udp6 socket.
    expectWsa(catchSync(() => sendMsgSync(s6, { buffers: Buffer.alloc(65508), to: { address: '127.0.0.1', port: r4.port } })), 'WSAEMSGSIZE');
    expect(sendMsgSync(s4, { buffers: Buffer.alloc(65507, 1), to: { address: '127.0.0.1', port: r4.port } })).toBe(65507);
    expect(await sendMsg(s6, { buffers: Buffer.alloc(65527, 2), to: { address: '::1', port: r6.port } })).toBe(65527);
    expect((await r4.waitFor(1)).map((m) => m.data.length)).toEqual([65507]);
    expect((await r6.waitFor(1)).map((m) => m.data.length)).toEqual([65527]);
  });

  it('flags other than DONTROUTE/OOB/PARTIAL are WSAEOPNOTSUPP; OOB and PARTIAL too on datagram sockets', async () => {
    const r = await rx();
    const r6 = await rx('udp6');
    const s = await sock({ type: 'udp4' });
    const s6 = await sock({ type: 'udp6' });
    const to = { address: '127.0.0.1', port: r.port };
    for (const flags of [0x2, 0x40, 0x100, 0x40000000, 0x80000000, MSG.OOB, MSG.PARTIAL, MSG.OOB | MSG.DONTROUTE]) {
      expectWsa(catchSync(() => sendMsgSync(s, { buffers: b('x'), to, flags })), 'WSAEOPNOTSUPP');
      expectWsa(await catchAsync(sendMsg(s, { buffers: b('x'), to, flags })), 'WSAEOPNOTSUPP');
    }
    // Linux itself would send MSG_OOB on IPv6; the shim refuses it as Windows does.
    expectWsa(catchSync(() => sendMsgSync(s6, { buffers: b('x'), to: { address: '::1', port: r6.port }, flags: MSG.OOB })), 'WSAEOPNOTSUPP');
    expect(sendMsgSync(s, { buffers: b('dontroute'), to, flags: MSG.DONTROUTE })).toBe(9);
    expect((await r.waitFor(1)).map((m) => m.data.toString())).toEqual(['dontroute']);
    expect(r6.messages.length).toBe(0);
  });

  it('stream sockets are refused', () => {
    for (const type of ['tcp4', 'tcp', 'stream']) {
      expect(catchSync(() => openSocket({ type: type as 'udp4' }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    }
  });

  it('broadcast destination without broadcast: true is WSAEACCES; with it, the send goes', async () => {
    const s = await sock({ type: 'udp4' });
    const e = expectWsa(catchSync(() => sendMsgSync(s, { buffers: b('x'), to: { address: '127.255.255.255', port: 9 } })), 'WSAEACCES');
    expect(e).toMatchObject(posixSysCode('EACCES'));
    expectWsa(await catchAsync(sendMsg(s, { buffers: b('x'), to: { address: '127.255.255.255', port: 9 } })), 'WSAEACCES');
    const sb = await sock({ type: 'udp4', broadcast: true });
    expect(sendMsgSync(sb, { buffers: b('x'), to: { address: '127.255.255.255', port: 9 } })).toBe(1);
  });

  it('unconnected socket without `to` is WSAENOTCONN', async () => {
    const s = await sock({ type: 'udp4' });
    expect(expectWsa(catchSync(() => sendMsgSync(s, { buffers: b('x') })), 'WSAENOTCONN')).toMatchObject(posixSysCode('EDESTADDRREQ'));
    expectWsa(await catchAsync(sendMsg(s, { buffers: b('x') })), 'WSAENOTCONN');
  });

  it('a connected socket sends without `to`, with and without a source address', async () => {
    const r = await rx();
    const s = await sock({ type: 'udp4' });
    s.connect('127.0.0.1', r.port);
    await sendMsg(s, { buffers: b('c1') });
    sendMsgSync(s, { buffers: b('c2'), control: { sourceAddress: '127.0.0.1' } });
    expect((await r.waitFor(2)).map((m) => m.data.toString())).toEqual(['c1', 'c2']);
  });

  it('after shutdown("send") every send is WSAESHUTDOWN, connected or not', async () => {
    const r = await rx();
    const c = await sock({ type: 'udp4' });
    c.connect('127.0.0.1', r.port);
    c.shutdown('send');
    expect(expectWsa(catchSync(() => sendMsgSync(c, { buffers: b('x') })), 'WSAESHUTDOWN')).toMatchObject(posixSysCode('EPIPE'));
    expectWsa(await catchAsync(sendMsg(c, { buffers: b('x') })), 'WSAESHUTDOWN');
    const u = await sock({ type: 'udp4' });
    u.shutdown('send');
    expectWsa(catchSync(() => sendMsgSync(u, { buffers: b('x'), to: { address: '127.0.0.1', port: r.port } })), 'WSAESHUTDOWN');
    expect((await r.settle()).length).toBe(0);
  });

  it('a closed socket is WSAENOTSOCK for every call', async () => {
    const s = await openSocket({ type: 'udp4' });
    await s.close();
    await s.close();
    const to = { address: '127.0.0.1', port: 9 };
    expectWsa(catchSync(() => sendMsgSync(s, { buffers: b('x'), to })), 'WSAENOTSOCK');
    expectWsa(await catchAsync(sendMsg(s, { buffers: b('x'), to })), 'WSAENOTSOCK');
    expectWsa(catchSync(() => s.connect('127.0.0.1', 9)), 'WSAENOTSOCK');
    expectWsa(catchSync(() => s.address()), 'WSAENOTSOCK');
    expectWsa(catchSync(() => s.shutdown('send')), 'WSAENOTSOCK');
    expect(s.fd).toBe(-1);
  });

  itUnlessWine('Wine does not report ICMP port unreachable on later sends')('ICMP port unreachable from an earlier send fails the next one with WSAECONNRESET (connected)', async () => {
    for (const [type, addr] of [['udp4', '127.0.0.1'], ['udp6', '::1']] as const) {
      const gone = dgram.createSocket(type);
      await new Promise<void>((resolve) => gone.bind(0, addr, resolve));
      const port = gone.address().port;
      await new Promise<void>((resolve) => gone.close(() => resolve()));
      const s = await sock({ type });
      s.connect(addr, port);
      expect(sendMsgSync(s, { buffers: b('first') })).toBe(5);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const e = expectWsa(await catchAsync(sendMsg(s, { buffers: b('second') })), 'WSAECONNRESET');
      expect(e).toMatchObject(posixSysCode('ECONNREFUSED'));
      // One ICMP error fails exactly one call.
      expect(sendMsgSync(s, { buffers: b('third') })).toBe(5);
    }
  });

  itUnlessWine("Wine's bind accepts a UDP port in use and an address the host lacks")('bind failures: WSAEADDRINUSE, WSAEADDRNOTAVAIL', async () => {
    const a = await sock({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const port = a.address().port;
    const e = expectWsa(await catchAsync(openSocket({ type: 'udp4', bind: { address: '127.0.0.1', port } })), 'WSAEADDRINUSE');
    expect([e.syscall, e.address, e.port]).toEqual(['bind', '127.0.0.1', port]);
    const e2 = expectWsa(await catchAsync(openSocket({ type: 'udp4', bind: { address: '192.0.2.1' } })), 'WSAEADDRNOTAVAIL');
    expect([e2.syscall, e2.address, e2.port]).toEqual(['bind', '192.0.2.1', 0]);
  });
});

describe('overlapped completion', () => {
  it('callbacks are never called synchronously, success or failure', async () => {
    const r = await rx();
    const s = await sock({ type: 'udp4' });
    const order: string[] = [];
    await new Promise<void>((resolve) => {
      sendMsg(s, { buffers: b('x'), to: { address: '127.0.0.1', port: r.port } }, (err, n) => { order.push(`ok:${err}:${n}`); });
      sendMsg(s, { buffers: b('x') }, (err) => { order.push(`err:${err?.code}`); resolve(); });
      order.push('returned');
    });
    expect(order).toEqual(['returned', 'ok:null:1', 'err:WSAENOTCONN']);
  });

  async function concurrent(withSources: boolean) {
    const r = await rx();
    const s = await sock({ type: 'udp4' });
    const N = 3000;
    const resolved: number[] = [];
    const all: Promise<number>[] = [];
    for (let i = 0; i < N; i++) {
      const seq = Buffer.alloc(4);
      seq.writeUInt32BE(i);
      const control = withSources ? { sourceAddress: `127.0.0.${2 + (i % 3)}` } : undefined;
      all.push(sendMsg(s, { buffers: [seq, b('payload')], to: { address: '127.0.0.1', port: r.port }, control })
        .then((n) => { resolved.push(i); return n; }));
    }
    expect((await Promise.all(all)).every((n) => n === 11)).toBe(true);
    expect(resolved).toEqual([...Array(N).keys()]);
    const got = await r.waitFor(N, 3000);
    // The receiver may drop under load, but what arrives is in order (and from the right source).
    expect(got.length).toBeGreaterThan(N / 10);
    let last = -1;
    for (const m of got) {
      const i = m.data.readUInt32BE(0);
      expect(i).toBeGreaterThan(last);
      if (withSources) expect(m.address).toBe(`127.0.0.${2 + (i % 3)}`);
      last = i;
    }
  }

  it('thousands of concurrent sends resolve in submission order', () => concurrent(false));
  itControlData('thousands of concurrent sends keep their own source addresses', () => concurrent(true));

  it('an already-aborted signal fails the send with WSA_OPERATION_ABORTED and sends nothing', async () => {
    const r = await rx();
    const s = await sock({ type: 'udp4' });
    const ac = new AbortController();
    ac.abort();
    expectWsa(await catchAsync(sendMsg(s, { buffers: b('x'), to: { address: '127.0.0.1', port: r.port }, signal: ac.signal })), 'WSA_OPERATION_ABORTED');
    expect((await r.settle()).length).toBe(0);
  });
});
