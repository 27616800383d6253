// segmentSize: one large payload sent as many datagrams; the receiver must get the right
// number and sizes, the bytes in order, from the right source.
import { afterEach, describe, expect, it } from 'vitest';
import { openSocket, sendMsg, sendMsgBatch, sendMsgBatchSync, sendMsgSync, type Socket } from '../src/index';
import { catchSync } from './helpers/expect';
import { isPosix, itControlData, wine } from './helpers/platform';
import { receiver, type Receiver } from './helpers/receiver';

const open: Array<Socket | Receiver> = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

async function roundTrip(total: number, seg: number, sync: boolean, source?: string) {
  const r = await receiver();
  const s = await openSocket({ type: 'udp4' });
  open.push(r, s);
  const data = pattern(total);
  // Gathered from three buffers whose edges do not line up with the segments.
  const parts = [data.subarray(0, 1000), data.subarray(1000, 2500), data.subarray(2500)];
  const msg = { buffers: parts, to: { address: '127.0.0.1', port: r.port }, segmentSize: seg, control: source ? { sourceAddress: source } : undefined };
  const n = sync ? sendMsgSync(s, msg) : await sendMsg(s, msg);
  expect(n).toBe(total);
  const want = Math.ceil(total / seg);
  const got = await r.waitFor(want, 3000);
  expect(got.map((m) => m.data.length)).toEqual(Array.from({ length: want }, (_, i) => Math.min(seg, total - i * seg)));
  expect(Buffer.concat(got.map((m) => m.data)).equals(data)).toBe(true);
  return { got, s };
}

describe('segmentSize', () => {
  it.skipIf(!isPosix)('a batch message failing for its own sake (a non-local source) fails the batch there and leaves the offload on', async () => {
    const s = await openSocket({ type: 'udp6' });
    const r = await receiver('udp6');
    open.push(r, s);
    const to = { address: '::1', port: r.port };
    for (const send of [(m: Parameters<typeof sendMsgBatchSync>[1]) => sendMsgBatchSync(s, m), (m: Parameters<typeof sendMsgBatch>[1]) => sendMsgBatch(s, m)]) {
      const result = await send([{ buffers: Buffer.alloc(10), to },
        { buffers: Buffer.alloc(3000), to, segmentSize: 1000, control: { sourceAddress: '2001:db8::1' } }]);
      // EINVAL looks like a refusal to segment; the cut message's first datagram failing the
      // same way shows it was the source address.
      expect(result).toMatchObject({ sent: 1, failedIndex: 1, error: { code: 'WSAEINVAL', sourceAddress: '2001:db8::1' } });
      expect(s.capabilities().segmentationOffload).toBe(true);
    }
  });

  it.skipIf(!isPosix)('a single segmented send failing for its own sake (a non-local source) fails with that error and leaves the offload on', async () => {
    // EINVAL is also a refusal the socket stops offloading for; the first segment, sent
    // alone, failing the same way shows it was the source address (review: sync and
    // overlapped sends switched offload off for good, batches did not).
    const s = await openSocket({ type: 'udp6' });
    const r = await receiver('udp6');
    open.push(r, s);
    const msg = { buffers: Buffer.alloc(3000), to: { address: '::1', port: r.port }, segmentSize: 1000, control: { sourceAddress: '2001:db8::1' } };
    expect(catchSync(() => sendMsgSync(s, msg))).toMatchObject({ code: 'WSAEINVAL', sourceAddress: '2001:db8::1' });
    expect(s.capabilities().segmentationOffload).toBe(true);
    await expect(sendMsg(s, msg)).rejects.toMatchObject({ code: 'WSAEINVAL', sourceAddress: '2001:db8::1' });
    expect(s.capabilities().segmentationOffload).toBe(true);
    // And the socket still offloads: a good one goes whole.
    expect(sendMsgSync(s, { ...msg, control: undefined })).toBe(3000);
    expect(s.capabilities().segmentationOffload).toBe(true);
  });

  it('a batch message of more segments than one offloaded send carries is refused, also when it shares the plan of the message before', async () => {
    const r = await receiver();
    const s = await openSocket({ type: 'udp4' });
    open.push(r, s);
    const max = s.capabilities().maxOffloadSegments;
    const to = { address: '127.0.0.1', port: r.port };
    const small = { buffers: Buffer.alloc(300), to, segmentSize: 100 };
    const big = { buffers: Buffer.alloc(100 * (max + 1)), to, segmentSize: 100 };
    for (const msgs of [[big], [small, big]]) {
      const result = sendMsgBatchSync(s, msgs);
      expect(result).toMatchObject({ sent: 0, failedIndex: msgs.length - 1, error: { code: 'WSAEINVAL' } });
      expect(result.error!.message).toMatch(`at most ${max} segments`);
    }
    expect(s.capabilities().segmentationOffload).toBe(isPosix);  // refused by the shim: the offload is untouched
    await new Promise((res) => setTimeout(res, 100));
    expect(r.messages).toHaveLength(0);  // nothing of a refused batch is sent
  });

  it('capabilities() reports the offload as data', async () => {
    const s = await openSocket({ type: 'udp4' });
    open.push(s);
    const caps = s.capabilities();
    expect(caps.segmentationOffload).toBe(isPosix);  // Linux >= 4.18: yes; under Wine: never
    expect(caps.batchSend).toBe(isPosix ? 'sendmmsg' : 'WSASendMsg loop');
    if (wine) expect(caps.segmentationOffload).toBe(false);
    // Per OS: Linux's UDP_MAX_SEGMENTS, and what Windows 11's USO takes.
    expect(caps.maxOffloadSegments).toBe(isPosix ? 64 : 512);
  });

  it('30001 bytes in 1200-byte segments, promise: 26 datagrams, the last of 1 byte', () => roundTrip(30001, 1200, false));
  it('the same, blocking', () => roundTrip(30001, 1200, true));
  it('more than one offloaded send can carry (200 KB): the shim cuts it into a batch', () => roundTrip(200_000, 1472, false));
  it('a payload shorter than one segment is one datagram', () => roundTrip(3000, 4000, false));

  // Linux offloads it inside sendmmsg; a Windows stack without USO (Wine, or one that has
  // just refused it) gets the message cut by the backend, which must still count it as one
  // message of the batch and keep the batch's order.
  it('a batch message with segmentSize goes as its segments and counts as one message, blocking and overlapped', async () => {
    const r = await receiver();
    const s = await openSocket({ type: 'udp4' });
    open.push(r, s);
    const to = { address: '127.0.0.1', port: r.port };
    const data = pattern(2500);
    expect(sendMsgBatchSync(s, [{ buffers: [data.subarray(0, 700), data.subarray(700)], to, segmentSize: 1000 },
      { buffers: Buffer.from('z'), to }])).toEqual({ sent: 2 });
    expect(await sendMsgBatch(s, [{ buffers: Buffer.from('y'), to }, { buffers: data, to, segmentSize: 1000 }])).toEqual({ sent: 2 });
    const got = await r.waitFor(8, 3000);
    expect(got.map((m) => m.data.length)).toEqual([1000, 1000, 500, 1, 1, 1000, 1000, 500]);
    expect(Buffer.concat(got.slice(0, 3).map((m) => m.data)).equals(data)).toBe(true);
    expect(got[3]!.data.toString() + got[4]!.data.toString()).toBe('zy');
    expect(Buffer.concat(got.slice(5).map((m) => m.data)).equals(data)).toBe(true);
  });

  itControlData('every segment carries the source address', async () => {
    const { got } = await roundTrip(12000, 1000, false, '127.0.0.3');
    expect(new Set(got.map((m) => m.address))).toEqual(new Set(['127.0.0.3']));
  });

  it('bad segment sizes are argument errors', async () => {
    const s = await openSocket({ type: 'udp4' });
    open.push(s);
    const to = { address: '127.0.0.1', port: 9 };
    expect(catchSync(() => sendMsgSync(s, { buffers: Buffer.alloc(10), to, segmentSize: 0 }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(catchSync(() => sendMsg(s, { buffers: Buffer.alloc(10), to, segmentSize: 70000 }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(catchSync(() => sendMsgSync(s, { buffers: Buffer.alloc(2_000_000), to, segmentSize: 100 }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
  });
});
