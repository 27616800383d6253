// Repeats: open, park `count` sends behind a slow qdisc, close. Reports fds, the native
// live-object counts after garbage collection (exact), and RSS growth (coarse).
const fs = require('node:fs');
const path = require('node:path');
const { openSocket, sendMsg } = require(process.env.SHIM_ROOT);
// These scripts measure the queue itself: lift the bound on queued sends (maxPendingSends).
const UNBOUNDED = { maxPendingSends: 2 ** 31 - 1, maxPendingBytes: Number.MAX_SAFE_INTEGER };
const { binding } = require(path.join(process.env.SHIM_ROOT, 'dist', 'binding.js'));
const { to, port, rounds, count } = JSON.parse(process.argv[2]);
const fds = () => fs.readdirSync('/proc/self/fd').length;
const rss = () => { global.gc(); global.gc(); return process.memoryUsage().rss; };

(async () => {
  const fdsBefore = fds();
  const samples = [];
  let aborted = 0;
  let sent = 0;
  for (let r = 0; r < rounds; r++) {
    const sock = await openSocket({ type: 'udp4', sendBufferSize: 1, ...UNBOUNDED });
    const all = [];
    for (let i = 0; i < count; i++) {
      all.push(sendMsg(sock, { buffers: [Buffer.alloc(600), Buffer.alloc(400)], to: { address: to, port } })
        .then(() => sent++, (e) => {
          // A full qdisc (the closed sockets' datagrams still drain) is a fair answer too.
          if (e.code === 'WSAENOBUFS') sent++;
          else if (e.code === 'WSA_OPERATION_ABORTED') aborted++;
          else throw e;
        }));
    }
    await sock.close();
    await Promise.all(all);
    if (r === Math.floor(rounds / 3) || r === rounds - 1) samples.push(rss());
  }
  const duringLast = binding.liveCounts();
  // Closed sockets are freed by their finalizers, which run after a collection.
  for (let i = 0; i < 5; i++) {
    global.gc();
    await new Promise((r) => setImmediate(r));
  }
  console.log(JSON.stringify({ fdsBefore, fdsAfter: fds(), rssGrowth: samples[1] - samples[0], aborted, sent,
    live: binding.liveCounts(), duringLast }));
})().catch((e) => { console.error(e); process.exit(1); });
