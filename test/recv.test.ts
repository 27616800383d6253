// recvMsg / messages(): the receive side, with the destination address of each datagram,
// and the multihomed echo server built on it.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { startEchoServer } from '../examples/echo-server';
import { openSocket, recvMsg, replyTo, sendMsg, type Socket } from '../src/index';
import { catchAsync, catchSync, expectWsa } from './helpers/expect';
import { isPosix, itControlData, wine } from './helpers/platform';
import { NetnsLab, netnsAvailable, netnsSkipReason } from './helpers/netns';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function client(type: 'udp4' | 'udp6' = 'udp4') {
  const c = dgram.createSocket(type);
  await new Promise<void>((r) => c.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', r));
  const replies: Array<[string, string]> = [];
  c.on('message', (m, ri) => replies.push([m.toString(), ri.address]));
  open.push({ close: () => new Promise<void>((r) => c.close(() => r())) });
  return { c, replies, port: c.address().port };
}
async function shim(opts: Parameters<typeof openSocket>[0]): Promise<Socket> {
  const s = await openSocket(opts);
  open.push(s);
  return s;
}
const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));
async function until(done: () => boolean, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await settle(10);
}

describe('recvMsg', () => {
  it('reports payload, sender and, with recvPktinfo, the destination address and interface', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '0.0.0.0' }, recvPktinfo: true });
    const { c, port } = await client();
    c.send('hello', s.address().port, '127.0.0.3');
    const m = await recvMsg(s);
    expect(m.buffer.toString()).toBe('hello');
    expect(m).toMatchObject({ bytes: 5, truncated: false, from: { address: '127.0.0.1', family: 'IPv4', port } });
    expect(m.control).toMatchObject({ destinationAddress: '127.0.0.3', interfaceIndex: 1 });
    if (isPosix) expect(m.control.tos).toBe(0);  // Windows reports it from 1903 on; Wine not at all
  });

  it('without recvPktinfo the control data is empty (and costs nothing)', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const { c } = await client();
    c.send('x', s.address().port, '127.0.0.1');
    expect((await recvMsg(s)).control).toEqual({});
  });

  it('dual stack: a v4 datagram reports its IPv4 destination', async () => {
    const s = await shim({ type: 'udp6', bind: { address: '::' }, recvPktinfo: true });
    const { c } = await client();
    c.send('v4', s.address().port, '127.0.0.2');
    const m = await recvMsg(s);
    expect(m.control.destinationAddress).toBe('127.0.0.2');
    expect(m.from.address).toBe('::ffff:127.0.0.1');
  });

  it('a datagram longer than the buffer comes back cut, flagged truncated', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const { c } = await client();
    c.send(Buffer.alloc(100, 7), s.address().port, '127.0.0.1');
    const m = await recvMsg(s, { bufferSize: 10 });
    expect([m.bytes, m.truncated, m.buffer.length]).toEqual([10, true, 10]);
  });

  it('waiting receives complete in order; close() aborts the rest and ends messages()', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const { c } = await client();
    const waiting = [recvMsg(s), recvMsg(s), recvMsg(s)];
    const ac = new AbortController();
    const aborted = recvMsg(s, { signal: ac.signal });
    ac.abort();
    expectWsa(await catchAsync(aborted), 'WSA_OPERATION_ABORTED');
    for (const t of ['a', 'b', 'c']) c.send(t, s.address().port, '127.0.0.1');
    expect((await Promise.all(waiting)).map((m) => m.buffer.toString())).toEqual(['a', 'b', 'c']);
    const left = recvMsg(s);
    const seen: string[] = [];
    const loop = (async () => { for await (const m of s.messages()) seen.push(m.buffer.toString()); })();
    await settle(50);
    await s.close();
    expectWsa(await catchAsync(left), 'WSA_OPERATION_ABORTED');
    await loop;  // the iterator ended instead of hanging
    expect(seen).toEqual([]);
    expectWsa(await catchAsync(recvMsg(s)), 'WSAENOTSOCK');
  });
});

describe('replyTo', () => {
  it('answers from the address a datagram was sent to, on its interface; without a destination, from the bound address', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '0.0.0.0' }, recvPktinfo: true });
    const { c, port, replies } = await client();
    c.send('to .3', s.address().port, '127.0.0.3');
    const m = await recvMsg(s);
    expect(replyTo(m)).toEqual({ to: { address: '127.0.0.1', family: 'IPv4', port }, control: { sourceAddress: '127.0.0.3', interfaceIndex: 1 } });
    await sendMsg(s, { buffers: Buffer.from('from .3'), ...replyTo(m) });
    await until(() => replies.length === 1);
    // Wine drops send-side control data: there the reply leaves from the routing choice.
    expect(replies).toEqual([['from .3', wine ? replies[0]![1] : '127.0.0.3']]);
    // No recvPktinfo: no destination, so no control data; the OS sends from the bound address.
    const bound = await shim({ type: 'udp4', bind: { address: '127.0.0.2' } });
    c.send('to .2', bound.address().port, '127.0.0.2');
    const n = await recvMsg(bound);
    expect(replyTo(n)).toEqual({ to: { address: '127.0.0.1', family: 'IPv4', port } });
    await sendMsg(bound, { buffers: Buffer.from('from .2'), ...replyTo(n) });
    await until(() => replies.length === 2);
    // Wine sends from 127.0.0.1 here, not from the bound address Windows and Linux use.
    expect(replies[1]).toEqual(['from .2', wine ? replies[1]![1] : '127.0.0.2']);
  });

  it('refuses what is not a received message, with a code', () => {
    expect(catchSync(() => replyTo(null as never))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(catchSync(() => replyTo({ from: 'x' } as never))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(catchSync(() => replyTo({ from: { address: '::1', port: 1 }, control: { destinationAddress: 7 } } as never)))
      .toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  });
});

describe('multihomed echo server', () => {
  itControlData('answers 127.0.0.2 from 127.0.0.2 and 127.0.0.3 from 127.0.0.3', async () => {
    const server = await startEchoServer();
    open.push(server);
    const { c, replies } = await client();
    c.send('two', server.port, '127.0.0.2');
    c.send('three', server.port, '127.0.0.3');
    await until(() => replies.length >= 2);
    expect(replies.sort()).toEqual([['three', '127.0.0.3'], ['two', '127.0.0.2']]);
  });

  it('(the classic failure it fixes: a wildcard node:dgram server answers from 127.0.0.1)', async () => {
    const plain = dgram.createSocket('udp4');
    plain.on('message', (m, ri) => plain.send(m, ri.port, ri.address));
    await new Promise<void>((r) => plain.bind(0, '0.0.0.0', r));
    open.push({ close: () => new Promise<void>((r) => plain.close(() => r())) });
    const { c, replies } = await client();
    c.send('two', plain.address().port, '127.0.0.2');
    await until(() => replies.length >= 1);
    expect(replies).toEqual([['two', '127.0.0.1']]);
  });
});

describe.skipIf(!netnsAvailable)(`multihomed echo server over IPv6${netnsAvailable ? '' : ` (skipped: ${netnsSkipReason})`}`, () => {
  it('answers fd00:77::2 and fd00:77::3 each from itself', async () => {
    const lab = new NetnsLab();
    try {
      const ns = lab.ns('e6');
      lab.ip('-n', ns, 'addr', 'add', 'fd00:77::2/128', 'dev', 'lo', 'nodad');
      lab.ip('-n', ns, 'addr', 'add', 'fd00:77::3/128', 'dev', 'lo', 'nodad');
      const got = await lab.run<Array<[string, string]>>(ns, 'echo6.cjs', { targets: ['fd00:77::2', 'fd00:77::3', '::1'] });
      expect(got.sort()).toEqual([['::1', '::1'], ['fd00:77::2', 'fd00:77::2'], ['fd00:77::3', 'fd00:77::3']]);
    } finally {
      lab.destroy();
    }
  });
});
