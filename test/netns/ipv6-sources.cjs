// Inside a namespace whose lo has extra IPv6 addresses: one socket sends to ::1 from each
// source in turn; a node:dgram receiver reports where each datagram came from.
const dgram = require('node:dgram');
const { openSocket, sendMsg } = require(process.env.SHIM_ROOT);
const { sources } = JSON.parse(process.argv[2]);

(async () => {
  const rx = dgram.createSocket('udp6');
  await new Promise((r) => rx.bind(0, '::', r));
  const got = [];
  rx.on('message', (m, rinfo) => got.push([m.toString(), rinfo.address]));
  const s = await openSocket({ type: 'udp6', bind: { address: '::' } });
  for (const src of sources) {
    await sendMsg(s, { buffers: [Buffer.from('from '), Buffer.from(src)], to: { address: '::1', port: rx.address().port }, control: { sourceAddress: src } });
  }
  const deadline = Date.now() + 2000;
  while (got.length < sources.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  console.log(JSON.stringify(got));
  rx.close();
  await s.close();
})().catch((e) => { console.error(e); process.exit(1); });
