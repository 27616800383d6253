// One sendMsgBatch of `count` datagrams behind a slow qdisc (so it parks part-way), then
// either waits for it or closes the socket after `closeAfterMs`.
const { openSocket, sendMsgBatch } = require(process.env.SHIM_ROOT);
const { to, port, count, size, closeAfterMs } = JSON.parse(process.argv[2]);

(async () => {
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  const msgs = [];
  for (let i = 0; i < count; i++) {
    const b = Buffer.alloc(size);
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
