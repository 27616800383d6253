// npm run bench [-- --json FILE]: datagrams per second for C and Node senders, measured
// side by side in ONE run on this machine, for 64, 1200 and 1472-byte payloads; then the
// receive table (bench/recv.mjs). BENCH_ONLY=receive runs the receive table alone.
//
// The receiver is never the bottleneck: every sender sends to the same sink, a bound UDP
// socket that nobody reads (opened with the shim, which has no receive side). The kernel
// queues until that socket's buffer is full and then drops, so receiving costs every
// sender the same small kernel work and no user-space reader competes for the CPUs.
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSocket, recvMsg, sendMsg, sendMsgSync, sendMsgBatch, sendMsgBatchSync } from '../dist/index.mjs';
import { receiveBench } from './recv.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const N = Number(process.env.BENCH_N ?? 100_000);
const SIZES = [64, 1200, 1472];
const jsonAt = process.argv.indexOf('--json');
const jsonFile = jsonAt > 0 ? process.argv[jsonAt + 1] : undefined;

if (process.env.BENCH_ONLY === 'receive') {  // the receive table alone, while working on it
  await receiveBench({ root, runs: RUNS });
  process.exit(0);
}

const csend = join(root, 'build', 'bench', 'csend');
mkdirSync(dirname(csend), { recursive: true });
execFileSync('cc', ['-O2', '-o', csend, join(root, 'bench', 'csend.c')]);

const sink = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1' } });
const port = sink.address().port;
const to = { address: '127.0.0.1', port };
const control = { sourceAddress: '127.0.0.1' };  // every shim send carries IP_PKTINFO, as the C sendmsg does

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function timed(count, fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return count / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function payload(size) {
  const head = Buffer.alloc(Math.min(8, size));
  return [head, Buffer.alloc(size - head.length, 0x78)];  // gathered: two buffers, as in C
}

// sendMsgSync, sendMsg (1024 in flight) and sendMsgBatch x32 on one implementation.
function shimVariants(label, implementation) {
  const open = () => openSocket({ type: 'udp4', implementation });
  return {
    [`${label} sendMsgSync`]: async (size) => {
      const s = await open();
      const msg = { buffers: payload(size), to, control };
      const rate = await timed(N, () => { for (let i = 0; i < N; i++) sendMsgSync(s, msg); });
      await s.close();
      return rate;
    },
    [`${label} sendMsg`]: async (size) => {
      const s = await open();
      const msg = { buffers: payload(size), to, control };
      const rate = await timed(N, async () => {
        for (let i = 0; i < N; i += 1024) {
          const window = [];
          for (let k = 0; k < 1024 && i + k < N; k++) window.push(sendMsg(s, msg));
          await Promise.all(window);
        }
      });
      await s.close();
      return rate;
    },
    [`${label} sendMsgBatch x32`]: async (size) => {
      const s = await open();
      const batch = Array.from({ length: 32 }, () => ({ buffers: payload(size), to, control }));
      const rate = await timed(N, async () => { for (let i = 0; i < N; i += 32) await sendMsgBatch(s, batch); });
      await s.close();
      return rate;
    },
  };
}

const variants = {
  'C sendmsg+pktinfo': async (size) => Number(execFileSync(csend, ['sendmsg', String(port), String(size), String(3 * N)]).toString()),
  'C sendmmsg x32': async (size) => Number(execFileSync(csend, ['sendmmsg', String(port), String(size), String(3 * N)]).toString()),
  'C GSO': async (size) => Number(execFileSync(csend, ['gso', String(port), String(size), String(10 * N)]).toString()),
  'node:dgram send': async (size) => {
    const s = dgram.createSocket('udp4');
    await new Promise((r) => s.bind(0, '127.0.0.1', r));
    const bufs = payload(size);
    const rate = await timed(N, () => new Promise((resolve) => {
      let done = 0;
      const cb = () => { if (++done === N) resolve(); };
      for (let i = 0; i < N; i++) s.send(bufs, port, '127.0.0.1', cb);
    }));
    s.close();
    return rate;
  },
  ...shimVariants('shim', 'addon'),
  'shim segmentSize': async (size) => {
    const s = await openSocket({ type: 'udp4' });
    // As the C GSO sender: one buffer cut into up to 64 segments per call (the offload's limit).
    const per = Math.min(64, Math.floor(65507 / size));
    const msg = { buffers: Buffer.alloc(per * size, 0x78), to, segmentSize: size };
    const calls = Math.ceil((10 * N) / per);
    const rate = await timed(calls * per, () => { for (let i = 0; i < calls; i++) sendMsgSync(s, msg); });
    await s.close();
    return rate;
  },
  'shim sendMsgBatchSync x32': async (size) => {
    const s = await openSocket({ type: 'udp4' });
    const batch = Array.from({ length: 32 }, () => ({ buffers: payload(size), to, control }));
    const rate = await timed(N, () => { for (let i = 0; i < N; i += 32) sendMsgBatchSync(s, batch); });
    await s.close();
    return rate;
  },
  // What coalescing costs a sender that awaits each sendMsg before the next (nothing to
  // coalesce; each call still copies its payload and waits for the end of its turn).
  'shim sendMsg one at a time': async (size) => {
    const s = await openSocket({ type: 'udp4' });
    const msg = { buffers: payload(size), to, control };
    const n = N / 4;
    const rate = await timed(n, async () => { for (let i = 0; i < n; i++) await sendMsg(s, msg); });
    await s.close();
    return rate;
  },
  // The ffi-rs backend: libc through ffi-rs, no compiled code of ours.
  ...shimVariants('ffi', 'ffi'),
};

// Rounds, not blocks: every variant runs once per round, so that a shim figure and the C
// figure it is compared with are measured a few seconds apart, and a ratio is the median
// of the per-round ratios (this 2-core machine's rate drifts by 20% over a minute).
const rounds = {};
for (const size of SIZES) {
  rounds[size] = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  for (let r = 0; r < RUNS; r++) {
    for (const [name, run] of Object.entries(variants)) rounds[size][name].push(await run(size));
  }
}
const results = Object.fromEntries(SIZES.map((size) => [size,
  Object.fromEntries(Object.entries(rounds[size]).map(([name, rates]) => [name, Math.round(median(rates))]))]));
await sink.close();

// Latency: a 4-byte ping-pong between two loopback sockets, one echoing what it receives.
// A waiting receive is woken by libuv (addon, node:dgram) or by poll(2) returning on a
// threadpool thread (ffi-rs).
const PINGS = 2000;
async function pingPong(implementation) {
  const a = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1' }, implementation });
  const b = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1' }, implementation });
  const back = { address: '127.0.0.1', port: a.address().port };
  const there = { address: '127.0.0.1', port: b.address().port };
  const echo = (async () => {
    for (let i = 0; i < PINGS; i++) await sendMsg(b, { buffers: (await recvMsg(b, { bufferSize: 64 })).buffer, to: back });
  })();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < PINGS; i++) {
    const reply = recvMsg(a, { bufferSize: 64 });
    await sendMsg(a, { buffers: Buffer.from('ping'), to: there });
    await reply;
  }
  const us = Number(process.hrtime.bigint() - t0) / PINGS / 1000;
  await echo;
  await a.close();
  await b.close();
  return us;
}
async function dgramPingPong() {
  const open = async () => { const s = dgram.createSocket('udp4'); await new Promise((r) => s.bind(0, '127.0.0.1', r)); return s; };
  const [a, b] = [await open(), await open()];
  b.on('message', (m) => b.send(m, a.address().port, '127.0.0.1'));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < PINGS; i++) {
    await new Promise((resolve) => { a.once('message', resolve); a.send('ping', b.address().port, '127.0.0.1'); });
  }
  const us = Number(process.hrtime.bigint() - t0) / PINGS / 1000;
  a.close();
  b.close();
  return us;
}
const latency = {};
for (const [name, run] of [['node:dgram', dgramPingPong], ['shim (addon)', () => pingPong('addon')], ['shim (ffi-rs)', () => pingPong('ffi')]]) {
  const samples = [];
  for (let r = 0; r < RUNS; r++) samples.push(await run());
  latency[name] = +median(samples).toFixed(1);
}

// [shim row, reference row, target]: issue 13's targets where it set one.
const ratios = {
  'sendMsgSync / C sendmsg+pktinfo': ['shim sendMsgSync', 'C sendmsg+pktinfo', 0.8],
  'sendMsg / C sendmsg+pktinfo': ['shim sendMsg', 'C sendmsg+pktinfo', 0.9],
  'sendMsgBatchSync / C sendmmsg': ['shim sendMsgBatchSync x32', 'C sendmmsg x32', 0.9],
  'sendMsgBatch / C sendmmsg': ['shim sendMsgBatch x32', 'C sendmmsg x32', 0.9],
  'segmentSize / C GSO': ['shim segmentSize', 'C GSO', 0.93],
  'sendMsg / node:dgram send': ['shim sendMsg', 'node:dgram send'],
  'sendMsg one at a time / sendMsgSync': ['shim sendMsg one at a time', 'shim sendMsgSync'],
  'ffi-rs sendMsgSync / addon sendMsgSync': ['ffi sendMsgSync', 'shim sendMsgSync'],
  'ffi-rs sendMsg / addon sendMsg': ['ffi sendMsg', 'shim sendMsg'],
  'ffi-rs sendMsgBatch / addon sendMsgBatch': ['ffi sendMsgBatch x32', 'shim sendMsgBatch x32'],
};
const names = Object.keys(results[SIZES[0]]);
const fmt = (n) => (n === null ? 'n/a' : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${Math.round(n / 1000)}k`);
console.log(`datagrams/s, median of ${RUNS} runs (${N} per Node run), loopback, ${process.version}, ${execFileSync('nproc').toString().trim()} CPUs\n`);
console.log(['sender'.padEnd(28), ...SIZES.map((s) => `${s} B`.padStart(9))].join(''));
for (const name of names) console.log([name.padEnd(28), ...SIZES.map((s) => fmt(results[s][name]).padStart(9))].join(''));
console.log('\nratios: median of the per-round ratios; the reference\'s median rate in brackets; * = target met');
console.log(['ratio'.padEnd(40), 'target', ...SIZES.map((s) => `${s} B`.padStart(16))].join(''));
const ratioOut = {};
for (const [label, [a, b, target]] of Object.entries(ratios)) {
  ratioOut[label] = SIZES.map((s) => +median(rounds[s][a].map((x, r) => x / rounds[s][b][r])).toFixed(2));
  const cells = ratioOut[label].map((r, i) => `${r.toFixed(2)}${target && r >= target ? '*' : ' '} (${fmt(results[SIZES[i]][b])})`.padStart(16));
  console.log([label.padEnd(40), (target ? `>=${target}` : '').padStart(6), ...cells].join(''));
}
console.log(`\nping-pong round trip, µs (median of ${RUNS} runs of ${PINGS})`);
for (const [name, us] of Object.entries(latency)) console.log(`${name.padEnd(28)}${us.toFixed(1).padStart(9)}`);
const receive = await receiveBench({ root, runs: RUNS });
if (jsonFile) {
  const targets = Object.fromEntries(Object.entries(ratios).filter(([, r]) => r[2]).map(([label, r]) => [label, r[2]]));
  writeFileSync(jsonFile, JSON.stringify({ node: process.version, runs: RUNS, n: N, sizes: SIZES, results, rounds, ratios: ratioOut, targets,
    latencyUs: latency, receive }, null, 2));
  console.log(`\nwrote ${jsonFile}`);
}
