// openSocket({ reusePort }): several sockets on one port, the kernel spreading datagrams
// over them (Linux SO_REUSEPORT); refused on Windows, which has no such option.
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { openSocket, recvMsg, type Socket } from '../src/index';
import { catchAsync, catchSync, expectWsa } from './helpers/expect';
import { isPosix, isWindows } from './helpers/platform';
import { useSockets } from './helpers/sockets';

const { shim, track } = useSockets();

/** Receives on s until `ms` pass with nothing new; the payloads, as text. */
async function drain(s: Socket, ms = 400): Promise<string[]> {
  const got: string[] = [];
  for (;;) {
    try {
      got.push((await recvMsg(s, { bufferSize: 64, signal: AbortSignal.timeout(ms) })).buffer.toString());
    } catch (err) {
      expectWsa(err, 'WSA_OPERATION_ABORTED');
      return got;
    }
  }
}

describe('reusePort', () => {
  it.skipIf(!isPosix)(`two sockets share a port and the kernel spreads 64 senders over both; a third without it is WSAEADDRINUSE${isPosix ? '' : ' (skipped: Linux only)'}`, async () => {
    const a = await shim({ type: 'udp4', reusePort: true, bind: { address: '127.0.0.1' } });
    const port = a.address().port;
    const b = await shim({ type: 'udp4', reusePort: true, bind: { address: '127.0.0.1', port } });
    expect(b.address().port).toBe(port);
    expectWsa(await catchAsync(openSocket({ type: 'udp4', bind: { address: '127.0.0.1', port } })), 'WSAEADDRINUSE');
    // The kernel picks a socket by the sender's address and port: 64 senders, one datagram each.
    for (let i = 0; i < 64; i++) {
      const tx = track(dgram.createSocket('udp4'));
      await new Promise<void>((resolve, reject) => tx.send(`d${i}`, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    }
    const [onA, onB] = await Promise.all([drain(a), drain(b)]);
    expect(onA.length).toBeGreaterThan(0);
    expect(onB.length).toBeGreaterThan(0);
    expect([...onA, ...onB].sort()).toEqual(Array.from({ length: 64 }, (_, i) => `d${i}`).sort());
  });

  it.skipIf(!isWindows)(`Windows: refused at open with WSAEOPNOTSUPP, not approximated with SO_REUSEADDR${isWindows ? '' : ' (skipped: Windows only)'}`, async () => {
    expectWsa(await catchAsync(openSocket({ type: 'udp4', reusePort: true })), 'WSAEOPNOTSUPP');
  });

  it('is a boolean, for UDP sockets only', () => {
    expect(catchSync(() => openSocket({ type: 'udp4', reusePort: 1 as unknown as boolean }))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(catchSync(() => openSocket({ type: 'raw4', reusePort: true }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});
