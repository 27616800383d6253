// Random messages for the property tests (fuzz, differential): every address is loopback
// or invalid, so nothing they describe can leave the machine.
import fc from 'fast-check';

// Views of every kind over fresh memory, with odd offsets and lengths, some empty, some
// detached, some over SharedArrayBuffers.
export const view = fc.record({
  kind: fc.constantFrom('buffer', 'u8', 'u16', 'f64', 'dataview', 'sub', 'shared', 'detached'),
  len: fc.oneof(
    { arbitrary: fc.constant(0), weight: 2 },
    { arbitrary: fc.integer({ min: 1, max: 64 }), weight: 6 },
    { arbitrary: fc.integer({ min: 65, max: 700 }), weight: 6 },
    { arbitrary: fc.constantFrom(65507, 65508, 70000), weight: 1 }),  // at and past the limit
  fill: fc.integer({ min: 0, max: 255 }),
}).map(({ kind, len, fill }): unknown => {
  const bytes = (n: number) => new Uint8Array(n).fill(fill);
  switch (kind) {
    case 'buffer': return Buffer.alloc(len, fill);
    case 'u8': return bytes(len);
    case 'u16': return new Uint16Array(bytes(len * 2).buffer);
    case 'f64': return new Float64Array(bytes(len * 8).buffer, 0, Math.floor(len / 8));
    case 'dataview': return new DataView(bytes(len + 3).buffer, 3, len);
    case 'sub': return Buffer.alloc(len + 10, fill).subarray(5, 5 + len);
    case 'shared': { const sab = new SharedArrayBuffer(len); new Uint8Array(sab).fill(fill); return new Uint8Array(sab); }
    default: { const u = bytes(len); structuredClone(u.buffer, { transfer: [u.buffer] }); return u; }
  }
});

// Destinations either reach the receiver (127.0.0.1, or its v4-mapped form on the dual-stack
// socket) or must fail: IPv6 ones on the v4 socket (WSAEAFNOSUPPORT) and malformed ones.
export const address = fc.constantFrom('127.0.0.1', '::ffff:127.0.0.1', '::1', 'fe80::1%lo', '127.0.0.256',
  'localhost', '', ' 127.0.0.1', '127.1', '1.2.3', 'fe80::1%', 'fe80::1%nosuchif', '::ffff:999.0.0.1');
export const V6_ELSEWHERE = new Set(['::1', 'fe80::1%lo']);  // valid on the v6 socket but not the receiver
export const source = fc.constantFrom('127.0.0.1', '127.0.0.2', '::1', '::ffff:127.0.0.3', '0.0.0.0', '127.0.0.256', 'example.com');

export const wildMessage = fc.record({
  buffers: fc.oneof(view, fc.array(view, { maxLength: 6 }), fc.constantFrom('text', 42, null, new ArrayBuffer(4), [1, 2])),
  to: fc.oneof(
    fc.constant(undefined),
    fc.record({ address, port: fc.oneof(fc.constant('rx'), fc.constantFrom(0, -1, 65536, 1.5, NaN, '80')) }),
    fc.constantFrom(null, '127.0.0.1:9', 5)),
  control: fc.oneof(
    fc.constant(undefined),
    fc.record({
      sourceAddress: fc.option(source, { nil: undefined }),
      interfaceIndex: fc.option(fc.constantFrom(0, 1, -1, 2 ** 32, 0.5, '1', 999999), { nil: undefined }),
      tos: fc.option(fc.constantFrom(0, 0xb8, 256, -1), { nil: undefined }),
      ecn: fc.option(fc.constantFrom(0, 1, 3, 4), { nil: undefined }),
    }, { requiredKeys: [] }),
    fc.constantFrom(null, [], { sourceAdress: '127.0.0.1' }, { extra: 1 })),
  flags: fc.option(fc.oneof(fc.constantFrom(0, 1, 2, 4, 0x8000, 0x40000000, 0x80000000, -1, 2 ** 32), fc.integer({ min: 0, max: 0xffff })), { nil: undefined }),
  v6: fc.boolean(),
}, { requiredKeys: ['buffers', 'v6'] });

// Mostly valid messages, so that delivery is checked as often as refusal.
export const goodView = view.filter((v) => !(ArrayBuffer.isView(v) && v.byteLength === 0 && (v.buffer as ArrayBuffer & { detached?: boolean }).detached));
export const validMessage = fc.record({
  buffers: fc.oneof(goodView, fc.array(goodView, { maxLength: 5 })),
  to: fc.record({ address: fc.constantFrom('127.0.0.1', '::ffff:127.0.0.1'), port: fc.constant('rx') }),
  control: fc.option(fc.record({
    sourceAddress: fc.option(fc.constantFrom('127.0.0.1', '127.0.0.2', '::ffff:127.0.0.3'), { nil: undefined }),
    interfaceIndex: fc.option(fc.constantFrom(0, 1), { nil: undefined }),
    tos: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    ecn: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  }, { requiredKeys: [] }), { nil: undefined }),
  flags: fc.option(fc.constantFrom(0, 4), { nil: undefined }),
  v6: fc.boolean(),
}, { requiredKeys: ['buffers', 'to', 'v6'] });

export const message = fc.oneof({ arbitrary: validMessage, weight: 3 }, { arbitrary: wildMessage, weight: 2 });

export type Case = { buffers: unknown; to?: unknown; control?: unknown; flags?: unknown; v6: boolean };

export function bytesOf(buffers: unknown): Buffer {
  const list = Array.isArray(buffers) ? buffers : [buffers];
  return Buffer.concat(list.map((v: ArrayBufferView) => Buffer.from(v.buffer as ArrayBuffer, v.byteOffset, v.byteLength)));
}
