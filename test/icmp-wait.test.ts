// The poller and POLLERR (uv_poll in the addon, poll(2) off-thread in ffi-rs): an operation waiting when an ICMP error of an
// earlier datagram comes back must complete at once (error or data), nothing may spin on a
// POLLERR that stays, and later datagrams still arrive. Real ICMP port unreachable from
// closed loopback ports; parked sends behind a slow qdisc in a namespace.
//
// Why POLLERR can stay: with IP_RECVERR (icmpErrors: true) the kernel reports POLLERR while
// the socket's error queue holds an entry, and sendmmsg(2) takes the pending error with the
// message it fails but returns the count of those sent before it, dropping the error. A
// batch [to a gone client, to a healthy one] on loopback does exactly that (the ICMP answer
// to the first arrives while the second is being sent), leaving an entry that no call
// returns: every call would block while poll reports POLLERR at once, forever.
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recvMsg, recvMsgBatch, sendMsg, sendMsgBatch, type ReceivedMessage, type Socket } from '../src/index';
import { expectWsa } from './helpers/expect';
import { isPosix } from './helpers/platform';
import { NetnsLab, netnsAvailable, netnsSkipReason } from './helpers/netns';
import { closedPort, settleWithin } from './helpers/icmp';
import { receiver } from './helpers/receiver';
import { useSockets } from './helpers/sockets';

const { shim, track } = useSockets();
const b = (s: string) => Buffer.from(s);


/** A node:dgram socket on addr:port (0: any), closed after the test. */
async function peer(type: 'udp4' | 'udp6', addr: string, port = 0): Promise<dgram.Socket> {
  const c = dgram.createSocket(type);
  await new Promise<void>((resolve) => c.bind(port, addr, resolve));
  track({ close: () => new Promise<void>((resolve) => c.close(() => resolve())) });
  return c;
}


/** The two kinds of receive that wait: a single recvMsg, and a batch (its first datagram). */
type Receive = (s: Socket) => Promise<ReceivedMessage>;
const receives: Array<[string, Receive]> = [
  ['recvMsg', (s) => recvMsg(s)],
  ['recvMsgBatch', (s) => recvMsgBatch(s).then((batch) => batch[0]!)],
];

/** The share of one CPU this process used (every thread: the poll runs off the JS thread) while a receive waits ms on s. */
async function idleCpu(s: Socket, ms = 1000, receive: Receive = recvMsg): Promise<{ ratio: number; waiting: Promise<ReceivedMessage> }> {
  const waiting = receive(s);
  waiting.catch(() => {});
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await settleWithin(waiting, ms);
  const c = process.cpuUsage(c0);
  expect(r, 'the receive should still be waiting: nothing was sent to it').toBe('pending');
  return { ratio: (c.user + c.system) / 1000 / (performance.now() - t0), waiting };
}

/** What a receive that should have failed got instead, for the failure message (a stray datagram from another test file's socket, or an empty batch, are told apart). */
const instead = (v: unknown): string =>
  v === undefined ? 'resolved with no datagram (an empty batch?)'
    : `resolved with a datagram from ${JSON.stringify((v as ReceivedMessage).from)}: ${JSON.stringify((v as ReceivedMessage).buffer?.toString().slice(0, 40))}`;

// The poll cuts its wait every 50 ms: a completion that waits for the cut is not prompt.
const PROMPT_MS = 25;
const IDLE_CPU = 0.1;

const families = [['udp4', '127.0.0.1'], ['udp6', '::1']] as const;
const unreachable = { udp4: { type: 3, code: 3 }, udp6: { type: 1, code: 4 } };

describe.skipIf(!isPosix)('a receive waiting when an ICMP error comes back (loopback) (Linux: the error queue)', () => {
  for (const [via, receive] of receives) for (const [type, addr] of families) {
    for (const icmpErrors of [undefined, true, false] as const) {
      it(`${via}, ${type}, connected, icmpErrors: ${icmpErrors}: ${icmpErrors === false ? 'stays waiting' : 'fails at once'}, no spin, the next datagram arrives`, async () => {
        const gone = await closedPort(type, addr);
        const s = await shim({ type, bind: { address: addr }, ...(icmpErrors === undefined ? {} : { icmpErrors }) });
        s.connect(addr, gone);
        const waiting = receive(s);
        waiting.catch(() => {});
        await sendMsg(s, { buffers: b('to a peer that went away') });
        if (icmpErrors === false) {
          // Nothing is reported: the receive swallows the pending ECONNREFUSED and waits on.
          expect(await settleWithin(waiting, 200)).toBe('pending');
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          expect(await settleWithin(waiting, 1000)).toBe('pending');
          const c = process.cpuUsage(c0);
          expect((c.user + c.system) / 1000 / (performance.now() - t0)).toBeLessThan(IDLE_CPU);
          const back = await peer(type, addr, gone);  // a connected socket only takes its peer's datagrams
          back.send('next', s.address().port, addr);
          expect((await waiting).buffer.toString()).toBe('next');
          return;
        }
        const r = await settleWithin(waiting, 1000);
        expect(r, 'the waiting receive never completed').not.toBe('pending');
        if (r === 'pending') return;
        expect(r.error, instead(r.value)).toBeDefined();
        const e = expectWsa(r.error, 'WSAECONNRESET');
        expect(r.at).toBeLessThan(PROMPT_MS);
        // Without IP_RECVERR nothing says which datagram it was about.
        if (icmpErrors) expect(e.icmp).toEqual({ address: addr, port: gone, ...unreachable[type], reporter: addr });
        else expect(e.icmp).toBeUndefined();
        const { ratio, waiting: next } = await idleCpu(s, 1000, receive);
        expect(ratio).toBeLessThan(IDLE_CPU);
        const back = await peer(type, addr, gone);
        back.send('next', s.address().port, addr);
        expect((await next).buffer.toString()).toBe('next');
      });
    }

    it(`${via}, ${type}, unconnected, icmpErrors: true: fails at once naming the earlier destination, no spin, the next datagram arrives`, async () => {
      const gone = await closedPort(type, addr);
      const s = await shim({ type, bind: { address: addr }, icmpErrors: true });
      const waiting = receive(s);
      waiting.catch(() => {});
      await sendMsg(s, { buffers: b('reply to a client that went away'), to: { address: addr, port: gone } });
      const r = await settleWithin(waiting, 1000);
      expect(r, 'the waiting receive never completed').not.toBe('pending');
      if (r === 'pending') return;
      expect(r.at).toBeLessThan(PROMPT_MS);
      expect(r.error, instead(r.value)).toBeDefined();
    expect(expectWsa(r.error, 'WSAECONNRESET').icmp).toEqual({ address: addr, port: gone, ...unreachable[type], reporter: addr });
      const { ratio, waiting: next } = await idleCpu(s, 1000, receive);
      expect(ratio).toBeLessThan(IDLE_CPU);
      (await peer(type, addr)).send('next', s.address().port, addr);
      expect((await next).buffer.toString()).toBe('next');
    });

    // Run again after a failure (at most twice), which is printed: one CI run of 15 saw the
    // waiting recvMsgBatch resolve here instead of failing, and no run since (alone, loaded,
    // in the full suite) has; the printed message says what the receive got, so the next
    // occurrence tells a stray datagram from a shim bug. A failure every time still fails.
    it(`${via}, ${type}, unconnected, icmpErrors: true: an error-queue entry whose error sendmmsg dropped fails the waiting receive at once, once, without spinning`, { retry: 2 }, async ({ task, onTestFailed }) => {
      onTestFailed(() => console.error(`[icmp-wait, run again] ${task.name}: ${(task.result?.errors ?? []).map((e) => e.message).join('; ')}`));
      const healthy = await receiver(type);
      track(healthy);
      const gone = await closedPort(type, addr);
      const s = await shim({ type, bind: { address: addr }, icmpErrors: true });
      const waiting = receive(s);
      waiting.catch(() => {});
      const sent = await sendMsgBatch(s, [{ buffers: b('to the gone one'), to: { address: addr, port: gone } },
        { buffers: b('to the healthy one'), to: { address: addr, port: healthy.port } }]);
      expect(sent).toEqual({ sent: 2 });
      expect((await healthy.waitFor(1)).map((m) => m.data.toString())).toEqual(['to the healthy one']);
      const r = await settleWithin(waiting, 1000);
      expect(r, 'the waiting receive never completed').not.toBe('pending');
      if (r === 'pending') return;
      expect(r.at).toBeLessThan(PROMPT_MS);
      expect(r.error, instead(r.value)).toBeDefined();
    expect(expectWsa(r.error, 'WSAECONNRESET').icmp).toEqual({ address: addr, port: gone, ...unreachable[type], reporter: addr });
      // The entry is consumed: the next receive waits quietly, then gets its datagram.
      const { ratio, waiting: next } = await idleCpu(s, 1000, receive);
      expect(ratio).toBeLessThan(IDLE_CPU);
      (await peer(type, addr)).send('next', s.address().port, addr);
      expect((await next).buffer.toString()).toBe('next');
    });
  }

  it('udp4, connected, icmpErrors: true: the same dropped error, behind a batch to the peer and another address', async () => {
    const healthy = await receiver('udp4');
    track(healthy);
    const gone = await closedPort('udp4', '127.0.0.1');
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' }, icmpErrors: true });
    s.connect('127.0.0.1', gone);
    expect(await sendMsgBatch(s, [{ buffers: b('to the peer') }, { buffers: b('elsewhere'), to: { address: '127.0.0.1', port: healthy.port } }]))
      .toEqual({ sent: 2 });
    // Made after the entry was left behind: it cannot be failed at the call (the call would
    // block), only by the poll that reports the entry.
    const waiting = recvMsg(s);
    waiting.catch(() => {});
    const r = await settleWithin(waiting, 1000);
    expect(r, 'the waiting receive never completed').not.toBe('pending');
    if (r === 'pending') return;
    expect(r.at).toBeLessThan(PROMPT_MS);
    expect(r.error, instead(r.value)).toBeDefined();
    expect(expectWsa(r.error, 'WSAECONNRESET').icmp).toMatchObject({ address: '127.0.0.1', port: gone });
    const { ratio, waiting: next } = await idleCpu(s);
    expect(ratio).toBeLessThan(IDLE_CPU);
    (await peer('udp4', '127.0.0.1', gone)).send('next', s.address().port, '127.0.0.1');
    expect((await next).buffer.toString()).toBe('next');
  });
});

interface ParkedIcmpResult {
  parked: number;
  results: Array<number | { code: string; icmp?: { address: string; port: number } }>;
  cpu: number;
  wall: number;
  gone: number;
  errors: string[];
}

describe.skipIf(!netnsAvailable || !isPosix)(`sends parked behind a slow link when POLLERR stays${netnsAvailable ? '' : ` (skipped: ${netnsSkipReason})`}`, () => {
  const lab = new NetnsLab();
  let A: string;
  let sink: string;
  beforeAll(() => {
    A = lab.ns('a');
    const B = lab.ns('b');
    sink = lab.veth(A, B, 41).sink;
    // 40 datagrams of 1000 bytes take about 0.8 s through it.
    lab.tc(A, 'qdisc', 'add', 'dev', 'va41', 'root', 'tbf', 'rate', '400kbit', 'burst', '1600', 'limit', '100000');
  });
  afterAll(() => lab.destroy());

  it('the first parked send takes the stale error (naming the gone destination), the rest drain, nothing spins', async () => {
    const count = 40;
    const r = await lab.run<ParkedIcmpResult>(A, 'parked-icmp.cjs', { sink, count, size: 1000 }, 30_000);
    expect(r.errors).toEqual([]);
    expect(r.parked).toBeGreaterThan(count / 2);  // the queue was really used
    const failed = r.results.filter((x) => typeof x !== 'number');
    expect(failed).toEqual([{ code: 'WSAECONNRESET', icmp: { address: '127.0.0.1', port: r.gone, type: 3, code: 3, reporter: '127.0.0.1' } }]);
    expect(r.results.filter((x) => x === 1000)).toHaveLength(count - 1);
    // The drain waits on the qdisc for most of a second: a poll spinning on POLLERR burns it all.
    expect(r.wall).toBeGreaterThan(300);
    expect(r.cpu / r.wall).toBeLessThan(IDLE_CPU * 2);
  });
});
