// Runs inside a test namespace with a slow qdisc in front of the destination, so that the
// socket's send buffer really fills and sends take the EAGAIN (queued) path.
//   mode "drain": submit `count` sendMsg at once; all must complete, in order.
//   mode "close": close the socket `closeAfterMs` after submitting; report what completed.
//   mode "abort": abort every 7th send's signal right after submitting.
//   mode "mixed": then one blocking sendMsgSync (seq = count), which must go after the queue.
const fs = require('node:fs');
const { openSocket, sendMsg, sendMsgSync } = require(process.env.SHIM_ROOT);
// These scripts measure the queue itself: lift the bound on queued sends (maxPendingSends).
const UNBOUNDED = { maxPendingSends: 2 ** 31 - 1, maxPendingBytes: Number.MAX_SAFE_INTEGER };
const { to, port, count, size, mode, closeAfterMs = 200, source } = JSON.parse(process.argv[2]);

const fds = () => fs.readdirSync('/proc/self/fd').length;

(async () => {
  const fdsBefore = fds();
  const sock = await openSocket({ type: 'udp4', sendBufferSize: 1, ...UNBOUNDED });
  const completed = [];
  const results = new Array(count);
  const controllers = [];
  const all = [];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(size, i & 0xff);
    payload.writeUInt32BE(i, 0);
    const ac = mode === 'abort' ? new AbortController() : undefined;
    controllers.push(ac);
    all.push(sendMsg(sock, { buffers: payload, to: { address: to, port }, control: source ? { sourceAddress: source } : undefined, signal: ac?.signal })
      .then((n) => { results[i] = n; completed.push(i); }, (e) => { results[i] = e.code; completed.push(i); }));
  }
  const pendingAfterSubmit = sock.pendingSends;
  let pendingAfterSync;
  if (mode === 'mixed') {
    const last = Buffer.alloc(size);
    last.writeUInt32BE(count, 0);
    results.push(sendMsgSync(sock, { buffers: last, to: { address: to, port } }));
    pendingAfterSync = sock.pendingSends;
  }
  if (mode === 'abort') for (let i = 0; i < count; i += 7) controllers[i].abort();
  if (mode === 'close') setTimeout(() => sock.close(), closeAfterMs);
  await Promise.all(all);
  const pendingAtEnd = sock.pendingSends;
  await sock.close();
  const tally = {};
  for (const r of results) tally[typeof r === 'number' ? 'sent' : r] = (tally[typeof r === 'number' ? 'sent' : r] || 0) + 1;
  const sent = results.map((r, i) => (typeof r === 'number' ? i : -1)).filter((i) => i >= 0);
  const aborted = results.map((r, i) => (r === 'WSA_OPERATION_ABORTED' ? i : -1)).filter((i) => i >= 0);
  const inOrder = completed.every((v, i) => i === 0 || v > completed[i - 1]) || mode === 'abort';
  console.log(JSON.stringify({ pendingAfterSubmit, pendingAfterSync, pendingAtEnd, tally, sent, aborted, inOrder, fdsBefore, fdsAfter: fds() }));
})().catch((e) => { console.error(e); process.exit(1); });
