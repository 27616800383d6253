// Runs inside a test namespace that has a veth to a peer: a loopback source address for a
// destination beyond the host must be refused before anything is sent, on both families,
// by every send call. One plain datagram per family proves the path itself works.
const { openSocket, sendMsg, sendMsgSync, sendMsgBatchSync } = require(process.env.SHIM_ROOT);
const { v4, v6, port } = JSON.parse(process.argv[2]);

(async () => {
  const out = [];
  for (const [type, to, source] of [['udp6', v6, '::1'], ['udp4', v4, '127.0.0.1'], ['udp6', v4, '127.0.0.1'], ['udp6', v4, '::ffff:127.0.0.1']]) {
    const s = await openSocket({ type });
    const msg = { buffers: Buffer.from(`from ${source}`), to: { address: to, port }, control: { sourceAddress: source } };
    const codes = [];
    for (let i = 0; i < 10; i++) {
      codes.push(await sendMsg(s, msg).then((n) => n, (e) => `${e.code}|${e.sourceAddress}|${e.message}`));
    }
    try { codes.push(sendMsgSync(s, msg)); } catch (e) { codes.push(`${e.code}|${e.sourceAddress}|${e.message}`); }
    const batch = sendMsgBatchSync(s, [{ buffers: Buffer.from('ok first'), to: { address: to, port } }, msg]);
    out.push({ type, to, source, codes, batch: { sent: batch.sent, failedIndex: batch.failedIndex, code: batch.error && batch.error.code } });
    await s.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
