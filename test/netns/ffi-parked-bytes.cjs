// Runs inside a test namespace behind a slow qdisc (test/ffi-parked-bytes.test.ts), on the
// ffi-rs backend: sends park, and after each sendMsg / sendMsgBatch returns the caller
// detaches, overwrites or shrinks its buffers. The wire must carry what they held at the
// call (the receiver checks the pattern), nothing may throw from the poller, and every
// queued send must complete. Prints the outcome as JSON, hung sends included.
const { MessageChannel } = require('node:worker_threads');
const { openSocket, sendMsg, sendMsgBatch } = require(process.env.SHIM_ROOT);
const { to, port, count, size } = JSON.parse(process.argv[2]);
const errors = [];
process.on('uncaughtException', (e) => errors.push(String((e && e.stack) || e)));
process.on('unhandledRejection', (e) => errors.push(String((e && e.stack) || e)));

/** The receiver's pattern: a 4-byte sequence number, then byte k = (seq + k) & 0xff. */
function payload(i) {
  const ab = i % 5 === 4 ? new ArrayBuffer(size, { maxByteLength: size }) : new ArrayBuffer(size);
  const b = new Uint8Array(ab);
  for (let k = 0; k < size; k++) b[k] = (i + k) & 0xff;
  new DataView(ab).setUint32(0, i);
  return b;
}

const channel = new MessageChannel();
function spoil(i, b) {
  switch (i % 5) {
    case 0: structuredClone(b.buffer, { transfer: [b.buffer] }); break;  // detached
    case 1: channel.port1.postMessage(b.buffer, [b.buffer]); break;      // detached by a transfer
    case 2: b.fill(0); break;                                            // reused
    case 3: b.set(payload(i + 1)); break;                                // reused with other valid bytes
    case 4: b.buffer.resize(0); break;                                   // shrunk
  }
}

(async () => {
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1, implementation: 'ffi', maxPendingSends: 100_000, maxPendingBytes: 1 << 30 });
  const dest = { address: to, port };
  // Built before the first send: on a loaded machine, building them between sends let the
  // poller drain most of the queue before pendingSends was read (CI, 143 of 300 parked).
  const views = Array.from({ length: count + 20 }, (_, i) => payload(i));
  const results = [];
  for (let i = 0; i < count; i++) {
    const b = views[i];
    // Gathered from two views, one of them a DataView: both over the buffer that is spoiled.
    const buffers = [new DataView(b.buffer, 0, 100), b.subarray(100)];
    results.push(sendMsg(sock, { buffers, to: dest }).then((n) => n, (e) => e.code));
  }
  const batch = [];
  for (let i = count; i < count + 20; i++) batch.push({ buffers: views[i], to: dest });
  const batchDone = sendMsgBatch(sock, batch).then((r) => r.sent, (e) => e.code);
  const parked = sock.pendingSends;
  views.forEach((b, i) => spoil(i, b));
  let timer;
  const all = Promise.all([...results, batchDone]);
  const outcome = await Promise.race([all, new Promise((resolve) => (timer = setTimeout(() => resolve(null), 15_000)))]);
  clearTimeout(timer);
  const hung = outcome ? 0 : sock.pendingSends;
  await sock.close();
  channel.port1.close();
  const done = outcome || (await all);
  console.log(JSON.stringify({ parked, sent: done.slice(0, count).filter((n) => n === size).length, batch: done[count], hung, errors }));
})().catch((e) => { console.error(e); process.exit(1); });
