// The three ICMP modes (openSocket's icmpErrors: absent, true, false) and
// the RawIcmp a failure carries: which earlier destination the ICMP error is about (the
// error-queue entry's name), its type and code, and who sent it (SO_EE_OFFENDER). Real ICMP
// port unreachable from closed loopback ports; node:dgram sockets are the witnesses.
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { ICMP_ON, bindingFor, implementation } from '../src/binding';
import { Kind } from '../src/kind';
import { PlanMemory, endpointRecord, planMessage, validateIpLiteral } from '../src/plan';
import { recvMsg, sendMsg, sendMsgBatch, sendMsgSync, type Socket } from '../src/index';
import { catchAsync, catchSync, expectWsa } from './helpers/expect';
import { isPosix } from './helpers/platform';
import { closedPort, settleWithin } from './helpers/icmp';
import { receiver } from './helpers/receiver';
import { useSockets } from './helpers/sockets';

const { shim, track } = useSockets();
const b = (s: string) => Buffer.from(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** Sends one datagram to a closed port and waits for the ICMP answer to be back. */
async function refuse(s: Socket, to?: { address: string; port: number }): Promise<void> {
  await sendMsg(s, { buffers: b('to nobody'), ...(to ? { to } : {}) });
  await sleep(20);
}


describe.skipIf(!isPosix)('icmpErrors: true reports which earlier datagram an ICMP error is about (Linux: the error queue)', () => {
  for (const [type, addr, icmpType, icmpCode] of [['udp4', '127.0.0.1', 3, 3], ['udp6', '::1', 1, 4]] as const) {
    it(`${type}: a blocking send fails with the gone destination, the ICMP type/code and the reporter; one error, one call`, async () => {
      const healthy = await receiver(type);
      track(healthy);
      const s = await shim({ type, bind: { address: addr }, icmpErrors: true });
      const gone = await closedPort(type, addr);
      await refuse(s, { address: addr, port: gone });
      const e = expectWsa(catchSync(() => sendMsgSync(s, { buffers: b('y'), to: { address: addr, port: healthy.port } })), 'WSAECONNRESET');
      // The error is about the earlier destination, not the healthy one this send went to.
      expect(e.icmp).toEqual({ address: addr, port: gone, type: icmpType, code: icmpCode, reporter: addr });
      expect([e.address, e.port, e.sysCode]).toEqual([addr, healthy.port, 'ECONNREFUSED']);
      expect(sendMsgSync(s, { buffers: b('z'), to: { address: addr, port: healthy.port } })).toBe(1);
      expect((await healthy.waitFor(1)).map((m) => m.data.toString())).toEqual(['z']);
    });

    it(`${type}: an overlapped send and a receive that fail at the call carry it too`, async () => {
      const healthy = await receiver(type);
      track(healthy);
      const s = await shim({ type, bind: { address: addr }, icmpErrors: true });
      const gone = [await closedPort(type, addr), await closedPort(type, addr)];
      await refuse(s, { address: addr, port: gone[0] });
      const e1 = expectWsa(await catchAsync(sendMsg(s, { buffers: b('y'), to: { address: addr, port: healthy.port } })), 'WSAECONNRESET');
      expect(e1.icmp).toEqual({ address: addr, port: gone[0], type: icmpType, code: icmpCode, reporter: addr });
      await refuse(s, { address: addr, port: gone[1] });
      const e2 = expectWsa(await catchAsync(recvMsg(s)), 'WSAECONNRESET');
      expect(e2.icmp).toEqual({ address: addr, port: gone[1], type: icmpType, code: icmpCode, reporter: addr });
    });
  }

  it('a dual-stack socket keeps the v4-mapped form the kernel gives', async () => {
    const healthy = await receiver('udp4');
    track(healthy);
    const s = await shim({ type: 'udp6', ipv6Only: false, bind: { address: '::' }, icmpErrors: true });
    const gone = await closedPort('udp4', '127.0.0.1');
    await refuse(s, { address: '::ffff:127.0.0.1', port: gone });
    const e = expectWsa(catchSync(() => sendMsgSync(s, { buffers: b('y'), to: { address: '127.0.0.1', port: healthy.port } })), 'WSAECONNRESET');
    expect(e.icmp).toEqual({ address: '::ffff:127.0.0.1', port: gone, type: 3, code: 3, reporter: '::ffff:127.0.0.1' });
  });

  it('the binding: a failed send returns [wsa, errno, syscall, RawIcmp, sent, failedIndex], null where no ICMP error stands behind it', () => {
    const plan = new PlanMemory(1);
    const native = new (bindingFor(implementation).NativeSocket)(() => {}, plan.u8);
    const local = validateIpLiteral('127.0.0.1', 'address');
    expect(native.open(0, 0, false, false, false, 0, 0, endpointRecord(local, 0), ICMP_ON, 0, false, false, false, false)).toBe(true);
    const to = (port: number) => planMessage(plan, 0, Kind.Udp4, null,
      { to: local, toPort: port, source: null, ifindex: 0, flags: 0, tos: -1, segmentSize: 0, split: false });
    const gone = dgram.createSocket('udp4');
    return new Promise<void>((resolve) => gone.bind(0, '127.0.0.1', resolve)).then(async () => {
      const port = gone.address().port;
      await new Promise<void>((resolve) => gone.close(() => resolve()));
      expect(to(port)).toBeNull();
      expect(native.sendSync(b('x'))).toBe(1);
      await sleep(20);
      to(port + 1);
      expect(native.sendSync(b('y'))).toEqual([10054, 111, 'sendmsg', ['127.0.0.1', port, 3, 3, '127.0.0.1'], 0, 0]);
      native.close();
      to(port);
      expect(native.sendSync(b('z'))).toEqual([10038, 0, 'sendmsg', null, 0, 0]);
    });
  });
});

describe.skipIf(!isPosix)('icmpErrors absent (the OS default) (Linux: the error queue)', () => {
  it('unconnected: refusals of earlier replies fail nothing, and a waiting receive keeps waiting', async () => {
    const healthy = await receiver('udp4');
    track(healthy);
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const waiting = recvMsg(s);
    waiting.catch(() => {});
    for (let i = 0; i < 3; i++) {
      await refuse(s, { address: '127.0.0.1', port: await closedPort('udp4', '127.0.0.1') });
      expect(sendMsgSync(s, { buffers: b(`reply ${i}`), to: { address: '127.0.0.1', port: healthy.port } })).toBe(7);
    }
    expect((await healthy.waitFor(3)).map((m) => m.data.toString())).toEqual(['reply 0', 'reply 1', 'reply 2']);
    expect(await settleWithin(waiting, 100)).toBe('pending');
  });

  it('connected: port unreachable fails the next send with WSAECONNRESET, with no RawIcmp (no error queue without IP_RECVERR)', async () => {
    const gone = await closedPort('udp4', '127.0.0.1');
    const s = await shim({ type: 'udp4' });
    s.connect('127.0.0.1', gone);
    await refuse(s);
    const e = expectWsa(catchSync(() => sendMsgSync(s, { buffers: b('second') })), 'WSAECONNRESET');
    expect(e.icmp).toBeUndefined();
    expect(e.sysCode).toBe('ECONNREFUSED');
  });
});

describe.skipIf(!isPosix)('icmpErrors: false (Linux: the error queue)', () => {
  it('unconnected: nothing is reported', async () => {
    const healthy = await receiver('udp4');
    track(healthy);
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' }, icmpErrors: false });
    await refuse(s, { address: '127.0.0.1', port: await closedPort('udp4', '127.0.0.1') });
    expect(sendMsgSync(s, { buffers: b('reply'), to: { address: '127.0.0.1', port: healthy.port } })).toBe(5);
    expect(await settleWithin(recvMsg(s), 100)).toBe('pending');
  });

  it('connected: the pending port unreachable is swallowed by a send, a batch and a receive; each still does its work', async () => {
    const gone = await closedPort('udp4', '127.0.0.1');
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' }, icmpErrors: false });
    s.connect('127.0.0.1', gone);
    const witness = async (): Promise<{ got: string[]; close: () => Promise<void> }> => {
      const p = dgram.createSocket('udp4');
      const got: string[] = [];
      p.on('message', (m) => got.push(m.toString()));
      await new Promise<void>((resolve) => p.bind(gone, '127.0.0.1', resolve));
      return { got, close: () => new Promise<void>((resolve) => p.close(() => resolve())) };
    };
    // A blocking send: retried once, so the datagram goes (to whoever holds the port now).
    await refuse(s);
    let w = await witness();
    expect(sendMsgSync(s, { buffers: b('sync') })).toBe(4);
    await sleep(20);
    expect(w.got).toEqual(['sync']);
    // An overlapped one.
    await w.close();
    await refuse(s);
    w = await witness();
    await expect(sendMsg(s, { buffers: b('async') })).resolves.toBe(5);
    await sleep(20);
    expect(w.got).toEqual(['async']);
    // A batch (sendmmsg).
    await w.close();
    await refuse(s);
    w = await witness();
    await expect(sendMsgBatch(s, [{ buffers: b('batch 0') }, { buffers: b('batch 1') }])).resolves.toEqual({ sent: 2 });
    await sleep(20);
    expect(w.got).toEqual(['batch 0', 'batch 1']);
    // A receive: it waits on, then gets the peer's datagram.
    await w.close();
    await refuse(s);
    const waiting = recvMsg(s);
    expect(await settleWithin(waiting, 100)).toBe('pending');
    const peer = dgram.createSocket('udp4');
    track({ close: () => new Promise<void>((resolve) => peer.close(() => resolve())) });
    await new Promise<void>((resolve) => peer.bind(gone, '127.0.0.1', resolve));
    peer.send('from the peer', s.address().port, '127.0.0.1');
    expect((await waiting).buffer.toString()).toBe('from the peer');
  });
});
