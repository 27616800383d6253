// Runs inside a test namespace behind an 8 kbit/s qdisc, so that sends really park. Cases a
// hostile (or merely careless) caller makes, each reported as JSON:
//   callback-throw: one completion callback throws; the others must still be delivered.
//   drained-retry:  the documented retry loop (WSAEWOULDBLOCK -> await drained()) must wait, not spin.
//   throwing-listener: a signal whose addEventListener throws: a synchronous error, nothing queued.
//   abort-in-getter: a getter read after `signal` aborts it: the send must not go out.
//   forged-icmp: ICMP errors of every kind forged at an icmpErrors socket (raw socket, root):
//                a waiting receive completes, nothing spins, icmpErrors: false stays quiet.
const { openSocket, sendMsg, sendMsgSync, recvMsg, WSA, WsaError } = require(process.env.SHIM_ROOT);
const { mode, to, port } = JSON.parse(process.argv[2]);
const dest = { address: to, port };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function parkOne(sock) {
  const bg = [];
  // pendingSends counts this turn's sendMsg calls too, until they go to the OS at the end
  // of the turn: look once they went.
  do {
    for (let i = 0; i < 20; i++) bg.push(sendMsg(sock, { buffers: Buffer.alloc(200), to: dest }).catch((e) => e.code));
    await null;
  } while (sock.pendingSends === 0);
  return bg;
}

async function callbackThrow() {
  const uncaught = [];
  process.on('uncaughtException', (e) => uncaught.push(e.message));
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  await parkOne(sock);
  const got = [];
  for (let i = 0; i < 6; i++) sendMsg(sock, { buffers: Buffer.alloc(1), to: dest }, () => { got.push(i); if (i === 0) throw new Error('bug in callback 0'); });
  const deadline = Date.now() + 5000;
  while (got.length < 6 && Date.now() < deadline) await sleep(50);
  const closed = await Promise.race([sock.close().then(() => true), sleep(2000).then(() => false)]);
  return { got, uncaught, closed };
}

async function drainedRetry() {
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1, maxPendingBytes: 3000 });
  await parkOne(sock);
  // About 2200 bytes queued: a 1500-byte send does not fit under maxPendingBytes.
  for (let i = 0; i < 2; i++) sendMsg(sock, { buffers: Buffer.alloc(1000), to: dest }).catch(() => {});
  let refusals = 0;
  let timerRan = false;
  setTimeout(() => { timerRan = true; }, 100);
  for (;;) {
    try {
      await sendMsg(sock, { buffers: Buffer.alloc(1500), to: dest });
      break;
    } catch (err) {
      if (!(err instanceof WsaError && err.errno === WSA.EWOULDBLOCK) || ++refusals > 1000) throw err;
      await sock.drained();
    }
  }
  await sock.close();
  return { refusals, timerRan };
}

async function throwingListener() {
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  await parkOne(sock);
  const before = sock.pendingSends;
  const signal = { aborted: false, addEventListener() { throw new Error('hostile addEventListener'); }, removeEventListener() {} };
  let thrown = null;
  try { sendMsg(sock, { buffers: Buffer.alloc(10), to: dest, signal }); } catch (e) { thrown = e.message; }
  const after = sock.pendingSends;
  const closed = await Promise.race([sock.close().then(() => true), sleep(2000).then(() => false)]);
  return { thrown, before, after, closed };
}

async function abortInGetter() {
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  await parkOne(sock);
  const ac = new AbortController();
  const msg = { buffers: Buffer.alloc(10), to: dest, signal: ac.signal, get segmentSize() { ac.abort(); return undefined; } };
  const result = await sendMsg(sock, msg).then((n) => n, (e) => e.code);
  await sock.close();
  return { result };
}

async function throwingRemove() {
  const uncaught = [];
  process.on('uncaughtException', (e) => uncaught.push(e.message));
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1 });
  const signal = () => ({ aborted: false, addEventListener() {}, removeEventListener() { throw new Error('hostile removeEventListener'); } });
  // One that completes at once, then one that parks behind others: both must settle.
  const immediate = await sendMsg(sock, { buffers: Buffer.alloc(10), to: dest, signal: signal() }).then((n) => n, (e) => e.code);
  await parkOne(sock);
  const queued = await Promise.race([sendMsg(sock, { buffers: Buffer.alloc(10), to: dest, signal: signal() }).then((n) => n, (e) => e.code),
    sleep(10_000).then(() => 'never settled')]);
  const drained = await Promise.race([sock.drained().then(() => true), sleep(2000).then(() => false)]);
  const closed = await Promise.race([sock.close().then(() => true), sleep(2000).then(() => false)]);
  await sleep(10);
  return { immediate, queued, drained, closed, uncaught };
}

(async () => {
  const run = { 'throwing-remove': throwingRemove, 'callback-throw': callbackThrow, 'drained-retry': drainedRetry, 'throwing-listener': throwingListener, 'abort-in-getter': abortInGetter }[mode];
  console.log(JSON.stringify(await run()));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
