// Runs as root inside a test namespace (loopback only): a worker thread forges ICMP errors
// (protocol unreachable and source route failed, in turn: ENOPROTOOPT and EOPNOTSUPP, two
// of the errnos the kernel also refuses UDP_SEGMENT with) at ~2,000 a second for a bounded
// time, about datagrams from the victim's port to a sink, while the victim keeps sending
// segmented messages. Whatever the error queue and the pending error do between two calls,
// the victim's offload must stay on, and a send after the flood must go whole.
//   args: { path: 'sync' | 'async' | 'batch', connected: boolean, icmpErrors: boolean, ms }
const { Worker } = require('node:worker_threads');
const { openSocket, sendMsg, sendMsgBatch, sendMsgSync } = require(process.env.SHIM_ROOT);
const { path, connected, icmpErrors, ms } = JSON.parse(process.argv[2]);
const sleep = (t) => new Promise((r) => setTimeout(r, t));

const FORGER = `
const { workerData, parentPort } = require('node:worker_threads');
const { openSocket, sendMsgSync } = require(workerData.root);
const { icmpError } = require(workerData.forge);
(async () => {
  const raw = await openSocket({ type: 'raw4', protocol: 1 });
  const pkts = [2, 5].map((code) => icmpError(3, code, '127.0.0.1', workerData.port, '127.0.0.2', 7777));
  const t0 = Date.now();
  let n = 0;
  while (Date.now() - t0 < workerData.ms) {
    // ~2,000 a second: 4 every 2 ms.
    for (let k = 0; k < 4; k++) sendMsgSync(raw, { buffers: pkts[n++ % 2], to: { address: '127.0.0.1' } });
    await new Promise((r) => setTimeout(r, 2));
  }
  await raw.close();
  parentPort.postMessage(n);
})();
`;

(async () => {
  const sink = await openSocket({ type: 'udp4', bind: { address: '127.0.0.2', port: 7777 } });
  const sock = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1' }, icmpErrors });
  if (connected) sock.connect('127.0.0.2', 7777);
  const before = sock.capabilities().segmentationOffload;
  const msg = { buffers: Buffer.alloc(4000), segmentSize: 1000, ...(connected ? {} : { to: { address: '127.0.0.2', port: 7777 } }) };
  const send = () => path === 'sync' ? Promise.resolve().then(() => sendMsgSync(sock, msg))
    : path === 'async' ? sendMsg(sock, msg) : sendMsgBatch(sock, [msg, msg]).then((r) => (r.error ? r.error.code : r.sent));
  const forger = new Worker(FORGER, { eval: true, workerData: { root: process.env.SHIM_ROOT, forge: require.resolve('./icmp-forge.cjs'), port: sock.address().port, ms } });
  const forged = new Promise((resolve) => forger.once('message', resolve));
  const tally = {};
  let offWhileFlooded = false;
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const r = await send().then((n) => n, (e) => e.code);
    tally[r] = (tally[r] ?? 0) + 1;
    if (!sock.capabilities().segmentationOffload) offWhileFlooded = true;
    await sleep(1);
  }
  const count = await forged;
  await sleep(50);
  // icmpErrors: true fails one later call per queued ICMP error (the queue holds what the
  // socket's receive buffer can): those drain first, then a send goes.
  let after;
  let drained = 0;
  while (typeof (after = await send().then((n) => n, (e) => e.code)) !== 'number' && drained < 5000) drained++;
  console.log(JSON.stringify({ path, connected, icmpErrors, forged: count, before, offWhileFlooded, tally, drained, after, offloadNow: sock.capabilities().segmentationOffload }));
  await sock.close();
  await sink.close();
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
