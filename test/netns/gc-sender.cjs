// Parks `count` sends behind a slow qdisc with payloads nobody else references, forces
// garbage collection while they wait, and lets them drain: the receiver must get every
// byte right (a collected buffer would show up as corrupt or missing payloads).
const { openSocket, sendMsg } = require(process.env.SHIM_ROOT);
// These scripts measure the queue itself: lift the bound on queued sends (maxPendingSends).
const UNBOUNDED = { maxPendingSends: 2 ** 31 - 1, maxPendingBytes: Number.MAX_SAFE_INTEGER };
const { to, port, count, size } = JSON.parse(process.argv[2]);

function payload(i) {
  const b = Buffer.alloc(size);  // not allocUnsafe: no pool slab that something else keeps alive
  b.writeUInt32BE(i, 0);
  for (let k = 4; k < size; k++) b[k] = (i + k) & 0xff;
  return [b.subarray(0, 4), b.subarray(4)];  // and only views of it are passed
}

(async () => {
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1, ...UNBOUNDED });
  const all = [];
  for (let i = 0; i < count; i++) all.push(sendMsg(sock, { buffers: payload(i), to: { address: to, port } }));
  const pendingAfterSubmit = sock.pendingSends;
  const churn = setInterval(() => {
    // Garbage that reuses freed memory quickly, then a full collection.
    for (let k = 0; k < 200; k++) Buffer.alloc(size, 0xee);
    global.gc();
  }, 5);
  await Promise.all(all);
  clearInterval(churn);
  await sock.close();
  console.log(JSON.stringify({ pendingAfterSubmit }));
})().catch((e) => { console.error(e); process.exit(1); });
