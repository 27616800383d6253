// Runs inside a test namespace: records the sequence numbers (first 4 bytes) and source
// addresses of what arrives, until `idleMs` pass without a datagram (or `maxMs` in all).
const dgram = require('node:dgram');
const { address, port, idleMs = 800, maxMs = 15000, type = 'udp4', checkPattern = false } = JSON.parse(process.argv[2]);
const sock = dgram.createSocket({ type, recvBufferSize: 1 << 22 });
const seqs = [];
const sources = new Set();
let corrupt = 0;  // with checkPattern: payload byte k of datagram i must be (i + k) & 0xff
let idle;
const finish = () => {
  console.log(JSON.stringify({ seqs, sources: [...sources], corrupt }));
  sock.close();
  process.exit(0);
};
setTimeout(finish, maxMs);
sock.on('message', (m, rinfo) => {
  const seq = m.length >= 4 ? m.readUInt32BE(0) : -1;
  seqs.push(seq);
  if (checkPattern) for (let k = 4; k < m.length; k++) if (m[k] !== ((seq + k) & 0xff)) { corrupt++; break; }
  sources.add(rinfo.address);
  clearTimeout(idle);
  idle = setTimeout(finish, idleMs);
});
sock.bind(port, address, () => {
  console.log('ready');
  idle = setTimeout(finish, maxMs);
});
