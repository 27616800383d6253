// Bad input is refused with Node-style coded errors, before any I/O: nothing is sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BUFFERS, Socket, openSocket, sendMsg, sendMsgSync, type Message } from '../src/index';
import { catchSync } from './helpers/expect';
import { receiver, type Receiver } from './helpers/receiver';

let r: Receiver;
let s: Socket;
let to: { address: string; port: number };
beforeAll(async () => {
  r = await receiver();
  s = await openSocket({ type: 'udp4' });
  to = { address: '127.0.0.1', port: r.port };
});
afterAll(async () => {
  await s.close();
  await r.close();
});

function detached(): Uint8Array {
  const u = new Uint8Array(8);
  structuredClone(u.buffer, { transfer: [u.buffer] });
  return u;
}

const bad: Array<[string, () => unknown, string]> = [
  ['msg not an object', () => ({ msg: 'hello' }), 'ERR_INVALID_ARG_TYPE'],
  ['msg null', () => ({ msg: null }), 'ERR_INVALID_ARG_TYPE'],
  ['buffers a string', () => ({ msg: { buffers: 'hello', to } }), 'ERR_INVALID_ARG_TYPE'],
  ['buffers an ArrayBuffer', () => ({ msg: { buffers: new ArrayBuffer(4), to } }), 'ERR_INVALID_ARG_TYPE'],
  ['buffers missing', () => ({ msg: { to } }), 'ERR_INVALID_ARG_TYPE'],
  ['a non-view among buffers', () => ({ msg: { buffers: [Buffer.from('a'), 'b'], to } }), 'ERR_INVALID_ARG_TYPE'],
  ['too many buffers', () => ({ msg: { buffers: Array.from({ length: MAX_BUFFERS + 1 }, () => Buffer.from('a')), to } }), 'ERR_OUT_OF_RANGE'],
  ['detached buffer', () => ({ msg: { buffers: detached(), to } }), 'ERR_INVALID_ARG_VALUE'],
  ['detached buffer in a list', () => ({ msg: { buffers: [Buffer.from('a'), detached()], to } }), 'ERR_INVALID_ARG_VALUE'],
  ['port a string', () => ({ msg: { buffers: Buffer.from('a'), to: { address: '127.0.0.1', port: '9' } } }), 'ERR_INVALID_ARG_TYPE'],
  ['port 0', () => ({ msg: { buffers: Buffer.from('a'), to: { address: '127.0.0.1', port: 0 } } }), 'ERR_OUT_OF_RANGE'],
  ['port 65536', () => ({ msg: { buffers: Buffer.from('a'), to: { address: '127.0.0.1', port: 65536 } } }), 'ERR_OUT_OF_RANGE'],
  ['port -1', () => ({ msg: { buffers: Buffer.from('a'), to: { address: '127.0.0.1', port: -1 } } }), 'ERR_OUT_OF_RANGE'],
  ['port 1.5', () => ({ msg: { buffers: Buffer.from('a'), to: { address: '127.0.0.1', port: 1.5 } } }), 'ERR_OUT_OF_RANGE'],
  ['port NaN', () => ({ msg: { buffers: Buffer.from('a'), to: { address: '127.0.0.1', port: NaN } } }), 'ERR_OUT_OF_RANGE'],
  ['host name', () => ({ msg: { buffers: Buffer.from('a'), to: { address: 'localhost', port: 9 } } }), 'ERR_INVALID_ARG_VALUE'],
  ['malformed IPv4', () => ({ msg: { buffers: Buffer.from('a'), to: { address: '127.0.0.256', port: 9 } } }), 'ERR_INVALID_ARG_VALUE'],
  ['IPv4 with leading zero', () => ({ msg: { buffers: Buffer.from('a'), to: { address: '127.0.0.01', port: 9 } } }), 'ERR_INVALID_ARG_VALUE'],
  ['malformed IPv6', () => ({ msg: { buffers: Buffer.from('a'), to: { address: '::1::2', port: 9 } } }), 'ERR_INVALID_ARG_VALUE'],
  ['address a number', () => ({ msg: { buffers: Buffer.from('a'), to: { address: 2130706433, port: 9 } } }), 'ERR_INVALID_ARG_TYPE'],
  ['to a string', () => ({ msg: { buffers: Buffer.from('a'), to: '127.0.0.1:9' } }), 'ERR_INVALID_ARG_TYPE'],
  ['source a host name', () => ({ msg: { buffers: Buffer.from('a'), to, control: { sourceAddress: 'example.com' } } }), 'ERR_INVALID_ARG_VALUE'],
  ['negative interface index', () => ({ msg: { buffers: Buffer.from('a'), to, control: { interfaceIndex: -1 } } }), 'ERR_OUT_OF_RANGE'],
  ['interface index 2^32', () => ({ msg: { buffers: Buffer.from('a'), to, control: { interfaceIndex: 2 ** 32 } } }), 'ERR_OUT_OF_RANGE'],
  ['interface index a string', () => ({ msg: { buffers: Buffer.from('a'), to, control: { interfaceIndex: '1' } } }), 'ERR_INVALID_ARG_TYPE'],
  ['misspelt control key', () => ({ msg: { buffers: Buffer.from('a'), to, control: { sourceAdress: '127.0.0.2' } } }), 'ERR_INVALID_ARG_VALUE'],
  ['misspelt msg key', () => ({ msg: { buffers: Buffer.from('a'), to, contorl: {} } }), 'ERR_INVALID_ARG_VALUE'],
  ['control an array', () => ({ msg: { buffers: Buffer.from('a'), to, control: [] } }), 'ERR_INVALID_ARG_TYPE'],
  ['flags a string', () => ({ msg: { buffers: Buffer.from('a'), to, flags: '4' } }), 'ERR_INVALID_ARG_TYPE'],
  ['flags negative', () => ({ msg: { buffers: Buffer.from('a'), to, flags: -1 } }), 'ERR_OUT_OF_RANGE'],
  ['signal not a signal', () => ({ msg: { buffers: Buffer.from('a'), to, signal: {} } }), 'ERR_INVALID_ARG_TYPE'],
  ['socket not a Socket', () => ({ sock: { fd: 3 }, msg: { buffers: Buffer.from('a'), to } }), 'ERR_INVALID_ARG_TYPE'],
];

describe('argument errors are Node-style and send nothing', () => {
  for (const [name, make, code] of bad) {
    it(name, () => {
      const { msg, sock } = make() as { msg: Message; sock?: Socket };
      for (const call of [() => sendMsgSync(sock ?? s, msg), () => sendMsg(sock ?? s, msg), () => sendMsg(sock ?? s, msg, () => {})]) {
        const err = catchSync(call) as Error & { code: string };
        expect(err.code).toBe(code);
        expect(err).toBeInstanceOf(code === 'ERR_OUT_OF_RANGE' ? RangeError : TypeError);
        expect(err.message).toMatch(/msg|socket|callback/);
      }
    });
  }

  it('a callback that is not a function', () => {
    expect(catchSync(() => sendMsg(s, { buffers: Buffer.from('a'), to }, 'cb' as never))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  });

  it('none of the above reached the wire', async () => {
    expect((await r.settle(150)).length).toBe(0);
  });

  it('bad openSocket options', () => {
    const cases: Array<[unknown, string]> = [
      [undefined, 'ERR_INVALID_ARG_TYPE'],
      [{ type: 'udp5' }, 'ERR_INVALID_ARG_VALUE'],
      [{ type: 'udp4', ipv6Only: true }, 'ERR_INVALID_ARG_VALUE'],
      [{ type: 'udp6', ipv6Only: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
      [{ type: 'udp4', bind: { address: '::1' } }, 'ERR_INVALID_ARG_VALUE'],
      [{ type: 'udp4', bind: { address: 'localhost' } }, 'ERR_INVALID_ARG_VALUE'],
      [{ type: 'udp4', bind: { port: 70000 } }, 'ERR_OUT_OF_RANGE'],
      [{ type: 'udp4', sendTimeout: -5 }, 'ERR_OUT_OF_RANGE'],
      [{ type: 'udp4', sendBufferSize: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ type: 'udp4', protocol: 17 }, 'ERR_INVALID_ARG_VALUE'],
      [{ type: 'raw4', protocol: 256 }, 'ERR_OUT_OF_RANGE'],
      [{ type: 'udp4', brodcast: true }, 'ERR_INVALID_ARG_VALUE'],
    ];
    for (const [opts, code] of cases) expect(catchSync(() => openSocket(opts as never))).toMatchObject({ code });
  });

  it('bad connect and shutdown arguments', () => {
    expect(catchSync(() => s.connect('localhost', 9))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(catchSync(() => s.connect('127.0.0.1', 0))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(catchSync(() => s.shutdown('both' as 'send'))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});

describe('errors that say what to write instead', () => {
  it('a payload passed where the message belongs names `buffers`', () => {
    for (const msg of [Buffer.from('x'), [Buffer.from('x')]]) {
      const e = catchSync(() => sendMsgSync(s, msg as unknown as Message)) as TypeError & { code: string };
      expect(e.code).toBe('ERR_INVALID_ARG_TYPE');
      expect(e.message).toContain('{ buffers: payload, to: { address, port } }');
    }
  });

  it('flags carried over from POSIX code are refused with the bits named and what to do instead; nothing is sent', async () => {
    const cases: Array<[number, string]> = [[0x4000, 'MSG_NOSIGNAL'], [0x40, 'MSG_DONTWAIT'], [0x800, 'MSG_CONFIRM'], [0x8000, "Linux's MSG_MORE"]];
    for (const [flags, name] of cases) {
      const e = catchSync(() => sendMsgSync(s, { buffers: Buffer.from('no'), to, flags })) as Error & { code: string };
      expect(e.code).toBe('WSAEOPNOTSUPP');
      expect(e.message).toContain(name);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.messages.filter((m) => m.data.toString() === 'no')).toEqual([]);
  });

  it('Socket cannot be constructed directly: a coded TypeError, not a property of undefined', () => {
    const e = catchSync(() => new (Socket as unknown as new () => unknown)()) as TypeError & { code: string };
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_ILLEGAL_CONSTRUCTOR');
    expect(e.message).toContain('openSocket');
  });
});
