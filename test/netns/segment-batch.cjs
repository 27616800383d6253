// A batch holding a message whose segments the kernel will not offload (each above the
// path MTU: refused before anything is sent), between two plain messages, sent with
// sendMsgBatchSync and then sendMsgBatch; then once more behind `lead` plain messages on a
// minimal send buffer, so that the batch parks and the refusal comes while the queue drains.
// Windows cuts such a message in its place; so must Linux. Datagram i starts with its
// number (the receiver's seqs).
const { openSocket, sendMsgBatch, sendMsgBatchSync } = require(process.env.SHIM_ROOT);
const { to, port, seg, count, lead } = JSON.parse(process.argv[2]);

function batch(from, leading = 0) {
  const plain = (i) => { const b = Buffer.alloc(1000); b.writeUInt32BE(i); return b; };
  const ahead = Array.from({ length: leading }, (_, i) => ({ buffers: plain(from + i), to: { address: to, port } }));
  const first = from + leading;
  // Two buffers, cut across: the segments do not follow the buffers' edges.
  const whole = Buffer.alloc(seg * count);
  for (let k = 0; k < count; k++) whole.writeUInt32BE(first + 1 + k, k * seg);
  const cut = Math.floor(seg / 2) + 3;
  return [
    ...ahead,
    { buffers: plain(first), to: { address: to, port } },
    { buffers: [whole.subarray(0, cut), whole.subarray(cut)], to: { address: to, port }, segmentSize: seg },
    { buffers: plain(first + count + 1), to: { address: to, port } },
  ];
}

(async () => {
  const s = await openSocket({ type: 'udp4' });
  const sync = sendMsgBatchSync(s, batch(0));
  const overlapped = await sendMsgBatch(s, batch(count + 2));
  const offload = s.capabilities().segmentationOffload;
  await s.close();
  const slow = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  const p = sendMsgBatch(slow, batch(2 * (count + 2), lead));
  const parked = slow.pendingSends;
  const drained = await p;
  await slow.close();
  const r = (x) => ({ sent: x.sent, failedIndex: x.failedIndex ?? null, code: x.error?.code ?? null });
  console.log(JSON.stringify({ sync: r(sync), overlapped: r(overlapped), offload, parked, drained: r(drained) }));
})().catch((e) => { console.error(e); process.exit(1); });
