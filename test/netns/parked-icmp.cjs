// Runs inside a test namespace (test/icmp-wait.test.ts): an icmpErrors socket (on the
// lane's implementation) is left with an error-queue entry whose pending error sendmmsg dropped (a
// batch to a closed loopback port, then to a healthy one), then parks sends behind a slow
// qdisc to the sink. Reports how each send ended and the CPU the process spent meanwhile.
const dgram = require('node:dgram');
const { openSocket, sendMsg, sendMsgBatch } = require(process.env.SHIM_ROOT);
const { sink, count, size } = JSON.parse(process.argv[2]);
const errors = [];
process.on('uncaughtException', (e) => errors.push(String(e && e.stack || e)));
process.on('unhandledRejection', (e) => errors.push(String(e && e.stack || e)));

const bound = (port = 0) => new Promise((resolve) => {
  const s = dgram.createSocket('udp4');
  s.bind(port, '127.0.0.1', () => resolve(s));
});

(async () => {
  const healthy = await bound();
  const closed = await bound();
  const gone = closed.address().port;
  await new Promise((resolve) => closed.close(resolve));
  const s = await openSocket({ type: 'udp4', icmpErrors: true, sendBufferSize: 1, maxPendingSends: 100_000 });
  const batch = await sendMsgBatch(s, [{ buffers: Buffer.from('gone'), to: { address: '127.0.0.1', port: gone } },
    { buffers: Buffer.from('healthy'), to: { address: '127.0.0.1', port: healthy.address().port } }]);
  if (batch.sent !== 2) throw new Error(`batch: ${JSON.stringify(batch)}`);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const all = [];
  for (let i = 0; i < count; i++) {
    all.push(sendMsg(s, { buffers: Buffer.alloc(size, i), to: { address: sink, port: 9 } })
      .then((n) => n, (e) => ({ code: e.code, ...(e.icmp ? { icmp: e.icmp } : {}) })));
  }
  const parked = s.pendingSends;
  let timer;
  const results = await Promise.race([Promise.all(all), new Promise((resolve) => (timer = setTimeout(() => resolve(null), 20_000)))]);
  clearTimeout(timer);
  const c = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  if (!results) errors.push(`sends still waiting after 20 s: ${s.pendingSends}`);
  await s.close();
  healthy.close();
  console.log(JSON.stringify({ parked, results: results || [], cpu: (c.user + c.system) / 1000, wall, gone, errors }));
})().catch((e) => { console.error(e); process.exit(1); });
