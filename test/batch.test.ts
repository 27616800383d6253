// sendMsgBatch / sendMsgBatchSync: many datagrams in one call, in order, each with its
// own destination and source; a failure reports how many went and sends nothing after.
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_BATCH, openSocket, sendMsgBatch, sendMsgBatchSync, type Message, type Socket } from '../src/index';
import { catchSync, expectWsa } from './helpers/expect';
import { itControlData } from './helpers/platform';
import { receiver, type Receiver } from './helpers/receiver';

const open: Array<Socket | Receiver> = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});
async function setup(): Promise<{ s: Socket; r: Receiver; r2: Receiver }> {
  const s = await openSocket({ type: 'udp4' });
  const r = await receiver();
  const r2 = await receiver();
  open.push(s, r, r2);
  return { s, r, r2 };
}
const seq = (i: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(i);
  return b;
};

describe('sendMsgBatch', () => {
  for (const [name, send] of [
    ['overlapped', (s: Socket, m: Message[]) => sendMsgBatch(s, m)],
    ['blocking', async (s: Socket, m: Message[]) => sendMsgBatchSync(s, m)],
  ] as const) {
    it(`${name}: every message goes, in order, to its own destination`, async () => {
      const { s, r, r2 } = await setup();
      const msgs: Message[] = [];
      for (let i = 0; i < 600; i++) {
        msgs.push({ buffers: [seq(i), Buffer.from(`#${i}`)], to: { address: '127.0.0.1', port: i % 2 ? r2.port : r.port } });
      }
      expect(await send(s, msgs)).toEqual({ sent: 600 });
      const a = await r.waitFor(300);
      const b = await r2.waitFor(300);
      expect(a.map((m) => m.data.readUInt32BE(0))).toEqual([...Array(300).keys()].map((i) => i * 2));
      expect(b.map((m) => m.data.readUInt32BE(0))).toEqual([...Array(300).keys()].map((i) => i * 2 + 1));
      expect(a[1].data.subarray(4).toString()).toBe('#2');
    });
  }

  it('a message after one that repeats the plan before it goes where it says, whatever that record held in an earlier batch', async () => {
    const { s, r, r2 } = await setup();
    const a = { address: '127.0.0.1', port: r.port };
    const b = { address: '127.0.0.1', port: r2.port };
    for (const send of [(m: Message[]) => sendMsgBatchSync(s, m), (m: Message[]) => sendMsgBatch(s, m)]) {
      expect(await send([{ buffers: seq(0), to: a }, { buffers: seq(1), to: b }])).toEqual({ sent: 2 });
      // The second message repeats the first's plan; the third's is what the second record held.
      expect(await send([{ buffers: seq(2), to: a }, { buffers: seq(3), to: a }, { buffers: seq(4), to: b }])).toEqual({ sent: 3 });
    }
    const got = (x: Receiver, n: number) => x.waitFor(n).then((ms) => ms.map((m) => m.data.readUInt32BE(0)));
    expect(await got(r, 6)).toEqual([0, 2, 3, 0, 2, 3]);
    expect(await got(r2, 4)).toEqual([1, 4, 1, 4]);
  });

  it('messages sharing one `to` object: its keys are checked once a call, its values read for every message', async () => {
    const { s, r, r2 } = await setup();
    let reads = 0;
    // A getter answering a different port on each read: each message goes where its own read said.
    const shared = { address: '127.0.0.1', get port() { return reads++ % 2 ? r2.port : r.port; } };
    for (const send of [(m: Message[]) => sendMsgBatchSync(s, m), (m: Message[]) => sendMsgBatch(s, m)]) {
      expect(await send([0, 1, 2, 3].map((i) => ({ buffers: seq(i), to: shared })))).toEqual({ sent: 4 });
    }
    expect(reads).toBe(8);
    const got = (x: Receiver, n: number) => x.waitFor(n).then((ms) => ms.map((m) => m.data.readUInt32BE(0)));
    expect(await got(r, 4)).toEqual([0, 2, 0, 2]);
    expect(await got(r2, 4)).toEqual([1, 3, 1, 3]);
    // A misspelt key in a shared object is still refused, naming the first message that has it.
    const typo = { address: '127.0.0.1', port: r.port, prot: 1 } as Message['to'];
    const control = { sourceAdress: '127.0.0.1' } as Message['control'];
    expect(catchSync(() => sendMsgBatchSync(s, [{ buffers: seq(0), to: typo }, { buffers: seq(1), to: typo }])))
      .toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining("'msgs[0].to.prot'") });
    expect(catchSync(() => sendMsgBatchSync(s, [{ buffers: seq(0), to: shared }, { buffers: seq(1), to: shared, control }])))
      .toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining("'msgs[1].control.sourceAdress'") });
    // Nothing is remembered from one call to the next: a key added since is seen.
    const later: Record<string, unknown> = { address: '127.0.0.1', port: r.port };
    expect(sendMsgBatchSync(s, [{ buffers: seq(0), to: later as unknown as Message['to'] }])).toEqual({ sent: 1 });
    later.adress = '127.0.0.2';
    expect(catchSync(() => sendMsgBatchSync(s, [{ buffers: seq(0), to: later as unknown as Message['to'] }])))
      .toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining("'msgs[0].to.adress'") });
  });

  itControlData('each message keeps its own source address', async () => {
    const { s, r } = await setup();
    const msgs = [2, 3, 1, 3].map((n, i) => ({ buffers: seq(i), to: { address: '127.0.0.1', port: r.port }, control: { sourceAddress: `127.0.0.${n}` } }));
    expect(await sendMsgBatch(s, msgs)).toEqual({ sent: 4 });
    expect((await r.waitFor(4)).map((m) => m.address)).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.1', '127.0.0.3']);
  });

  it('a message the shim refuses fails the batch before anything is sent', async () => {
    const { s, r } = await setup();
    const to = { address: '127.0.0.1', port: r.port };
    const msgs: Message[] = [{ buffers: seq(0), to }, { buffers: seq(1), to }, { buffers: Buffer.alloc(65508), to }, { buffers: seq(3), to }];
    for (const result of [await sendMsgBatch(s, msgs), sendMsgBatchSync(s, msgs)]) {
      expect(result.sent).toBe(0);
      expect(result.failedIndex).toBe(2);
      expectWsa(result.error, 'WSAEMSGSIZE');
    }
    expect((await r.settle()).length).toBe(0);
  });

  it('an OS failure mid-batch: the ones before it went, none after it', async () => {
    const { s, r } = await setup();
    const to = { address: '127.0.0.1', port: r.port };
    const bad = { address: '127.255.255.255', port: r.port };  // broadcast without SO_BROADCAST
    const msgs: Message[] = [0, 1, 2].map((i) => ({ buffers: seq(i), to }));
    msgs.push({ buffers: seq(3), to: bad }, { buffers: seq(4), to });
    const result = await sendMsgBatch(s, msgs);
    expect([result.sent, result.failedIndex]).toEqual([3, 3]);
    expect(expectWsa(result.error, 'WSAEACCES').address).toBe('127.255.255.255');
    const sync = sendMsgBatchSync(s, msgs);
    expect([sync.sent, sync.failedIndex, sync.error?.code]).toEqual([3, 3, 'WSAEACCES']);
    expect((await r.waitFor(6, 300)).map((m) => m.data.readUInt32BE(0))).toEqual([0, 1, 2, 0, 1, 2]);
  });

  it('an empty batch and a closed socket', async () => {
    const { s } = await setup();
    expect(await sendMsgBatch(s, [])).toEqual({ sent: 0 });
    await s.close();
    const r = await sendMsgBatch(s, [{ buffers: seq(0), to: { address: '127.0.0.1', port: 9 } }]);
    expect(r.sent).toBe(0);
    expectWsa(r.error, 'WSAENOTSOCK');
  });

  it('argument errors name the message and send nothing', async () => {
    const { s, r } = await setup();
    const to = { address: '127.0.0.1', port: r.port };
    expect(catchSync(() => sendMsgBatch(s, 'x' as never))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(catchSync(() => sendMsgBatch(s, Array.from({ length: MAX_BATCH + 1 }, () => ({ buffers: seq(0), to }))))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    const err = catchSync(() => sendMsgBatchSync(s, [{ buffers: seq(0), to }, { buffers: 'x' as never, to }])) as Error & { code: string };
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(err.message).toContain('msgs[1].buffers');
    expect(catchSync(() => sendMsgBatch(s, [{ buffers: seq(0), to, signal: new AbortController().signal }]))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect((await r.settle()).length).toBe(0);
  });
});
