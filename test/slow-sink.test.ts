// Overlapped sends that really go pending, in this process, on a slow link some outer
// script set up (SHIM_SLOW_SINK: an address behind a slow qdisc that swallows datagrams).
// The Wine lane provides one, so the IOCP pending path runs under Wine; on Linux the same
// behaviour is proven in namespaces by netns.test.ts.
import { describe, expect, it } from 'vitest';
import { openSocket, sendMsg, sendMsgBatch } from '../src/index';
import { binding } from '../src/binding';

const sink = process.env.SHIM_SLOW_SINK;

describe.skipIf(!sink)(`pending sends on a slow link${sink ? '' : ' (skipped: needs SHIM_SLOW_SINK; the Wine lane sets one, Linux covers this in netns.test.ts)'}`, () => {
  it('pending sends complete in order; close() aborts the rest; nothing is left in flight', async () => {
    const s = await openSocket({ type: 'udp4', sendBufferSize: 4096 });
    const order: number[] = [];
    const results: Array<number | string> = [];
    const all: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      all.push(sendMsg(s, { buffers: Buffer.alloc(1000, i), to: { address: sink!, port: 9 } }).then(
        (n) => { results[i] = n; order.push(i); },
        (e) => { results[i] = e.code; order.push(i); }));
    }
    const pendingAtSubmit = s.pendingSends;
    await new Promise((r) => setTimeout(r, 150));
    await s.close();  // resolves once every send has completed
    await Promise.all(all);
    expect(pendingAtSubmit).toBeGreaterThan(0);  // the overlapped path really went pending
    expect(order).toEqual([...order].sort((a, b) => a - b));  // completions in submission order
    const sent = results.filter((r) => r === 1000).length;
    const aborted = results.filter((r) => r === 'WSA_OPERATION_ABORTED').length;
    expect(sent + aborted).toBe(300);
    expect(aborted).toBeGreaterThan(0);
    // Successes form a prefix: nothing after an aborted send went out.
    expect(results.slice(0, sent).every((r) => r === 1000)).toBe(true);
    expect(s.pendingSends).toBe(0);
    expect(binding.liveCounts().queuedSends).toBe(0);
  });

  // Without USO (Wine) each segmented message goes as its segments under its one place in the
  // batch: the batch's completion, arriving through the port, counts messages, not sends.
  it('a batch of segmented messages that goes pending completes counted by message', async () => {
    const s = await openSocket({ type: 'udp4', sendBufferSize: 4096 });
    const to = { address: sink!, port: 9 };
    const batch = sendMsgBatch(s, [0, 1, 2].map((i) => ({ buffers: Buffer.alloc(8000, i), to, segmentSize: 1000 })));
    const pendingAtSubmit = s.pendingSends;
    expect(await batch).toEqual({ sent: 3 });
    expect(pendingAtSubmit).toBeGreaterThan(0);  // it really went through the port
    await s.close();
    expect(binding.liveCounts().queuedSends).toBe(0);
  });
});
