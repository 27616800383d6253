// An ICMPv4 error message about a UDP datagram src:srcPort -> dst:dstPort, as a router or
// an attacker would send it: what test/netns scripts forge with the shim's raw4 socket.
function csum(buf) {
  let s = 0;
  for (let i = 0; i < buf.length; i += 2) s += (buf[i] << 8) | (buf[i + 1] ?? 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}
const ip4 = (a) => Buffer.from(a.split('.').map(Number));

function icmpError(type, code, src, srcPort, dst, dstPort) {
  const inner = Buffer.alloc(28);
  inner[0] = 0x45;
  inner.writeUInt16BE(128, 2);
  inner[8] = 64;
  inner[9] = 17;
  ip4(src).copy(inner, 12);
  ip4(dst).copy(inner, 16);
  inner.writeUInt16BE(csum(inner.subarray(0, 20)), 10);
  inner.writeUInt16BE(srcPort, 20);
  inner.writeUInt16BE(dstPort, 22);
  inner.writeUInt16BE(108, 24);
  const icmp = Buffer.concat([Buffer.alloc(8), inner]);
  icmp[0] = type;
  icmp[1] = code;
  if (type === 3 && code === 4) icmp.writeUInt16BE(60000, 6);  // frag needed: a next-hop MTU
  icmp.writeUInt16BE(csum(icmp), 2);
  return icmp;
}

module.exports = { icmpError };
