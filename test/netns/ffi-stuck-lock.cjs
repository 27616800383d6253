// Run by test/ffi-worker-fds.test.ts: the ffi-rs table lock (src/ffi/libc.ts) as a worker
// terminated while holding it would leave it: held, by nobody. The backend must still start
// (after the holder's patience runs out) and send. Prints JSON.
const { setEnvironmentData } = require('node:worker_threads');
const held = new SharedArrayBuffer(8);
new Int32Array(held)[0] = 1;  // held; the table not yet warm
setEnvironmentData('sendmsg-shim:ffi-rs-table', held);
const shim = require(process.env.SHIM_ROOT);
(async () => {
  const t0 = Date.now();
  const s = await shim.openSocket({ type: 'udp4', bind: { address: '127.0.0.1' }, implementation: 'ffi' });
  const waited = Date.now() - t0;
  const got = shim.recvMsg(s);
  shim.sendMsgSync(s, { buffers: Buffer.from('after a stuck lock'), to: { address: '127.0.0.1', port: s.address().port } });
  const text = (await got).buffer.toString();
  await s.close();
  console.log(JSON.stringify({ waited, text, state: [...new Int32Array(held)] }));
})();
