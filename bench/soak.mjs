// npm run soak: SOAK_N datagrams (default 10M) through sendMsg and SOAK_N through
// sendMsgBatch, to a receiver in another process that drains and counts. Prints RSS and
// active handles every 10%, then what the receiver saw. Figures for README, not a test.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openSocket, sendMsg, sendMsgBatch } from '../dist/index.mjs';

if (process.argv[2] === 'receiver') {
  const dgram = await import('node:dgram');
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 22 });
  let count = 0;
  sock.on('message', () => { count++; });
  sock.bind(0, '127.0.0.1', () => process.send({ port: sock.address().port }));
  process.on('message', (m) => { if (m === 'count') process.send({ count }); });
} else {
  const N = Number(process.env.SOAK_N ?? 10_000_000);
  const receiver = fork(fileURLToPath(import.meta.url), ['receiver']);
  const port = await new Promise((r) => receiver.once('message', (m) => r(m.port)));
  const ask = () => new Promise((r) => { receiver.once('message', (m) => r(m.count)); receiver.send('count'); });
  const mb = (n) => (n / 1048576).toFixed(1);
  const handles = () => process._getActiveHandles().length;
  const sock = await openSocket({ type: 'udp4' });
  const to = { address: '127.0.0.1', port };
  const payload = [Buffer.alloc(8), Buffer.alloc(56)];
  const rows = [];
  async function phase(name, step) {
    const start = await ask();
    const rss0 = process.memoryUsage().rss;
    const t0 = Date.now();
    let sent = 0;
    let nextReport = N / 10;
    while (sent < N) {
      sent += await step();
      if (sent >= nextReport) {
        console.log(`${name} ${((100 * sent) / N).toFixed(0)}%  rss ${mb(process.memoryUsage().rss)} MB  handles ${handles()}`);
        nextReport += N / 10;
      }
    }
    await new Promise((r) => setTimeout(r, 500));  // let the receiver drain
    const received = (await ask()) - start;
    rows.push({ phase: name, sent, seconds: (Date.now() - t0) / 1000, rssStartMB: +mb(rss0), rssEndMB: +mb(process.memoryUsage().rss), received, lost: sent - received });
  }
  await phase('sendMsg', async () => {
    const window = [];
    for (let i = 0; i < 1024; i++) window.push(sendMsg(sock, { buffers: payload, to, control: { sourceAddress: '127.0.0.1' } }));
    await Promise.all(window);
    return 1024;
  });
  const batch = Array.from({ length: 32 }, () => ({ buffers: payload, to, control: { sourceAddress: '127.0.0.1' } }));
  await phase('sendMsgBatch', async () => (await sendMsgBatch(sock, batch)).sent);
  await sock.close();
  receiver.kill();
  console.table(rows);
  console.log(`active handles at the end: ${handles()}`);
}
