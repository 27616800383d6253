// Per-datagram TOS / traffic class / ECN, seen by a receiver that reads the byte from the
// kernel (test/witness/tos_receiver.py; node:dgram cannot).
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSocket, sendMsg, sendMsgBatch, sendMsgSync } from '../src/index';
import { catchSync, expectWsa } from './helpers/expect';
import { isWindows, itControlData, wine } from './helpers/platform';

const python = !isWindows && spawnSync('python3', ['--version']).status === 0;

function witness(family: '4' | '6', count: number): Promise<{ port: number; result: Promise<Array<[string, number | null]>> }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [join(__dirname, 'witness', 'tos_receiver.py'), family, String(count)]);
    let out = '';
    let portSeen = false;
    let done!: (v: Array<[string, number | null]>) => void;
    const result = new Promise<Array<[string, number | null]>>((r) => (done = r));
    child.stdout.on('data', (d) => {
      out += d;
      const lines = out.split('\n');
      if (!portSeen && lines.length > 1) {
        portSeen = true;
        resolve({ port: Number(lines[0]), result });
      }
    });
    child.on('error', reject);
    child.on('close', () => done(JSON.parse(out.trim().split('\n').pop() ?? '[]')));
  });
}

describe.skipIf(!python)(`TOS and ECN per datagram${python ? '' : ' (skipped: needs python3 as the witness, Linux only)'}`, () => {
  itControlData('IPv4: IP_TOS per datagram, ECN replacing the low bits', async () => {
    const w = await witness('4', 4);
    const s = await openSocket({ type: 'udp4' });
    const to = { address: '127.0.0.1', port: w.port };
    sendMsgSync(s, { buffers: Buffer.from('a'), to, control: { tos: 0xb8 } });
    await sendMsg(s, { buffers: Buffer.from('b'), to, control: { tos: 0xb8, ecn: 1 } });
    await sendMsg(s, { buffers: Buffer.from('c'), to, control: { ecn: 2, sourceAddress: '127.0.0.2' } });
    await sendMsg(s, { buffers: Buffer.from('d'), to });
    expect(await w.result).toEqual([['a', 0xb8], ['b', 0xb9], ['c', 2], ['d', 0]]);
    await s.close();
  });

  itControlData('IPv6: IPV6_TCLASS; a batch carries each datagram its own', async () => {
    const w = await witness('6', 3);
    const s = await openSocket({ type: 'udp6' });
    const to = { address: '::1', port: w.port };
    expect(await sendMsgBatch(s, [0x20, 0x03, 0].map((tos, i) => ({ buffers: Buffer.from(`m${i}`), to, control: { tos } })))).toEqual({ sent: 3 });
    expect(await w.result).toEqual([['m0', 0x20], ['m1', 0x03], ['m2', 0]]);
    await s.close();
  });

  itControlData('dual stack: a v4-mapped destination takes IP_TOS', async () => {
    const w = await witness('4', 1);
    const s = await openSocket({ type: 'udp6', ipv6Only: false });
    await sendMsg(s, { buffers: Buffer.from('mapped'), to: { address: '::ffff:127.0.0.1', port: w.port }, control: { tos: 0x48, ecn: 1 } });
    expect(await w.result).toEqual([['mapped', 0x49]]);
    await s.close();
  });
});

describe('TOS and ECN arguments', () => {
  it('out of range is ERR_OUT_OF_RANGE', async () => {
    const s = await openSocket({ type: 'udp4' });
    const to = { address: '127.0.0.1', port: 9 };
    expect(catchSync(() => sendMsgSync(s, { buffers: Buffer.from('x'), to, control: { tos: 256 } }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(catchSync(() => sendMsgSync(s, { buffers: Buffer.from('x'), to, control: { ecn: 4 } }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await s.close();
  });

  // Windows: DSCP goes per datagram (IP_TOS) where the process's probe found a stack that
  // takes it; where it did not, DSCP bits are refused rather than dropped. ECN alone always goes.
  it('DSCP bits go where capabilities() says the stack takes them, and are WSAEOPNOTSUPP elsewhere; ECN always goes', async () => {
    const s = await openSocket({ type: 'udp4' });
    const to = { address: '127.0.0.1', port: 9 };
    const caps = s.capabilities();
    if (!isWindows) expect(caps.perDatagramTos).toBe(true);
    // Wine's WSASendMsg drops control data without looking at it, so the probe's IP_TOS
    // datagram goes and the probe must say yes: false here would be the old outright
    // refusal of DSCP on Windows (or a probe that never sent), not a stack's answer.
    if (wine) expect(caps.perDatagramTos).toBe(true);
    if (caps.perDatagramTos) expect(sendMsgSync(s, { buffers: Buffer.from('x'), to, control: { tos: 0xb8 } })).toBe(1);
    else expectWsa(catchSync(() => sendMsgSync(s, { buffers: Buffer.from('x'), to, control: { tos: 0xb8 } })), 'WSAEOPNOTSUPP');
    expect(sendMsgSync(s, { buffers: Buffer.from('x'), to, control: { ecn: 1 } })).toBe(1);
    await s.close();
  });
});
