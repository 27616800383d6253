// recvMsgBatch, messages() and the leftover queue under a hostile caller: receives made from
// inside another's completion, loops left early while other receives wait, coalesced
// receives taken by calls with different buffer sizes. Real sockets on loopback; the shim's
// own sends (sendMsgSync, one tick) put every datagram in the kernel's queue before the
// receiving socket wakes, and node:dgram is not needed as a witness here because every
// payload says which it was.
import { describe, expect, it } from 'vitest';
import { recvMsg, recvMsgBatch, sendMsgSync, type ReceivedMessage, type Socket } from '../src/index';
import { itUnlessWine } from './helpers/platform';
import { useSockets } from './helpers/sockets';

const { shim } = useSockets();
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
const text = (m: ReceivedMessage | ReceivedMessage[]) => (Array.isArray(m) ? m.map((x) => x.buffer.toString()) : [m.buffer.toString()]);
/** The promise's value, or 'still waiting' if it has not settled within ms (generous: nothing here should take long). */
const within = <T>(p: Promise<T>, ms = 3000) => Promise.race([p, settle(ms).then(() => 'still waiting' as const)]);

async function pair(opts: { receiveOffload?: boolean } = {}) {
  const rx = await shim({ type: 'udp4', bind: { address: '127.0.0.1' }, ...opts });
  const tx = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
  const to = { address: '127.0.0.1', port: rx.address().port };
  return { rx, tx, to, send: (...payloads: string[]) => { for (const p of payloads) sendMsgSync(tx, { buffers: Buffer.from(p), to }); } };
}

/** Receives with batches until `count` datagrams came (each batch at most `max`). */
async function drain(s: Socket, count: number, max = 64): Promise<string[]> {
  const out: string[] = [];
  while (out.length < count) {
    const b = await within(recvMsgBatch(s, { maxMessages: max }));
    if (b === 'still waiting') break;
    out.push(...text(b));
  }
  return out;
}

describe('receives made from inside a completion', () => {
  it('a batch completed in the same wake as an earlier receive keeps its own datagrams when a new batch is made from that receive\'s callback', async () => {
    // One wake completes a (d1) and b (a batch: d2, d3, received into the socket's slots).
    // a's callback runs before b is handed to JS and makes batch c, which found the receive
    // queue empty and received d4, d5 at once into the same slots: b then came back as
    // d4, d5 (d2, d3 lost, d4, d5 twice).
    const { rx, send } = await pair();
    let c: Promise<ReceivedMessage[]> | undefined;
    const a = recvMsg(rx).then((m) => {
      c = recvMsgBatch(rx, { maxMessages: 2, bufferSize: 100 });
      return m;
    });
    const b = recvMsgBatch(rx, { maxMessages: 2, bufferSize: 100 });
    await settle(50);
    send('d1', 'd2', 'd3', 'd4', 'd5');
    const got = [...text(await a), ...text(await b)];
    got.push(...text(await c!));
    got.push(...(await drain(rx, 5 - got.length)));
    expect(got).toEqual(['d1', 'd2', 'd3', 'd4', 'd5']);
  });

  it('a batch made from an earlier receive\'s callback does not complete before a batch made before it', async () => {
    const { rx, send } = await pair();
    const order: string[] = [];
    const a = recvMsg(rx).then((m) => {
      void recvMsgBatch(rx, { maxMessages: 1 }).then((x) => order.push(`c:${text(x)}`));
      return m;
    });
    const b = recvMsgBatch(rx, { maxMessages: 1 }).then((x) => order.push(`b:${text(x)}`));
    await settle(50);
    send('d1', 'd2', 'd3');
    await a;
    await b;
    const deadline = Date.now() + 3000;
    while (order.length < 2 && Date.now() < deadline) await settle(10);
    expect(order).toEqual(['b:d2', 'c:d3']);
  });
});

describe('messages() left early while other receives wait', () => {
  for (const kind of ['recvMsg', 'recvMsgBatch'] as const) {
    it(`a ${kind} waiting when the loop breaks gets the rest of the loop's batch first, without waiting for the network`, async () => {
      const { rx, send } = await pair();
      send('d1', 'd2', 'd3');
      await settle(50);
      let waiting: Promise<ReceivedMessage | ReceivedMessage[]> | undefined;
      for await (const m of rx.messages()) {
        expect(text(m)).toEqual(['d1']);
        // The loop holds d2 and d3; this receive finds nothing in the kernel and waits.
        waiting = kind === 'recvMsg' ? recvMsg(rx) : recvMsgBatch(rx);
        break;
      }
      const first = await within(waiting!);
      expect(first === 'still waiting' ? first : text(first)).toEqual(kind === 'recvMsg' ? ['d2'] : ['d2', 'd3']);
      send('d4');
      expect(await drain(rx, kind === 'recvMsg' ? 2 : 1)).toEqual(kind === 'recvMsg' ? ['d3', 'd4'] : ['d4']);
    });
  }

  it('two loops on one socket: the second, waiting, gets what the first left, in order', async () => {
    const { rx, send } = await pair();
    send('d1', 'd2', 'd3');
    await settle(50);
    const second = rx.messages();
    let next: Promise<IteratorResult<ReceivedMessage>> | undefined;
    for await (const m of rx.messages()) {
      expect(text(m)).toEqual(['d1']);
      next = second.next();  // waits: the kernel's queue is empty
      break;
    }
    const r = await within(next!);
    expect(r === 'still waiting' ? r : text(r.value as ReceivedMessage)).toEqual(['d2']);
    expect(text((await second.next()).value as ReceivedMessage)).toEqual(['d3']);
    await second.return(undefined);
  });

  it('receives waiting behind the loop, single and batch, are served from its rest in call order', async () => {
    const { rx, send } = await pair();
    send('d1', 'd2', 'd3', 'd4');
    await settle(50);
    const waiting: Array<Promise<ReceivedMessage | ReceivedMessage[]>> = [];
    for await (const m of rx.messages()) {
      expect(text(m)).toEqual(['d1']);
      waiting.push(recvMsgBatch(rx, { maxMessages: 1 }), recvMsg(rx), recvMsgBatch(rx, { maxMessages: 5 }));
      break;
    }
    const got = await within(Promise.all(waiting));
    expect(got === 'still waiting' ? got : got.map(text)).toEqual([['d2'], ['d3'], ['d4']]);
  });
});

describe('messages() and close()', () => {
  it('close() from inside the loop ends it: the rest of the batch in hand is not yielded after', async () => {
    // Before batches the next iteration was a receive on the closed socket, which ended
    // the loop; with a batch in hand the loop went on yielding it, and a body that answers
    // each datagram (sendMsg) failed on the closed socket.
    const { rx, send } = await pair();
    send('d1', 'd2', 'd3');
    await settle(50);
    const seen: string[] = [];
    for await (const m of rx.messages()) {
      seen.push(...text(m));
      if (seen.length === 1) await rx.close();
    }
    expect(seen).toEqual(['d1']);
  });
});

const itOffload = itUnlessWine('Wine has no receive offload (URO)');

describe('receiveOffload: the leftover of a coalesced receive', () => {
  const pattern = (size: number) => Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + (i >> 8)) & 0xff));

  itOffload('is not cut to the bufferSize of the call that got the coalesced receive', async () => {
    const { rx, tx, to } = await pair({ receiveOffload: true });
    const payload = pattern(1000);
    sendMsgSync(tx, { buffers: payload, to, segmentSize: 100 });
    const first = await recvMsg(rx, { bufferSize: 10 });
    expect([first.bytes, first.truncated]).toEqual([10, true]);
    // The other nine were never that call's: the next one has room for them whole.
    const rest = await recvMsgBatch(rx, { bufferSize: 1500 });
    expect(rest.map((m) => [m.bytes, m.truncated])).toEqual(Array(9).fill([100, false]));
    expect(Buffer.concat(rest.map((m) => m.buffer)).equals(payload.subarray(100))).toBe(true);
  });

  itOffload('is cut to the bufferSize of the call it is served to, and flagged', async () => {
    const { rx, tx, to } = await pair({ receiveOffload: true });
    const payload = pattern(400);
    sendMsgSync(tx, { buffers: payload, to, segmentSize: 100 });
    const first = await recvMsg(rx, { bufferSize: 1500 });
    expect(first.bytes).toBe(100);
    const second = await recvMsg(rx, { bufferSize: 10 });
    expect([second.bytes, second.truncated, second.buffer.length]).toEqual([10, true, 10]);
    expect(second.buffer.equals(payload.subarray(100, 110))).toBe(true);
    const rest = await recvMsgBatch(rx, { bufferSize: 20 });
    expect(rest.map((m) => [m.bytes, m.truncated])).toEqual([[20, true], [20, true]]);
  });
});

describe('memory', () => {
  it('closing a socket frees its batch slots: sockets opened and closed one after another with 64 MiB batches do not add up', async () => {
    // The slots (maxMessages x bufferSize, up to 64 MiB, zero-filled so really resident)
    // stayed with the native socket until GC finalized its small JS object, which a loop
    // like this one never gives V8 a reason to do: 64 MiB more RSS per socket.
    const tx = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    const before = process.memoryUsage().rss;
    let most = 0;
    for (let i = 0; i < 16; i++) {
      const rx = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
      sendMsgSync(tx, { buffers: Buffer.from('x'), to: { address: '127.0.0.1', port: rx.address().port } });
      expect(text(await recvMsgBatch(rx, { maxMessages: 1024, bufferSize: 65536 }))).toEqual(['x']);
      await rx.close();
      most = Math.max(most, process.memoryUsage().rss - before);
    }
    // One socket's slots at a time, with room to spare; without the fix it was 16 x 64 MiB.
    expect(most / 2 ** 20).toBeLessThan(512);
  });
});

describe('memory of waiting batches', () => {
  it('batches waiting together do not each hold maxMessages x bufferSize: a waiting batch costs what a waiting recvMsg does', async () => {
    // On Windows each batch in flight had its own slots, all of them allocated (and zeroed)
    // before its first WSARecvMsg: 12 waiting batches of 64 x 1 MiB held 768 MiB. README
    // says the socket keeps maxMessages x bufferSize (at most 64 MiB).
    const { rx, send } = await pair();
    const before = process.memoryUsage().rss;
    const waiting: Array<Promise<ReceivedMessage[] | 'aborted'>> = [];
    for (let i = 0; i < 12; i++) waiting.push(recvMsgBatch(rx, { maxMessages: 64, bufferSize: 1 << 20 }).catch(() => 'aborted' as const));
    const grown = (process.memoryUsage().rss - before) / 2 ** 20;
    // The socket's one set of slots (64 MiB, Linux allocates it at the first call) and
    // 12 x 1 MiB, with room to spare.
    expect(grown).toBeLessThan(256);
    // And they still work: the first takes what is there, in order.
    send('d1', 'd2', 'd3');
    expect(text((await waiting[0]) as ReceivedMessage[]).length).toBeGreaterThan(0);
    await rx.close();
    const got = (await Promise.all(waiting)).filter((b) => b !== 'aborted').map((b) => text(b as ReceivedMessage[])).flat();
    expect(got).toEqual(['d1', 'd2', 'd3']);
  });
});
