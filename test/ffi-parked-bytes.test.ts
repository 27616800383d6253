// What a parked send transmits belongs to the shim from the moment sendMsg returns
// (DESIGN.md): on the ffi-rs backend, a send that waits for room in the send buffer must
// hold its own copy of the bytes, so a caller that detaches (structuredClone or postMessage
// with transfer), overwrites or shrinks its buffers afterwards changes nothing on the wire,
// crashes nothing and stalls no later send. Sends park behind a slow qdisc in a namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, expectSentOrder, netnsAvailable, netnsSkipReason } from './helpers/netns';

interface ReceiverResult { seqs: number[]; sources: string[]; corrupt: number }

describe.skipIf(!netnsAvailable)(`ffi-rs: parked sends own their bytes${netnsAvailable ? '' : ` (skipped: ${netnsSkipReason})`}`, () => {
  const lab = new NetnsLab();
  let A: string;
  let B: string;
  beforeAll(() => {
    A = lab.ns('a');
    B = lab.ns('b');
    lab.veth(A, B, 42);
    lab.tc(A, 'qdisc', 'add', 'dev', 'va42', 'root', 'tbf', 'rate', '5mbit', 'burst', '4kb', 'limit', '100000');
  });
  afterAll(() => lab.destroy());

  it('detached, transferred, overwritten and shrunk after the call: the receiver gets the original bytes, every send completes', async () => {
    const rx = lab.start<ReceiverResult>(B, 'receiver.cjs', { address: '10.77.42.2', port: 7042, checkPattern: true, idleMs: 1500 });
    await rx.ready;
    const count = 300;
    const tx = await lab.run<{ parked: number; sent: number; batch: number | string; hung: number; errors: string[] }>(A, 'ffi-parked-bytes.cjs',
      { to: '10.77.42.2', port: 7042, count, size: 600 }, 40_000);
    expect(tx.errors).toEqual([]);
    expect(tx.parked).toBeGreaterThan(count / 2);  // most of them really waited in the queue
    expect(tx).toMatchObject({ sent: count, batch: 20, hung: 0 });
    const got = await rx.result;
    expectSentOrder(got.seqs, [...Array(count + 20).keys()]);
    expect(got.corrupt).toBe(0);
  });
});
