// Raw sockets: with CAP_NET_RAW they send; without it openSocket rejects with a WsaError.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSocket, sendMsg, sendMsgSync } from '../src/index';
import { catchAsync, expectWsa } from './helpers/expect';
import { receiver } from './helpers/receiver';

const root = process.getuid?.() === 0;

describe.skipIf(!root)(`raw sockets${root ? '' : ' (skipped: needs root / CAP_NET_RAW)'}`, () => {
  it('raw4 carries a hand-made UDP datagram with a chosen source address', async () => {
    const r = await receiver();
    const s = await openSocket({ type: 'raw4', protocol: 17 });
    const payload = Buffer.from('raw hello');
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(4242, 0);
    udp.writeUInt16BE(r.port, 2);
    udp.writeUInt16BE(8 + payload.length, 4);  // checksum 0: none, valid for IPv4
    const n = await sendMsg(s, { buffers: [udp, payload], to: { address: '127.0.0.1' } as never, control: { sourceAddress: '127.0.0.2' } });
    expect(n).toBe(17);
    const [m] = await r.waitFor(1);
    expect([m.data.toString(), m.address, m.port]).toEqual(['raw hello', '127.0.0.2', 4242]);
    await s.close();
    await r.close();
  });

  it('raw6 opens and sends to ::1; OOB is refused there too', async () => {
    const s = await openSocket({ type: 'raw6', protocol: 253 });
    expect(sendMsgSync(s, { buffers: Buffer.from('x'), to: { address: '::1', port: 0 } })).toBe(1);
    expect(() => sendMsgSync(s, { buffers: Buffer.from('x'), to: { address: '::1', port: 0 }, flags: 1 })).toThrow(/WSAEOPNOTSUPP/);
    await s.close();
  });
});

describe.skipIf(!root)(`raw sockets without privilege${root ? '' : ' (skipped: needs root to drop to an unprivileged user)'}`, () => {
  it('openSocket rejects with WSAEACCES (EPERM), no crash', () => {
    // Load the package as root (the checkout may not be readable by others), then drop to
    // nobody: a setuid away from 0 clears the capabilities, CAP_NET_RAW among them.
    const script = `const shim = require(${JSON.stringify(join(__dirname, '..'))});
      process.setgroups([]); process.setgid(65534); process.setuid(65534);
      shim.openSocket({ type: 'raw4' })
        .then(() => console.log('opened'), (e) => console.log(JSON.stringify([e.name, e.code, e.errno, e.sysCode, e.syscall])))`;
    const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual(['WsaError', 'WSAEACCES', 10013, 'EPERM', 'socket']);
  });
});

describe('raw sockets, unprivileged in this process', () => {
  // Windows' rule (Administrator) cannot be told from here; Linux's is CAP_NET_RAW.
  it.skipIf(root || process.platform !== 'linux')('openSocket rejects with WSAEACCES', async () => {
    expectWsa(await catchAsync(openSocket({ type: 'raw4' })), 'WSAEACCES');
  });
});
