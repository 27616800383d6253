// recvMsgBatch, messages() on top of it, and receiveOffload: many datagrams per system call
// (recvmmsg; consecutive WSARecvMsg on Windows), each with its own sender, bytes and flags,
// and coalesced receives (UDP_GRO) split back at the segment size. node:dgram sends; what
// the shim returns is checked byte for byte against what was sent.
import dgram from 'node:dgram';
import { inspect, isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openSocket, recvMsg, recvMsgBatch, sendMsgSync, type ReceivedMessage } from '../src/index';
import { catchAsync, catchSync, expectWsa } from './helpers/expect';
import { isPosix, itUnlessWine, wine } from './helpers/platform';
import { useSockets } from './helpers/sockets';

const { track, shim } = useSockets();

async function sender(address = '127.0.0.1'): Promise<dgram.Socket> {
  const c = dgram.createSocket('udp4');
  await new Promise<void>((r) => c.bind(0, address, r));
  return track({ close: () => new Promise<void>((r) => c.close(() => r())), c }).c;
}
const send = (c: dgram.Socket, data: Uint8Array | string, port: number) =>
  new Promise<void>((resolve, reject) => c.send(data, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
const settle = (ms = 100) => new Promise((r) => setTimeout(r, ms));
/** A payload that says who sent it and which it was, and is `size` bytes long. */
const tagged = (who: number, seq: number, size = 40) => {
  const b = Buffer.alloc(size, (who * 31 + seq) & 0xff);
  b.writeUInt16BE(who, 0);
  b.writeUInt16BE(seq, 2);
  return b;
};

/** Receives batches until `count` datagrams came, or fails after a while. */
async function collect(s: Parameters<typeof recvMsgBatch>[0], count: number, options = {}): Promise<ReceivedMessage[][]> {
  const batches: ReceivedMessage[][] = [];
  let got = 0;
  const deadline = Date.now() + 5000;
  while (got < count) {
    if (Date.now() > deadline) throw new Error(`only ${got} of ${count} datagrams arrived`);
    const b = await recvMsgBatch(s, options);
    batches.push(b);
    got += b.length;
  }
  return batches;
}

describe('recvMsgBatch', () => {
  it('returns what is queued in one call: datagrams from several senders, each with its own from, bytes and destination', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '0.0.0.0' }, recvPktinfo: true });
    const port = s.address().port;
    const senders = [await sender('127.0.0.1'), await sender('127.0.0.2'), await sender('127.0.0.3')];
    for (let seq = 0; seq < 20; seq++) {
      for (let who = 0; who < 3; who++) await send(senders[who]!, tagged(who, seq, 20 + seq + who), port);
    }
    await settle();
    const batches = await collect(s, 60);
    // Everything was queued before the first call: one call took it all (64 is the default).
    expect(batches.map((b) => b.length)).toEqual([60]);
    const seen = new Map<number, number[]>();
    for (const m of batches.flat()) {
      const who = m.buffer.readUInt16BE(0);
      const seq = m.buffer.readUInt16BE(2);
      expect(m.buffer.equals(tagged(who, seq, 20 + seq + who))).toBe(true);
      expect(m).toMatchObject({ bytes: 20 + seq + who, truncated: false });
      // Wine sends from 127.0.0.1 whatever address a socket is bound to (recv.test.ts).
      expect(m.from).toEqual({ address: wine ? '127.0.0.1' : `127.0.0.${who + 1}`, family: 'IPv4', port: senders[who]!.address().port });
      expect(m.control).toMatchObject({ destinationAddress: '127.0.0.1', interfaceIndex: 1 });
      seen.set(who, [...(seen.get(who) ?? []), seq]);
    }
    // Each sender's datagrams in the order it sent them.
    for (let who = 0; who < 3; who++) expect(seen.get(who)).toEqual([...Array(20).keys()]);
  });

  it('takes at most maxMessages per call, and the next call gets the rest in order', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const c = await sender();
    for (let i = 0; i < 10; i++) await send(c, tagged(0, i), s.address().port);
    await settle();
    const sizes: number[] = [];
    const order: number[] = [];
    for (const b of await collect(s, 10, { maxMessages: 4 })) {
      sizes.push(b.length);
      order.push(...b.map((m) => m.buffer.readUInt16BE(2)));
    }
    expect(sizes).toEqual([4, 4, 2]);
    expect(order).toEqual([...Array(10).keys()]);
  });

  it('waits for the first datagram without spinning, then returns just what is there', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const c = await sender();
    const cpu = process.cpuUsage();
    const waiting = recvMsgBatch(s);
    await settle(300);
    const spent = process.cpuUsage(cpu);
    // A receive that waits in poll/IOCP costs nothing; one spinning on EAGAIN would burn the 300 ms.
    expect((spent.user + spent.system) / 1000).toBeLessThan(150);
    await send(c, 'late', s.address().port);
    const b = await waiting;
    expect(b.map((m) => m.buffer.toString())).toEqual(['late']);
  });

  it('a datagram longer than bufferSize comes back cut and flagged, the ones beside it whole', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const c = await sender();
    await send(c, Buffer.alloc(100, 7), s.address().port);
    await send(c, 'ok', s.address().port);
    await send(c, Buffer.alloc(50, 9), s.address().port);
    await settle();
    const [b] = await collect(s, 3, { bufferSize: 10 });
    expect(b!.map((m) => [m.bytes, m.truncated, m.buffer.length, m.buffer[0]])).toEqual([
      [10, true, 10, 7], [2, false, 2, 'o'.charCodeAt(0)], [10, true, 10, 9]]);
  });

  it('one socket, calls with other bufferSize and maxMessages each time: each call gets its own room and count', async () => {
    // posix keeps its recvmmsg headers from call to call while slot size and count stay
    // the same; a change must lay them out again.
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const c = await sender();
    for (let i = 0; i < 12; i++) await send(c, Buffer.alloc(50, i), s.address().port);
    await settle();
    const calls = [{ bufferSize: 10, maxMessages: 2 }, { bufferSize: 10, maxMessages: 2 }, { bufferSize: 100, maxMessages: 2 },
      { bufferSize: 100, maxMessages: 3 }, { bufferSize: 20, maxMessages: 3 }];
    const got: Array<[number, number, boolean, number]> = [];
    for (const options of calls) {
      for (const m of await recvMsgBatch(s, options)) got.push([options.bufferSize, m.bytes, m.truncated, m.buffer[m.bytes - 1]!]);
    }
    expect(got).toEqual([
      [10, 10, true, 0], [10, 10, true, 1], [10, 10, true, 2], [10, 10, true, 3], [100, 50, false, 4], [100, 50, false, 5],
      [100, 50, false, 6], [100, 50, false, 7], [100, 50, false, 8], [20, 20, true, 9], [20, 20, true, 10], [20, 20, true, 11]]);
  });

  it('a single recvMsg of a datagram already queued, longer than its buffer, is cut and flagged too', async () => {
    // The receive completes at once here (on Windows: WSARecvMsg fails at once with
    // WSAEMSGSIZE and reports no byte count), not after waiting as in recv.test.ts.
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const c = await sender();
    await send(c, Buffer.alloc(100, 7), s.address().port);
    await settle();
    const m = await recvMsg(s, { bufferSize: 10 });
    expect([m.bytes, m.truncated, m.buffer.length, m.buffer[9]]).toEqual([10, true, 10, 7]);
  });

  it('a batch owns its bytes: later receives do not overwrite earlier results', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const c = await sender();
    await send(c, 'first', s.address().port);
    await settle(50);
    const first = await recvMsgBatch(s, { maxMessages: 1 });
    await send(c, 'other', s.address().port);
    await settle(50);
    await recvMsgBatch(s);
    expect(first[0]!.buffer.toString()).toBe('first');
    // Each message is exactly its bytes: nothing of the slot memory rides along.
    expect(first[0]!.buffer.buffer.byteLength).toBeLessThan(1024);
  });

  it('every received buffer is a real Buffer (recvMsg, recvMsgBatch, cut leftovers): methods, subarray, constructor, inspect', async () => {
    // They are made without Buffer#subarray (src/recv.ts view(), for speed): what a caller
    // does with a Buffer must still work on them.
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const c = await sender();
    for (const text of ['alpha', 'bravo', 'charlie-long']) await send(c, text, s.address().port);
    await settle();
    const single = await recvMsg(s);
    const batch = await recvMsgBatch(s, { bufferSize: 7 });
    const got = [single, ...batch];
    expect(got.map((m) => m.buffer.toString())).toEqual(['alpha', 'bravo', 'charlie']);
    for (const m of got) {
      const b = m.buffer;
      expect(Buffer.isBuffer(b)).toBe(true);
      expect(b instanceof Buffer && b instanceof Uint8Array).toBe(true);
      expect(b.constructor).toBe(Buffer);
      expect(Buffer.isBuffer(b.subarray(1)) && Buffer.isBuffer(b.slice(1))).toBe(true);
      expect(b.subarray(1, 3).toString()).toBe(b.toString('utf8', 1, 3));
      expect(b.toString('hex')).toBe(Buffer.from(b).toString('hex'));
      expect(b.equals(Buffer.from(m.buffer.toString()))).toBe(true);
      expect(Buffer.concat([b, b]).length).toBe(2 * b.length);
      expect(JSON.stringify(b)).toBe(JSON.stringify(Buffer.from(b)));
      expect(inspect(b)).toMatch(/^<Buffer /);
      expect(b.length).toBe(m.bytes);
      // Node's strict deep equality compares prototypes: a subclass of Buffer would fail it.
      expect(Object.getPrototypeOf(b)).toBe(Buffer.prototype);
      expect(isDeepStrictEqual(b, Buffer.from(b))).toBe(true);
    }
  });

  it('single and batch receives waiting together complete in the order they were made', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const c = await sender();
    const a = recvMsg(s);
    const b = recvMsgBatch(s, { maxMessages: 2 });
    const d = recvMsg(s);
    for (const t of ['1', '2', '3', '4']) await send(c, t, s.address().port);
    expect((await a).buffer.toString()).toBe('1');
    const bb = (await b).map((m) => m.buffer.toString());
    const dd = (await d).buffer.toString();
    // b takes what was there when it ran (one or both of 2 and 3), d the next one.
    expect([...bb, dd]).toEqual(['1', '2', '3', '4'].slice(1, 2 + bb.length));
  });

  it('an aborted batch fails with WSA_OPERATION_ABORTED and the next datagram goes to the next call', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const c = await sender();
    const ac = new AbortController();
    const waiting = recvMsgBatch(s, { signal: ac.signal });
    ac.abort();
    expectWsa(await catchAsync(waiting), 'WSA_OPERATION_ABORTED');
    await send(c, 'kept', s.address().port);
    expect((await recvMsgBatch(s)).map((m) => m.buffer.toString())).toEqual(['kept']);
  });

  it('close() fails a waiting batch with WSA_OPERATION_ABORTED; a closed socket refuses with WSAENOTSOCK', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const waiting = recvMsgBatch(s);
    await s.close();
    expectWsa(await catchAsync(waiting), 'WSA_OPERATION_ABORTED');
    expectWsa(await catchAsync(recvMsgBatch(s)), 'WSAENOTSOCK');
  });

  it('bad arguments throw Node-style errors before any I/O', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const code = (f: () => unknown) => (catchSync(f) as NodeJS.ErrnoException).code;
    expect(code(() => recvMsgBatch(s, { maxMessages: 0 }))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => recvMsgBatch(s, { maxMessages: 1025 }))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => recvMsgBatch(s, { maxMessages: 1.5 }))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => recvMsgBatch(s, { maxMessages: '4' as never }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => recvMsgBatch(s, { bufferSize: 1 << 20, maxMessages: 65 }))).toBe('ERR_OUT_OF_RANGE');  // 64 MiB of slots
    expect(code(() => recvMsgBatch(s, { maxMesages: 4 } as never))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => recvMsgBatch({} as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => s.messages({ maxMessages: -1 }))).toBe('ERR_OUT_OF_RANGE');
  });
});

describe('messages()', () => {
  it('iterates over batches underneath; leaving the loop early keeps the rest for the next receive', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const c = await sender();
    for (let i = 0; i < 6; i++) await send(c, `m${i}`, s.address().port);
    await settle();
    const seen: string[] = [];
    for await (const m of s.messages({ maxMessages: 8 })) {
      seen.push(m.buffer.toString());
      if (seen.length === 2) break;
    }
    expect(seen).toEqual(['m0', 'm1']);
    // The batch in hand held all six: the four the loop never saw are the socket's again.
    expect((await recvMsg(s)).buffer.toString()).toBe('m2');
    expect((await recvMsgBatch(s)).map((m) => m.buffer.toString())).toEqual(['m3', 'm4', 'm5']);
  });

  it('ends when the socket closes', async () => {
    const s = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const c = await sender();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const m of s.messages()) seen.push(m.buffer.toString());
    })();
    await send(c, 'one', s.address().port);
    const deadline = Date.now() + 3000;
    while (seen.length === 0 && Date.now() < deadline) await settle(10);
    await s.close();
    await loop;
    expect(seen).toEqual(['one']);
  });
});

const itOffload = itUnlessWine('Wine has no receive offload (URO)');

describe('receiveOffload', () => {
  /** A GSO send of `size` bytes at `segment`: one coalesced receive at the other end (Linux loopback). */
  async function pair(implementationOpts = {}) {
    const rx = await shim({ type: 'udp4', bind: { address: '127.0.0.1' }, receiveOffload: true, recvPktinfo: true, ...implementationOpts });
    const tx = await shim({ type: 'udp4', bind: { address: '127.0.0.2' } });
    return { rx, tx, to: { address: '127.0.0.1', port: rx.address().port } };
  }
  const pattern = (size: number) => Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + (i >> 8)) & 0xff));

  it('is reported by capabilities(); without it nothing is coalesced', async () => {
    const on = await shim({ type: 'udp4', receiveOffload: true });
    const off = await shim({ type: 'udp4' });
    expect(off.capabilities().receiveOffload).toBe(false);
    if (isPosix) expect(on.capabilities().receiveOffload).toBe(true);  // UDP_GRO: Linux 5.0+
    expect(catchSync(() => openSocket({ type: 'raw4', receiveOffload: true }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(catchSync(() => openSocket({ type: 'udp4', receiveOffload: 1 as never }))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  });

  itOffload('a coalesced receive reaches the caller as its datagrams, split at the segment size, none lost', async () => {
    const { rx, tx, to } = await pair();
    expect(rx.capabilities().receiveOffload).toBe(true);
    const payload = pattern(1050);
    expect(sendMsgSync(tx, { buffers: payload, to, segmentSize: 100 })).toBe(1050);
    const got = (await collect(rx, 11, { bufferSize: 1500 })).flat();
    expect(got.map((m) => m.bytes)).toEqual([...Array(10).fill(100), 50]);
    expect(Buffer.concat(got.map((m) => m.buffer)).equals(payload)).toBe(true);
    for (const m of got) {
      expect(m.truncated).toBe(false);
      expect(m.from).toMatchObject({ address: '127.0.0.2', port: tx.address().port });
      expect(m.control).toMatchObject({ destinationAddress: '127.0.0.1' });
    }
    // Views into one buffer, not copies: the datagrams of one receive share their memory.
    expect(new Set(got.map((m) => m.buffer.buffer)).size).toBe(1);
  });

  itOffload('recvMsg returns one datagram at a time from a coalesced receive, the rest in order to the next calls', async () => {
    const { rx, tx, to } = await pair();
    sendMsgSync(tx, { buffers: pattern(500), to, segmentSize: 200 });
    const sizes: number[] = [];
    for (let i = 0; i < 3; i++) sizes.push((await recvMsg(rx)).bytes);
    expect(sizes).toEqual([200, 200, 100]);
  });

  itOffload('receives waiting behind a coalesced one are served from it, without waiting for the network', async () => {
    const { rx, tx, to } = await pair();
    const waiting = [recvMsg(rx), recvMsg(rx), recvMsgBatch(rx, { maxMessages: 2 })];
    sendMsgSync(tx, { buffers: pattern(600), to, segmentSize: 100 });
    const [a, b, c] = await Promise.all(waiting);
    expect([(a as ReceivedMessage).bytes, (b as ReceivedMessage).bytes, (c as ReceivedMessage[]).length]).toEqual([100, 100, 2]);
    expect((await recvMsgBatch(rx)).length).toBe(2);
  });

  itOffload('maxMessages bounds a call also when one receive held more; a segment longer than bufferSize is cut', async () => {
    const { rx, tx, to } = await pair();
    sendMsgSync(tx, { buffers: pattern(1000), to, segmentSize: 100 });
    const first = await recvMsgBatch(rx, { maxMessages: 3, bufferSize: 60 });
    expect(first.map((m) => [m.bytes, m.truncated])).toEqual([[60, true], [60, true], [60, true]]);
    expect(first[1]!.buffer.equals(pattern(1000).subarray(100, 160))).toBe(true);
    const rest = await recvMsgBatch(rx);
    expect(rest.length).toBe(7);
  });

  itOffload('datagrams of two senders in one batch keep their own from, coalesced or not', async () => {
    const { rx, tx, to } = await pair();
    const other = await sender('127.0.0.3');
    sendMsgSync(tx, { buffers: pattern(300), to, segmentSize: 100 });
    await send(other, 'plain', to.port);
    sendMsgSync(tx, { buffers: pattern(200), to, segmentSize: 100 });
    await settle();
    const got = (await collect(rx, 6)).flat();
    expect(got.map((m) => `${m.from.address}:${m.bytes}`)).toEqual([
      '127.0.0.2:100', '127.0.0.2:100', '127.0.0.2:100', '127.0.0.3:5', '127.0.0.2:100', '127.0.0.2:100']);
  });
});

