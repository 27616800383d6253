// Worker threads, each with its own socket (the addon is loaded per environment), send
// `count` datagrams concurrently through a slow link; sequence numbers are worker*1000+i.
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const shim = require(process.env.SHIM_ROOT);
// These scripts measure the queue itself: lift the bound on queued sends (maxPendingSends).
const UNBOUNDED = { maxPendingSends: 2 ** 31 - 1, maxPendingBytes: Number.MAX_SAFE_INTEGER };

if (isMainThread) {
  const { to, port, workers, count } = JSON.parse(process.argv[2]);
  const sent = new Array(workers);
  let done = 0;
  for (let w = 0; w < workers; w++) {
    const worker = new Worker(__filename, { workerData: { to, port, count, w } });
    worker.on('message', (n) => { sent[w] = n; });
    worker.on('error', (e) => { console.error(e); process.exit(1); });
    worker.on('exit', () => { if (++done === workers) console.log(JSON.stringify({ sent })); });
  }
} else {
  (async () => {
    const { to, port, count, w } = workerData;
    const s = await shim.openSocket({ type: 'udp4', sendBufferSize: 1, ...UNBOUNDED });
    const all = [];
    for (let i = 0; i < count; i++) {
      const b = Buffer.alloc(1000);
      b.writeUInt32BE(w * 1000 + i, 0);
      all.push(shim.sendMsg(s, { buffers: b, to: { address: to, port }, control: { sourceAddress: '10.77.1.1' } }));
    }
    const results = await Promise.all(all);
    await s.close();
    parentPort.postMessage(results.filter((n) => n === 1000).length);
  })();
}
