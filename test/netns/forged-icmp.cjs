// Runs as root inside a test namespace (loopback only): ICMP errors forged with the shim's
// own raw4 socket, about datagrams this socket supposedly sent, of every code an attacker
// can pick. Whatever arrives, a waiting receive must complete, nothing may spin, a later
// send must work, and icmpErrors: false must stay quiet on a connected socket.
const { openSocket, recvMsg, sendMsg, sendMsgBatch, sendMsgSync } = require(process.env.SHIM_ROOT);
const { icmpError } = require('./icmp-forge.cjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An ICMPv4 error about a UDP datagram src:srcPort -> dst:dstPort, sent to 127.0.0.1. */
async function forge(type, code, src, srcPort, dst, dstPort) {
  const raw = await openSocket({ type: 'raw4', protocol: 1 });
  sendMsgSync(raw, { buffers: icmpError(type, code, src, srcPort, dst, dstPort), to: { address: '127.0.0.1' } });
  await raw.close();
}

(async () => {
  const waiting = [];
  for (const [type, code] of [[3, 0], [3, 1], [3, 2], [3, 3], [3, 4], [3, 5], [3, 6], [3, 9], [3, 10], [3, 13], [11, 0], [12, 0]]) {
    const sock = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1' }, icmpErrors: true });
    const { port } = sock.address();
    const ac = new AbortController();
    const first = recvMsg(sock, { signal: ac.signal }).then((m) => `data ${m.bytes}`, (e) => e.code);
    await forge(type, code, '127.0.0.1', port, '127.0.0.2', 5555);
    const r1 = await Promise.race([first, sleep(500).then(() => 'still waiting')]);
    // Then a receive waits with nothing to get: it must sleep, whatever the error queue holds.
    const c0 = process.cpuUsage();
    const t0 = Date.now();
    const second = recvMsg(sock, { signal: ac.signal }).then(() => 'data', (e) => e.code);
    await sleep(400);
    const c = process.cpuUsage(c0);
    ac.abort();
    await second;
    const later = await sendMsg(sock, { buffers: Buffer.alloc(4), to: { address: '127.0.0.1', port: 9 } }).then(() => 'sent', (e) => e.code);
    waiting.push({ icmp: `${type}/${code}`, first: r1, cpuShare: (c.user + c.system) / 1000 / (Date.now() - t0), later });
    await sock.close();
  }
  const quiet = [];
  for (const code of [2, 3, 6, 10, 13]) {
    const sock = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1' }, icmpErrors: false });
    sock.connect('127.0.0.2', 7777);
    await forge(3, code, '127.0.0.1', sock.address().port, '127.0.0.2', 7777);
    await sleep(20);
    quiet.push({ icmp: `3/${code}`, next: await sendMsg(sock, { buffers: Buffer.alloc(10) }).then(() => 'sent', (e) => e.code) });
    await sock.close();
  }
  // A forged hard error on a connected socket must not pass for the kernel refusing to
  // segment: offload stays on.
  const gso = [];
  for (const code of [2, 4, 5]) {
    const sock = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1' } });
    sock.connect('127.0.0.2', 7777);
    const before = sock.capabilities().segmentationOffload;
    await forge(3, code, '127.0.0.1', sock.address().port, '127.0.0.2', 7777);
    await sleep(20);
    const sent = await sendMsg(sock, { buffers: Buffer.alloc(4000), segmentSize: 1000 }).then((n) => n, (e) => e.code);
    gso.push({ icmp: `3/${code}`, before, sent, after: sock.capabilities().segmentationOffload });
    await sock.close();
  }
  // The same on an unconnected icmpErrors socket, where the kernel queues every ICMP error:
  // two forged in an order the error queue's head cannot vouch for (port unreachable, then
  // protocol unreachable: ENOPROTOOPT pending, ECONNREFUSED first in the queue). Each send
  // path: single sync, single overlapped, batch.
  const unconnected = [];
  for (const path of ['sync', 'async', 'batch']) {
    const sock = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1' }, icmpErrors: true });
    const before = sock.capabilities().segmentationOffload;
    const port = sock.address().port;
    await forge(3, 3, '127.0.0.1', port, '127.0.0.2', 7777);
    await forge(3, 2, '127.0.0.1', port, '127.0.0.2', 7777);
    await sleep(20);
    const msg = { buffers: Buffer.alloc(4000), segmentSize: 1000, to: { address: '127.0.0.2', port: 7777 } };
    const send = () => path === 'sync' ? Promise.resolve().then(() => sendMsgSync(sock, msg))
      : path === 'async' ? sendMsg(sock, msg) : sendMsgBatch(sock, [msg]).then((r) => r.sent);
    const first = await send().then((n) => n, (e) => e.code);
    const second = await send().then((n) => n, (e) => e.code);
    unconnected.push({ path, before, first, second, after: sock.capabilities().segmentationOffload });
    await sock.close();
  }
  // What a forged error is called must not depend on icmpErrors, and never be
  // WSASYSCALLFAILURE (a failure of the shim or the OS): protocol unreachable and parameter
  // problem left ENOPROTOOPT / EPROTO pending on a connected socket, which had no row.
  const named = [];
  for (const icmpErrors of [undefined, true]) {
    for (const [type, code] of [[3, 2], [12, 0], [12, 1], [3, 3], [3, 13]]) {
      const sock = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1' }, ...(icmpErrors === undefined ? {} : { icmpErrors }) });
      sock.connect('127.0.0.2', 7777);
      await forge(type, code, '127.0.0.1', sock.address().port, '127.0.0.2', 7777);
      await sleep(20);
      const next = await sendMsg(sock, { buffers: Buffer.alloc(10) }).then(() => 'sent', (e) => e.code);
      named.push({ icmpErrors: icmpErrors ?? 'default', icmp: `${type}/${code}`, next });
      await sock.close();
    }
  }
  console.log(JSON.stringify({ waiting, quiet, gso, unconnected, named }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
