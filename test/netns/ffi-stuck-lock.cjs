// Run by test/ffi-worker-fds.test.ts: the ffi-rs table lock (src/ffi/libc.ts) as a worker
// terminated while holding it would leave it: held, by nobody. The backend must still start
// (after the holder's patience runs out) and send. Prints JSON.
const { setEnvironmentData } = require('node:worker_threads');
const held = new SharedArrayBuffer(12);  // src/ffi/libc.ts's table: [holder's ticket, warm, last ticket]
const cells = new Int32Array(held);
cells[0] = 7;  // held, by ticket 7; the table not yet warm
cells[2] = 7;
setEnvironmentData('sendmsg-shim:ffi-rs-table', held);
// The backend starts at require (SENDMSG_SHIM_IMPLEMENTATION=ffi) or at the first ffi socket.
const t0 = Date.now();
const shim = require(process.env.SHIM_ROOT);
(async () => {
  const s = await shim.openSocket({ type: 'udp4', bind: { address: '127.0.0.1' }, implementation: 'ffi' });
  const waited = Date.now() - t0;
  const got = shim.recvMsg(s);
  shim.sendMsgSync(s, { buffers: Buffer.from('after a stuck lock'), to: { address: '127.0.0.1', port: s.address().port } });
  const text = (await got).buffer.toString();
  await s.close();
  console.log(JSON.stringify({ waited, text, state: [cells[0], cells[1]] }));
})();
