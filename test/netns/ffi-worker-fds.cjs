// Run by test/ffi-worker-fds.test.ts (no namespace needed): worker threads open sockets on
// the ffi-rs backend (or the addon: {"implementation": "addon"}) and are terminated, end on their own, or call process.exit(); the fds
// they opened (fds are process-wide) must all be gone afterwards. Prints the counts as JSON.
const fs = require('node:fs');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const shim = require(process.env.SHIM_ROOT);

/** fds of this process whose link starts with `kind` ('socket:' or 'anon_inode:[eventfd]'). */
const fds = (kind) => fs.readdirSync('/proc/self/fd').filter((fd) => {
  try { return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(kind); } catch { return false; }
}).length;

if (isMainThread) {
  const { terminated, ended, exited, implementation = 'ffi' } = JSON.parse(process.argv[2]);
  const before = { sockets: fds('socket:'), eventfds: fds('anon_inode:[eventfd]') };
  const plan = [...Array(terminated).fill('terminate'), ...Array(ended).fill('end'), ...Array(exited).fill('exit')];
  let left = plan.length;
  const codes = [];
  plan.forEach((how, i) => {
    // The first terminated worker has a receive waiting in poll(2) when it is killed, the
    // second a batch receive (recvmmsg's slots are in its arena).
    const w = new Worker(__filename, { workerData: { how, implementation, waitingReceive: i === 0 ? 'single' : i === 1 ? 'batch' : false } });
    w.on('message', () => w.terminate());
    w.on('error', (e) => codes.push(String(e)));
    w.on('exit', async (code) => {
      codes.push(code);
      if (--left) return;
      await new Promise((r) => setTimeout(r, 200));
      const after = { sockets: fds('socket:'), eventfds: fds('anon_inode:[eventfd]') };
      // And the backend still works in this process.
      const s = await shim.openSocket({ type: 'udp4', bind: { address: '127.0.0.1' }, implementation });
      const got = shim.recvMsg(s);
      shim.sendMsgSync(s, { buffers: Buffer.from('still here'), to: { address: '127.0.0.1', port: s.address().port } });
      let text = (await got).buffer.toString();
      const batch = shim.recvMsgBatch(s);
      shim.sendMsgSync(s, { buffers: Buffer.from(' and batching'), to: { address: '127.0.0.1', port: s.address().port } });
      text += (await batch).map((m) => m.buffer.toString()).join('');
      await s.close();
      console.log(JSON.stringify({ before, after, codes: codes.sort(), text }));
    });
  });
} else {
  (async () => {
    const { how, waitingReceive, implementation } = workerData;
    const s = await shim.openSocket({ type: 'udp4', bind: { address: '127.0.0.1' }, implementation });
    if (waitingReceive === 'batch') shim.recvMsgBatch(s).catch(() => {});
    else if (waitingReceive) shim.recvMsg(s).catch(() => {});
    if (how === 'terminate') {
      setInterval(() => {}, 1000);  // busy with something else when terminated
      parentPort.postMessage('ready');
    } else if (how === 'exit') {
      setTimeout(() => process.exit(0), 10);
    }
    // 'end': nothing keeps the worker alive; it ends with its socket open.
  })();
}
