// Segmented sends that fail part way, on a slow link whose MTU is below the segment size (so
// the kernel refuses to offload and the segments go as a batch) with a minimal send buffer:
// - sendMsgSync, nonBlocking: WSAEWOULDBLOCK after some segments; err.segmentsSent says how many;
// - sendMsg, closed while parked: WSA_OPERATION_ABORTED with segmentsSent;
// - sendMsgBatch holding such a message, closed while parked: `sent` counts messages (a cut
//   message's pieces are not messages). Datagram i of the batch starts with i;
// - sendMsg parked whole behind 3 sends (cut when the queue reaches it), closed while its
//   segments go: segmentsSent counts them;
// - sendMsg whose signal aborts it while its segments go: segmentsSent counts them too.
const { openSocket, sendMsg, sendMsgSync, sendMsgBatch } = require(process.env.SHIM_ROOT);
const { to, port, discard, seg, count, lead, closeSendMs, closeBatchMs } = JSON.parse(process.argv[2]);
const err = (e) => ({ code: e.code, segmentsSent: e.segmentsSent ?? null });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  const whole = Buffer.alloc(seg * count);
  for (let k = 0; k < count; k++) whole.writeUInt32BE(lead + 1 + k, k * seg);

  const a = await openSocket({ type: 'udp4', sendBufferSize: 1, nonBlocking: true });
  let sync = null;
  try { sendMsgSync(a, { buffers: whole, to: { address: to, port: discard }, segmentSize: seg }); } catch (e) { sync = err(e); }
  await a.close();

  const b = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  const p = sendMsg(b, { buffers: whole, to: { address: to, port: discard }, segmentSize: seg }).then(() => null, err);
  await sleep(closeSendMs);
  await b.close();
  const overlapped = await p;

  const c = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  const plain = (i) => { const x = Buffer.alloc(1000); x.writeUInt32BE(i); return { buffers: x, to: { address: to, port } }; };
  const msgs = [...Array.from({ length: lead + 1 }, (_, i) => plain(i)), { buffers: whole, to: { address: to, port }, segmentSize: seg }, plain(lead + 1 + count)];
  const q = sendMsgBatch(c, msgs);
  const parked = c.pendingSends;
  setTimeout(() => c.close(), closeBatchMs);
  const r = await q;

  const d = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  for (let i = 0; i < 3; i++) sendMsg(d, { buffers: Buffer.alloc(1000), to: { address: to, port: discard } }).catch(() => {});
  const behind = sendMsg(d, { buffers: whole, to: { address: to, port: discard }, segmentSize: seg }).then((n) => n, err);
  const parkedBehind = d.pendingSends;
  await sleep(closeSendMs);
  await d.close();
  const parkedClose = { parkedBehind, result: await behind };

  // Its signal aborts it while its segments go: the error counts the ones that went.
  const e = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  const ac = new AbortController();
  const abortedSend = sendMsg(e, { buffers: whole, to: { address: to, port: discard }, segmentSize: seg, signal: ac.signal }).then((n) => n, err);
  await sleep(closeSendMs);
  ac.abort();
  const aborted = await abortedSend;
  await e.close();
  console.log(JSON.stringify({ sync, overlapped, parked, batch: { sent: r.sent, failedIndex: r.failedIndex ?? null, code: r.error?.code ?? null },
    parkedClose, aborted }));
})().catch((e) => { console.error(e); process.exit(1); });
