// npm run demo: what sendmsg-shim is for, in one screen. A node:dgram receiver (the
// independent witness) reports where each datagram came from; the shim picks the source
// address per datagram, which node:dgram cannot.
import dgram from 'node:dgram';
import { openSocket, sendMsg, sendMsgSync, WsaError, backend } from 'sendmsg-shim';

const bind = (type, address) => new Promise((resolve) => {
  const s = dgram.createSocket(type);
  s.bind(0, address, () => resolve(s));
});
const rx4 = await bind('udp4', '127.0.0.1');
const rx6 = await bind('udp6', '::1');
const arrived = [];
for (const rx of [rx4, rx6]) rx.on('message', (m, rinfo) => arrived.push({ text: m.toString(), from: rinfo.address, to: rx.address().address }));

const udp4 = await openSocket({ type: 'udp4' });
const udp6 = await openSocket({ type: 'udp6', ipv6Only: false });
const to4 = { address: '127.0.0.1', port: rx4.address().port };
const to6 = { address: '::1', port: rx6.address().port };
const rows = [];
const header = Buffer.from('hello ');  // gathered with a second buffer: no copy is made

async function send(label, sock, to, source) {
  const bytes = await sendMsg(sock, {
    buffers: [header, Buffer.from(label)],
    to,
    control: source ? { sourceAddress: source } : undefined,
  });
  rows.push({ label, asked: source ?? '(routing picks)', bytes });
}

await send('v4 from .1', udp4, to4, '127.0.0.1');
await send('v4 from .2', udp4, to4, '127.0.0.2');
await send('v4 from .3', udp4, to4, '127.0.0.3');
await send('v6 from ::1', udp6, to6, '::1');
await send('dual stack v4-mapped', udp6, { ...to4, address: '::ffff:127.0.0.1' }, '127.0.0.3');

const errors = [];
for (const [what, fn] of [
  ['65508-byte datagram to IPv4', () => sendMsgSync(udp4, { buffers: Buffer.alloc(65508), to: to4 })],
  ['no destination, not connected', () => sendMsgSync(udp4, { buffers: header })],
  ['broadcast without broadcast: true', () => sendMsgSync(udp4, { buffers: header, to: { address: '127.255.255.255', port: to4.port } })],
]) {
  try {
    fn();
    errors.push({ what, result: 'sent?!' });
  } catch (err) {
    if (!(err instanceof WsaError)) throw err;
    errors.push({ what, result: `${err.code} (${err.errno}), OS said ${err.sysCode ?? 'nothing: the shim refused'}` });
  }
}

const deadline = Date.now() + 2000;
while (arrived.length < rows.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));

const pad = (s, n) => String(s).padEnd(n);
console.log(`sendmsg-shim demo (backend: ${backend}) — what the node:dgram receiver saw\n`);
console.log(`${pad('datagram', 22)}${pad('source asked', 18)}${pad('source seen', 14)}${pad('bytes', 6)}payload`);
console.log('-'.repeat(80));
for (const row of rows) {
  const got = arrived.find((a) => a.text === `hello ${row.label}`);
  console.log(`${pad(row.label, 22)}${pad(row.asked, 18)}${pad(got?.from ?? 'LOST', 14)}${pad(row.bytes, 6)}${got?.text ?? ''}`);
}
console.log('\nErrors come back as one WSAE-style error on every OS:\n');
for (const e of errors) console.log(`  ${pad(e.what, 36)} -> ${e.result}`);

const ok = rows.every((row) => {
  const got = arrived.find((a) => a.text === `hello ${row.label}`);
  return got && got.from === row.asked;
}) && errors.every((e) => e.result.startsWith('WSAE'));
await udp4.close();
await udp6.close();
rx4.close();
rx6.close();
console.log(ok ? '\nEvery datagram arrived from the source address it asked for.' : '\nSOMETHING DID NOT ARRIVE AS ASKED');
process.exitCode = ok ? 0 : 1;
