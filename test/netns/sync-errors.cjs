// WSAEWOULDBLOCK (nonBlocking + full send buffer) and WSAETIMEDOUT (blocking +
// sendTimeout) for sendMsgSync, behind a very slow qdisc.
const { openSocket, sendMsgSync } = require(process.env.SHIM_ROOT);
const { to, port, timeoutTo } = JSON.parse(process.argv[2]);

function fill(sock, address, limit) {
  const payload = Buffer.alloc(1000);
  for (let i = 0; i < limit; i++) {
    const t0 = Date.now();
    try {
      sendMsgSync(sock, { buffers: payload, to: { address, port } });
    } catch (e) {
      return { accepted: i, code: e.code, errno: e.errno, sysCode: e.sysCode, elapsedMs: Date.now() - t0 };
    }
  }
  return { accepted: limit, code: null };
}

(async () => {
  const nb = await openSocket({ type: 'udp4', nonBlocking: true, sendBufferSize: 1 });
  const wouldBlock = fill(nb, to, 50);
  const bl = await openSocket({ type: 'udp4', sendTimeout: 300, sendBufferSize: 1 });
  const timedOut = fill(bl, timeoutTo, 50);
  await nb.close();
  await bl.close();
  console.log(JSON.stringify({ wouldBlock, timedOut }));
})().catch((e) => { console.error(e); process.exit(1); });
