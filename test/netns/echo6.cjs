// Inside a namespace whose lo has extra IPv6 addresses: a wildcard-bound echo server (the
// same logic as examples/echo-server.ts, through the public API) answers clients that
// asked each address; prints [asked, answered from] pairs.
const dgram = require('node:dgram');
const { openSocket, messages, sendMsg } = require(process.env.SHIM_ROOT);
const { targets } = JSON.parse(process.argv[2]);

(async () => {
  const srv = await openSocket({ type: 'udp6', bind: { address: '::' }, recvPktinfo: true, icmpErrors: false });
  (async () => {
    for await (const m of messages(srv)) {
      await sendMsg(srv, { buffers: m.buffer, to: m.from, control: { sourceAddress: m.control.destinationAddress } });
    }
  })();
  const c = dgram.createSocket('udp6');
  await new Promise((r) => c.bind(0, '::', r));
  const got = [];
  c.on('message', (m, ri) => got.push([m.toString(), ri.address]));
  for (const t of targets) c.send(t, srv.address().port, t);
  const deadline = Date.now() + 2000;
  while (got.length < targets.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  console.log(JSON.stringify(got));
  c.close();
  await srv.close();
})().catch((e) => { console.error(e); process.exit(1); });
