// The receive table of npm run bench (bench/run.mjs runs it after the send table).
//
// A C process (bench/cflood.c) floods 127.0.0.1 with sendmmsg x32 from 16 sockets for a fixed
// time; each receiver counts the datagrams it gets, and its rate is that count over the
// flood's duration. Loopback delivers in the sender's system call, so the flood is also the
// ceiling: a receiver that keeps up receives at the sender's rate, one that falls behind
// lets the socket's buffer fill and the kernel drops the rest, which the table shows as
// drops (sent minus received). Every receiver stops 200 ms after the flood with nothing more
// to read. Receive buffers: 2 KB per datagram everywhere (C slots, the shim's bufferSize).
import dgram from 'node:dgram';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { openSocket, recvMsg, recvMsgBatch } from '../dist/index.mjs';

const FLOOD_MS = Number(process.env.BENCH_FLOOD_MS ?? 1000);
const SIZES = [64, 1200];
const IDLE_MS = 200;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function flood(cflood, port, size, gso) {
  return new Promise((resolve, reject) => {
    execFile(cflood, ['flood', String(port), String(size), String(FLOOD_MS), ...(gso ? ['gso'] : [])], (err, out) => {
      if (err) return reject(err);
      const [sent, ms] = out.trim().split(' ').map(Number);
      resolve({ sent, ms });
    });
  });
}

/** Resolves once `count()` has not moved for IDLE_MS. */
async function quiet(count) {
  let last = -1;
  while (count() !== last) {
    last = count();
    await sleep(IDLE_MS);
  }
  return last;
}

async function freePort() {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

// A receiver: start() binds and resolves with { port, done }, where done() stops it (once
// the flood is over and it is quiet) and resolves with the datagrams it received.
function shimLoop(implementation, body, socketOptions = {}) {
  return async () => {
    const s = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1' }, implementation, ...socketOptions });
    let n = 0;
    const loop = body(s, (k) => { n += k; }).catch(() => {});
    return {
      port: s.address().port,
      done: async () => { const got = await quiet(() => n); await s.close(); await loop; return got; },
    };
  };
}
const batchLoop = async (s, add) => { for (;;) add((await recvMsgBatch(s, { maxMessages: 64, bufferSize: 2048 })).length); };

// The workers of the reusePort rows: each a recvMsgBatch loop on its own socket on one port.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSocket, recvMsgBatch } = require(workerData.shim);
(async () => {
  const s = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1', port: workerData.port }, reusePort: true });
  let n = 0;
  parentPort.on('message', async () => { await s.close(); parentPort.postMessage(n); parentPort.close(); });
  parentPort.postMessage(s.address().port);
  try { for (;;) n += (await recvMsgBatch(s, { maxMessages: 64, bufferSize: 2048 })).length; } catch {}
})();
`;
function workers(count, shim) {
  return async () => {
    const port = await freePort();
    const ws = [];
    for (let i = 0; i < count; i++) {
      const w = new Worker(WORKER, { eval: true, workerData: { shim, port } });
      await new Promise((resolve) => w.once('message', resolve));
      ws.push(w);
    }
    return {
      port,
      done: async () => {
        await sleep(IDLE_MS);
        const counts = await Promise.all(ws.map((w) => new Promise((resolve) => { w.once('message', resolve); w.postMessage('stop'); })));
        return counts.reduce((a, b) => a + b, 0);
      },
    };
  };
}

export async function receiveBench({ root, runs }) {
  const cflood = join(root, 'build', 'bench', 'cflood');
  execFileSync('cc', ['-O2', '-o', cflood, join(root, 'bench', 'cflood.c')]);
  const shim = join(root, 'dist', 'index.js');
  const cRecv = async () => {
    const port = await freePort();
    const child = spawn(cflood, ['recv', String(port)]);
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    while (!out.includes('ready')) await sleep(5);
    return {
      port,
      done: () => new Promise((resolve) => child.on('exit', () => resolve(Number(out.split('\n')[1])))),
    };
  };
  const dgramRecv = async () => {
    const s = dgram.createSocket('udp4');
    await new Promise((r) => s.bind(0, '127.0.0.1', r));
    let n = 0;
    s.on('message', () => { n++; });
    return { port: s.address().port, done: async () => { const got = await quiet(() => n); s.close(); return got; } };
  };
  const common = {
    'C recvmmsg x32': cRecv,
    'node:dgram message': dgramRecv,
    'shim recvMsg': shimLoop('addon', async (s, add) => { for (;;) { await recvMsg(s, { bufferSize: 2048 }); add(1); } }),
    'shim messages()': shimLoop('addon', async (s, add) => { for await (const m of s.messages({ bufferSize: 2048 })) add(m ? 1 : 0); }),
    'shim recvMsgBatch x64': shimLoop('addon', batchLoop),
    'ffi recvMsgBatch x64': shimLoop('ffi', batchLoop),
  };
  // Two floods. sendmmsg (the issue's): the sender is the limit on this machine, since
  // loopback delivers in its system call, and every receiver that keeps up shows its rate.
  // GSO (64 KB UDP_SEGMENT sends, cut into datagrams on the way in unless the receiver asked
  // for offload): several times faster, so the receivers set the pace and differ.
  const receivers = {
    ...common,
    ...Object.fromEntries(Object.entries(common).map(([name, start]) => [`${name} (GSO flood)`, start])),
    'shim receiveOffload (GSO flood)': shimLoop('addon', batchLoop, { receiveOffload: true }),
    // Threads pay off only where receivers are the limit: the GSO flood, from 16 source
    // ports, which SO_REUSEPORT spreads over the workers' sockets.
    'reusePort, 1 worker (GSO flood)': workers(1, shim),
    'reusePort, 2 workers (GSO flood)': workers(2, shim),
  };
  const rounds = {};
  for (const size of SIZES) {
    rounds[size] = {};
    for (let r = 0; r < runs; r++) {
      for (const [name, start] of Object.entries(receivers)) {
        const gso = name.endsWith('(GSO flood)');
        const rx = await start();
        const { sent, ms } = await flood(cflood, rx.port, size, gso);
        const received = await rx.done();
        (rounds[size][name] ??= []).push({ rate: received / (ms / 1000), sent, received });
      }
    }
  }
  const results = Object.fromEntries(SIZES.map((size) => [size, Object.fromEntries(Object.entries(rounds[size]).map(([name, rs]) => {
    const rate = median(rs.map((x) => x.rate));
    const drops = median(rs.map((x) => (x.sent - x.received) / x.sent));
    return [name, { rate: Math.round(rate), drops: +drops.toFixed(3) }];
  }))]));
  // [receiver, reference, target]: issue 16's targets, judged where receivers set the pace.
  const ratioDefs = {
    'recvMsgBatch / C recvmmsg (GSO flood)': ['shim recvMsgBatch x64 (GSO flood)', 'C recvmmsg x32 (GSO flood)', 0.8],
    'recvMsgBatch / node:dgram (GSO flood)': ['shim recvMsgBatch x64 (GSO flood)', 'node:dgram message (GSO flood)', 2],
    'messages() / node:dgram (GSO flood)': ['shim messages() (GSO flood)', 'node:dgram message (GSO flood)', 1.5],
    'reusePort 2 workers / 1 worker (GSO flood)': ['reusePort, 2 workers (GSO flood)', 'reusePort, 1 worker (GSO flood)', 1.6],
    'ffi-rs recvMsgBatch / addon (GSO flood)': ['ffi recvMsgBatch x64 (GSO flood)', 'shim recvMsgBatch x64 (GSO flood)'],
    'receiveOffload / recvMsgBatch (GSO flood)': ['shim receiveOffload (GSO flood)', 'shim recvMsgBatch x64 (GSO flood)'],
    'recvMsgBatch / C recvmmsg (sendmmsg flood)': ['shim recvMsgBatch x64', 'C recvmmsg x32'],
    'recvMsgBatch / node:dgram (sendmmsg flood)': ['shim recvMsgBatch x64', 'node:dgram message'],
    'messages() / node:dgram (sendmmsg flood)': ['shim messages()', 'node:dgram message'],
  };
  const ratios = {};
  for (const [label, [a, b]] of Object.entries(ratioDefs)) {
    ratios[label] = SIZES.map((s) => +median(rounds[s][a].map((x, r) => x.rate / rounds[s][b][r].rate)).toFixed(2));
  }
  const targets = Object.fromEntries(Object.entries(ratioDefs).filter(([, d]) => d[2]).map(([label, d]) => [label, d[2]]));

  const fmt = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${Math.round(n / 1000)}k`);
  console.log(`\nreceive: datagrams/s received from a C flood of ${FLOOD_MS} ms (drops: share of the flood never received), median of ${runs} runs`);
  console.log(['receiver'.padEnd(38), ...SIZES.map((s) => `${s} B`.padStart(18))].join(''));
  for (const name of Object.keys(rounds[SIZES[0]])) {
    console.log([name.padEnd(38), ...SIZES.map((s) => `${fmt(results[s][name].rate)} (${(results[s][name].drops * 100).toFixed(0)}% lost)`.padStart(18))].join(''));
  }
  console.log(['ratio'.padEnd(46), 'target', ...SIZES.map((s) => `${s} B`.padStart(16))].join(''));
  for (const [label, [, b, target]] of Object.entries(ratioDefs)) {
    const cells = ratios[label].map((r, i) => `${r.toFixed(2)}${target && r >= target ? '*' : ' '} (${fmt(results[SIZES[i]][b].rate)})`.padStart(16));
    console.log([label.padEnd(46), (target ? `>=${target}` : '').padStart(6), ...cells].join(''));
  }
  return { floodMs: FLOOD_MS, sizes: SIZES, results, rounds, ratios, targets };
}
