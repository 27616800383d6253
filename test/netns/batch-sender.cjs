// One sendMsgBatch of `count` datagrams behind a slow qdisc (so it parks part-way), then
// either waits for it or closes the socket after `closeAfterMs`. With `pattern`, byte k >= 4
// of datagram i is (i + k) & 0xff, for the receiver's checkPattern.
const { openSocket, sendMsgBatch } = require(process.env.SHIM_ROOT);
// These scripts measure the queue itself: lift the bound on queued sends (maxPendingSends).
const UNBOUNDED = { maxPendingSends: 2 ** 31 - 1, maxPendingBytes: Number.MAX_SAFE_INTEGER };
const { to, port, count, size, closeAfterMs, pattern = false, sendBufferSize = 1 } = JSON.parse(process.argv[2]);

(async () => {
  const sock = await openSocket({ type: 'udp4', sendBufferSize, ...UNBOUNDED });
  const msgs = [];
  for (let i = 0; i < count; i++) {
    const b = Buffer.alloc(size);
    if (pattern) for (let k = 4; k < size; k++) b[k] = (i + k) & 0xff;
    b.writeUInt32BE(i, 0);
    msgs.push({ buffers: b, to: { address: to, port } });
  }
  const p = sendMsgBatch(sock, msgs);
  const pendingAfterSubmit = sock.pendingSends;
  if (closeAfterMs !== undefined) setTimeout(() => sock.close(), closeAfterMs);
  const r = await p;
  await sock.close();
  console.log(JSON.stringify({ pendingAfterSubmit, sent: r.sent, failedIndex: r.failedIndex ?? null, code: r.error?.code ?? null }));
})().catch((e) => { console.error(e); process.exit(1); });
