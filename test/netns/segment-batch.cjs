// A batch holding a message whose segments the kernel will not offload (each above the
// path MTU: refused before anything is sent), between two plain messages, sent with
// sendMsgBatchSync and then sendMsgBatch; then once more behind `lead` plain messages on a
// minimal send buffer, so that the batch parks and the refusal comes while the queue drains;
// and a single sendMsg of such a message parked the same way (whole: it is cut when the
// queue reaches it). Windows cuts such a message in its place; so must Linux. Datagram i
// starts with its number (the receiver's seqs).
const { openSocket, sendMsg, sendMsgBatch, sendMsgBatchSync } = require(process.env.SHIM_ROOT);
const { to, port, seg, count, lead } = JSON.parse(process.argv[2]);
const plain = (i) => { const b = Buffer.alloc(1000); b.writeUInt32BE(i); return b; };

/** count segments of seg bytes, numbered from first, in two buffers cut across a segment. */
function segmented(first) {
  const whole = Buffer.alloc(seg * count);
  for (let k = 0; k < count; k++) whole.writeUInt32BE(first + k, k * seg);
  const cut = Math.floor(seg / 2) + 3;
  return [whole.subarray(0, cut), whole.subarray(cut)];
}

function batch(from, leading = 0) {
  const ahead = Array.from({ length: leading }, (_, i) => ({ buffers: plain(from + i), to: { address: to, port } }));
  const first = from + leading;
  return [
    ...ahead,
    { buffers: plain(first), to: { address: to, port } },
    { buffers: segmented(first + 1), to: { address: to, port }, segmentSize: seg },
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
  const slow2 = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  const from = 3 * (count + 2) + lead;
  const ahead = [];
  for (let i = 0; i < lead; i++) ahead.push(sendMsg(slow2, { buffers: plain(from + i), to: { address: to, port } }));
  const single = sendMsg(slow2, { buffers: segmented(from + lead), to: { address: to, port }, segmentSize: seg })
    .then((n) => n, (e) => `${e.code} segmentsSent=${e.segmentsSent}`);
  const singleParked = slow2.pendingSends;
  const singleBytes = await single;
  await Promise.all(ahead);
  const singleOffload = slow2.capabilities().segmentationOffload;
  await slow2.close();
  const r = (x) => ({ sent: x.sent, failedIndex: x.failedIndex ?? null, code: x.error?.code ?? null });
  console.log(JSON.stringify({ sync: r(sync), overlapped: r(overlapped), offload, parked, drained: r(drained), singleParked, singleBytes, singleOffload }));
})().catch((e) => { console.error(e); process.exit(1); });
