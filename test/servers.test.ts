// Smaller failures a server meets (issue 12, item 6): argument errors thrown like every
// other one, an address() that answers as Windows does, and errors of the main feature
// (the source address) that say so.
import { describe, expect, it } from 'vitest';
import { sendMsg, sendMsgSync, WSA, WsaError } from '../src/index';
import { toWsaError } from '../src/socket';
import { catchAsync, catchSync, expectWsa } from './helpers/expect';
import { isPosix, itControlData } from './helpers/platform';
import { receiver } from './helpers/receiver';
import { useSockets } from './helpers/sockets';

const { shim, track } = useSockets();

describe('servers: small things that must not surprise', () => {
  it('address() of a socket never bound is WSAEINVAL on every OS (Windows getsockname); after a send it has one', async () => {
    for (const type of ['udp4', 'udp6'] as const) {
      const s = await shim({ type });
      const e = expectWsa(catchSync(() => s.address()), 'WSAEINVAL');
      expect(e.syscall).toBe('getsockname');
      const r = await receiver(type);
      track(r);
      await sendMsg(s, { buffers: Buffer.from('x'), to: { address: type === 'udp4' ? '127.0.0.1' : '::1', port: r.port } });
      expect(s.address().port).toBeGreaterThan(0);
    }
    const bound = await shim({ type: 'udp4', bind: { address: '127.0.0.1' } });
    expect(bound.address()).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
  });

  it('more segments than a batch can carry is an argument error thrown synchronously by every call, nothing sent', async () => {
    const r = await receiver();
    track(r);
    const s = await shim({ type: 'udp4' });
    const msg = { buffers: Buffer.alloc(102_500), to: { address: '127.0.0.1', port: r.port }, segmentSize: 100 };
    for (const call of [() => sendMsg(s, msg), () => sendMsg(s, msg, () => {}), () => sendMsgSync(s, msg)]) {
      expect(catchSync(call)).toMatchObject({ code: 'ERR_OUT_OF_RANGE', name: 'RangeError' });
    }
    expect(await r.settle(100)).toEqual([]);
  });

  it('a source address of the wrong family is refused before any I/O, and the message names it', async () => {
    const s = await shim({ type: 'udp6' });
    const e = expectWsa(await catchAsync(sendMsg(s, { buffers: Buffer.from('x'), to: { address: '::1', port: 9 }, control: { sourceAddress: '127.0.0.1' } })), 'WSAEINVAL');
    expect(e.sourceAddress).toBe('127.0.0.1');
    expect(e.sysErrno).toBeUndefined();  // the shim refused; the OS was not asked
    expect(e.message).toMatch(/^\w+ WSAEINVAL: invalid argument ::1:9 \(source address 127\.0\.0\.1 is IPv4 but the destination is IPv6: /);
  });

  itControlData('an OS refusal of a source address names it (non-local source)', async () => {
    const s = await shim({ type: 'udp4' });
    const err = catchSync(() => sendMsgSync(s, { buffers: Buffer.from('x'), to: { address: '127.0.0.1', port: 9 }, control: { sourceAddress: '192.0.2.55' } }));
    // errno lab: a non-local IPv4 pktinfo source is ENETUNREACH on Linux; Windows refuses it its own way.
    const e = isPosix ? expectWsa(err, 'WSAENETUNREACH') : (err as WsaError);
    expect(e).toBeInstanceOf(WsaError);
    expect(e.sourceAddress).toBe('192.0.2.55');
    expect(e.message).toContain('source address 192.0.2.55 is not local, or cannot reach this destination');
  });

  // What real Windows answers where Wine does not: WSAEADDRNOTAVAIL for some v4-mapped
  // destinations (moq #1375) and WSAEINVAL for a reply carrying IN_PKTINFO (Sunshine #5443).
  // Each keeps its documented code and names the source it was sent from.
  it('the Windows refusals of a source address (WSAEADDRNOTAVAIL, WSAEINVAL) keep their code and name the source', () => {
    for (const [wsa, code] of [[WSA.EADDRNOTAVAIL, 'WSAEADDRNOTAVAIL'], [WSA.EINVAL, 'WSAEINVAL']] as const) {
      const e = toWsaError(wsa, wsa, 'WSASendMsg', null, { address: '::ffff:192.0.2.9', port: 443, sourceAddress: '198.51.100.7' });
      expectWsa(e, code);
      expect(e).toMatchObject({ syscall: 'WSASendMsg', address: '::ffff:192.0.2.9', port: 443, sourceAddress: '198.51.100.7' });
      expect(e.message).toContain('source address 198.51.100.7 is not local, or cannot reach this destination');
    }
  });
});
