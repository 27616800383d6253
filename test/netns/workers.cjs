// Worker threads each open a socket, park sends behind a slow qdisc and exit without
// closing. The process must survive, and every native object and fd must be freed (fds are
// process-wide; the ffi-rs backend's counts are per thread, so the fds are its witness).
const fs = require('node:fs');
const path = require('node:path');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const shim = require(process.env.SHIM_ROOT);
// These scripts measure the queue itself: lift the bound on queued sends (maxPendingSends).
const UNBOUNDED = { maxPendingSends: 2 ** 31 - 1, maxPendingBytes: Number.MAX_SAFE_INTEGER };

if (isMainThread) {
  const { to, workers } = JSON.parse(process.argv[2]);
  const { binding } = require(path.join(process.env.SHIM_ROOT, 'dist', 'binding.js'));
  const pending = [];
  let exited = 0;
  // UDP sockets only: Node's own worker machinery opens and keeps other fds.
  const udpInodes = () => new Set(['udp', 'udp6'].flatMap((f) => fs.readFileSync(`/proc/self/net/${f}`, 'utf8')
    .trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/)[9])));
  const fds = () => {
    const udp = udpInodes();
    return fs.readdirSync('/proc/self/fd').filter((fd) => {
      try { return udp.has(/^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`))?.[1]); } catch { return false; }
    }).length;
  };
  const fdsBefore = fds();
  for (let w = 0; w < workers; w++) {
    const worker = new Worker(__filename, { workerData: { to } });
    worker.on('message', (m) => pending.push(m.pending));
    worker.on('exit', () => {
      if (++exited < workers) return;
      setTimeout(() => console.log(JSON.stringify({ pending, live: binding.liveCounts(), fdsBefore, fdsAfter: fds() })), 100);
    });
  }
} else {
  (async () => {
    const s = await shim.openSocket({ type: 'udp4', sendBufferSize: 1, ...UNBOUNDED });
    for (let i = 0; i < 200; i++) shim.sendMsg(s, { buffers: Buffer.alloc(1000), to: { address: workerData.to, port: 9 } }).catch(() => {});
    parentPort.postMessage({ pending: s.pendingSends });
    setTimeout(() => process.exit(0), 30);  // leave with the sends still parked
  })();
}
