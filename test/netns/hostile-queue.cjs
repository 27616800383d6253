// Runs inside a test namespace with a very slow qdisc in front of the destination, so that
// overlapped sends really queue. Cases a server meets when its uplink is congested:
//   mode "bound": 1M sendMsg attempts; the queue must stay at maxPendingSends (WSAEWOULDBLOCK
//                 past it), memory bounded; drained() waits while it is full, and close() ends the wait.
//   mode "duck-signal": a signal that fires inside addEventListener; close() must resolve.
//   mode "segment-abort": segmentSize past the kernel's 64 segments (sent as a batch) with a
//                 signal aborted 10 ms in: it must fail with WSA_OPERATION_ABORTED and stop.
const { openSocket, sendMsg } = require(process.env.SHIM_ROOT);
const { to, port, mode, attempts = 1_000_000, size = 100 } = JSON.parse(process.argv[2]);
const dest = { address: to, port };
const rssMb = () => process.memoryUsage().rss / 1048576;
// Live heap after a full collection (run with --expose-gc): what the queue really holds.
const liveMb = () => { global.gc(); return process.memoryUsage().heapUsed / 1048576; };
const tick = () => new Promise((r) => setImmediate(r));

async function bound() {
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  const payload = Buffer.alloc(size, 7);
  const tally = {};
  let maxPending = 0;
  const count = (err) => {
    const k = err ? err.code : 'sent';
    tally[k] = (tally[k] || 0) + 1;
  };
  // Warm up the heap before the baseline, so that it measures the queue, not the JIT.
  for (let i = 0; i < 20_000; i++) sendMsg(sock, { buffers: payload, to: dest }, count);
  await tick();
  const liveStart = liveMb();
  const rssStart = rssMb();
  let rssMax = rssStart;
  let firstRefusal;
  for (let i = 0; i < attempts; i += 10_000) {
    for (let k = 0; k < 10_000; k++) {
      sendMsg(sock, { buffers: payload, to: dest }, (err) => {
        if (err && !firstRefusal) firstRefusal = { code: err.code, message: err.message };
        count(err);
      });
    }
    maxPending = Math.max(maxPending, sock.pendingSends);
    await tick();
    rssMax = Math.max(rssMax, rssMb());
  }
  const liveEnd = liveMb();
  // drained() waits for an empty queue (minutes at this rate), and close() ends the wait.
  const drained = sock.drained().then(() => 'resolved');
  const beforeClose = await Promise.race([drained, new Promise((r) => setTimeout(() => r('pending'), 200))]);
  await sock.close();
  const afterClose = await Promise.race([drained, new Promise((r) => setTimeout(() => r('pending'), 1000))]);
  return { tally, maxPending, liveStart, liveEnd, rssStart, rssMax, firstRefusal, drained: [beforeClose, afterClose] };
}

async function duckSignal() {
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  const filler = [];
  for (let i = 0; i < 20; i++) filler.push(sendMsg(sock, { buffers: Buffer.alloc(1000), to: dest }).catch((e) => e.code));
  const pendingBefore = sock.pendingSends;
  // Looks enough like an AbortSignal, and aborts the moment it is listened to.
  const signal = { aborted: false, addEventListener(_type, fn) { this.aborted = true; fn(); }, removeEventListener() {} };
  const result = await sendMsg(sock, { buffers: Buffer.alloc(10), to: dest, signal }).then((n) => n, (e) => e.code);
  const closed = await Promise.race([sock.close().then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
  await Promise.all(filler);
  return { pendingBefore, result, closed, pendingAtEnd: sock.pendingSends };
}

async function segmentAbort() {
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  const seg = 1000;
  const n = 100;  // more segments than one offloaded send may carry: the batch path
  const payload = Buffer.alloc(seg * n);
  for (let i = 0; i < n; i++) payload.writeUInt32BE(i, i * seg);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 10);
  const t0 = Date.now();
  const result = await sendMsg(sock, { buffers: payload, to: dest, segmentSize: seg, signal: ac.signal }).then((b) => b, (e) => e.code);
  const ms = Date.now() - t0;
  const pendingAtEnd = sock.pendingSends;
  await sock.close();
  return { result, ms, pendingAtEnd };
}

(async () => {
  const out = mode === 'bound' ? await bound() : mode === 'duck-signal' ? await duckSignal() : await segmentAbort();
  console.log(JSON.stringify(out));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
