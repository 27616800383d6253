// Runs inside a test namespace behind a slow qdisc, so that sends really park: after
// sendMsg returns, the caller detaches, overwrites or shrinks every parked payload. The
// wire must carry what the buffers held at the call (the receiver checks the pattern).
const { openSocket, sendMsg, sendMsgBatch } = require(process.env.SHIM_ROOT);
const { to, port, count } = JSON.parse(process.argv[2]);

function payload(i, size) {
  // Every third on a resizable ArrayBuffer, so that it can be shrunk to nothing.
  const ab = i % 3 === 2 ? new ArrayBuffer(size, { maxByteLength: size }) : new ArrayBuffer(size);
  const b = new Uint8Array(ab);
  for (let k = 0; k < size; k++) b[k] = (i + k) & 0xff;
  new DataView(ab).setUint32(0, i);
  return b;
}

function spoil(i, b) {
  if (i % 3 === 0) structuredClone(b.buffer, { transfer: [b.buffer] });  // detached
  else if (i % 3 === 1) b.fill(0);                                       // reused
  else b.buffer.resize(0);                                               // shrunk
}

(async () => {
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1, maxPendingSends: 100_000, maxPendingBytes: 1 << 30 });
  const dest = { address: to, port };
  const results = [];
  const views = [];
  for (let i = 0; i < count; i++) {
    const b = payload(i, 600);
    views.push(b);
    results.push(sendMsg(sock, { buffers: [b.subarray(0, 100), b.subarray(100)], to: dest }).then((n) => n, (e) => e.code));
  }
  // And a batch, parked behind them.
  const batch = [];
  for (let i = count; i < count + 50; i++) {
    const b = payload(i, 600);
    views.push(b);
    batch.push({ buffers: b, to: dest });
  }
  const batchDone = sendMsgBatch(sock, batch);
  const parked = sock.pendingSends;
  views.forEach((b, i) => spoil(i, b));
  if (global.gc) global.gc();
  const sent = await Promise.all(results);
  const b = await batchDone;
  await sock.close();
  console.log(JSON.stringify({ parked, sent: sent.filter((n) => n === 600).length, batch: b.sent, batchError: b.error && b.error.code }));
})().catch((e) => { console.error(e); process.exit(1); });
