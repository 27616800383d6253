// Sends `total` bytes in `seg`-byte segments twice and reports the offload capability
// before, between and after (the link's device may refuse UDP GSO).
const { openSocket, sendMsg } = require(process.env.SHIM_ROOT);
const { to, port, total, seg } = JSON.parse(process.argv[2]);

(async () => {
  const s = await openSocket({ type: 'udp4' });
  const before = s.capabilities().segmentationOffload;
  const payload = Buffer.alloc(total);
  for (let i = 0; i < total; i += 4) payload.writeUInt32BE(Math.floor(i / seg), i);
  const first = await sendMsg(s, { buffers: payload, to: { address: to, port }, segmentSize: seg });
  const between = s.capabilities().segmentationOffload;
  const second = await sendMsg(s, { buffers: payload, to: { address: to, port }, segmentSize: seg });
  await s.close();
  console.log(JSON.stringify({ before, between, first, second }));
})().catch((e) => { console.error(e); process.exit(1); });
