// Worker threads each open a socket, park sends behind a slow qdisc and exit without
// closing. The process must survive, and every native object must be freed.
const path = require('node:path');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const shim = require(process.env.SHIM_ROOT);

if (isMainThread) {
  const { to, workers } = JSON.parse(process.argv[2]);
  const { binding } = require(path.join(process.env.SHIM_ROOT, 'dist', 'binding.js'));
  const pending = [];
  let exited = 0;
  for (let w = 0; w < workers; w++) {
    const worker = new Worker(__filename, { workerData: { to } });
    worker.on('message', (m) => pending.push(m.pending));
    worker.on('exit', () => {
      if (++exited < workers) return;
      setTimeout(() => console.log(JSON.stringify({ pending, live: binding.liveCounts() })), 100);
    });
  }
} else {
  (async () => {
    const s = await shim.openSocket({ type: 'udp4', sendBufferSize: 1 });
    for (let i = 0; i < 200; i++) shim.sendMsg(s, { buffers: Buffer.alloc(1000), to: { address: workerData.to, port: 9 } }).catch(() => {});
    parentPort.postMessage({ pending: s.pendingSends });
    setTimeout(() => process.exit(0), 30);  // leave with the sends still parked
  })();
}
