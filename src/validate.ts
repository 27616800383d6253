// Argument validation: everything a caller can get wrong is refused here, with Node's
// error codes, before any I/O. The native side only asserts what passes.
import { BlockList, isIP } from 'node:net';
import { invalidArgType, invalidArgValue, outOfRange } from './errors';

/** Most buffers one datagram may be gathered from (IOV_MAX on Linux; the same limit on Windows). */
export const MAX_BUFFERS = 1024;

export function validateObject(value: unknown, name: string): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidArgType(name, 'of type object', value);
}

export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
}

export function validateInteger(value: unknown, name: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) throw outOfRange(name, `an integer >= ${min} and <= ${max}`, value);
}

// Literals already seen valid, with what the send checks need to know of each (LOOPBACK,
// V4): a busy sender repeats the same few addresses, and isIP (let alone BlockList) is the
// largest part of validating a message. Bounded, so hostile input cannot grow it.
const knownLiterals = new Map<string, number>();
const KNOWN_LITERALS_MAX = 4096;
const LOOPBACK = 1;
const V4 = 2;
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
const v4Mapped = new BlockList();
v4Mapped.addSubnet('::ffff:0.0.0.0', 96, 'ipv6');

/** An IP literal (IPv4, IPv6 with optional %scope, v4-mapped); host names are refused. */
export function validateIpLiteral(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (knownLiterals.has(value)) return;
  const family = value.length > 63 ? 0 : isIP(value);
  if (family === 0) {
    throw invalidArgValue(name, value, 'must be an IPv4 or IPv6 literal (resolve host names with dns.lookup first)');
  }
  if (knownLiterals.size >= KNOWN_LITERALS_MAX) knownLiterals.clear();
  const bare = value.split('%', 1)[0]!;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  knownLiterals.set(value, (loopback.check(bare, type) ? LOOPBACK : 0) | (family === 4 || v4Mapped.check(bare, type) ? V4 : 0));
}

function literalFlags(value: string): number {
  const known = knownLiterals.get(value);
  if (known !== undefined) return known;
  validateIpLiteral(value, 'address');
  return knownLiterals.get(value)!;
}

/** @internal Whether a literal that validateIpLiteral accepted is a loopback address (127/8, ::1, v4-mapped 127/8). */
export function isLoopbackLiteral(value: string): boolean {
  return (literalFlags(value) & LOOPBACK) !== 0;
}

/** @internal Whether a literal that validateIpLiteral accepted is IPv4 or v4-mapped IPv6 (the dual-stack rule's "v4"). */
export function isV4Literal(value: string): boolean {
  return (literalFlags(value) & V4) !== 0;
}

export function validateKeys(value: Record<string, unknown>, name: string, allowed: ReadonlySet<string>): void {
  for (const key in value) {
    // An unknown key is most often a typo ("sourceAdress"); ignoring it would send the
    // datagram other than the caller meant.
    if (!allowed.has(key) && value[key] !== undefined) throw invalidArgValue(`${name}.${key}`, value[key], 'is not a known option');
  }
}

/** @internal A view whose ArrayBuffer was transferred away (Node 20 has no `detached` property yet). */
export function isDetached(view: ArrayBufferView): boolean {
  if (view.byteLength !== 0) return false;
  const buf = view.buffer as ArrayBuffer & { detached?: boolean };
  if (typeof buf.detached === 'boolean') return buf.detached;
  try {
    new Uint8Array(buf);
    return false;
  } catch {
    return true;
  }
}

function validateView(value: unknown, name: string): ArrayBufferView {
  if (!ArrayBuffer.isView(value)) throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', value);
  if (isDetached(value)) throw invalidArgValue(name, value, 'must not be backed by a detached ArrayBuffer');
  return value;
}

/** Returns the total byte length. */
export function validateBuffers(value: unknown, name: string): number {
  if (Array.isArray(value)) {
    if (value.length > MAX_BUFFERS) throw outOfRange(`${name}.length`, `<= ${MAX_BUFFERS}`, value.length);
    let total = 0;
    for (let i = 0; i < value.length; i++) total += validateView(value[i], `${name}[${i}]`).byteLength;
    return total;
  }
  if (ArrayBuffer.isView(value)) return validateView(value, name).byteLength;
  throw invalidArgType(name, 'an ArrayBufferView or an array of them', value);
}

export function validateAbortSignal(value: unknown, name: string): asserts value is AbortSignal {
  if (value === null || typeof value !== 'object' || !('aborted' in value) || typeof (value as AbortSignal).addEventListener !== 'function') {
    throw invalidArgType(name, 'an instance of AbortSignal', value);
  }
}

export function validateFunction(value: unknown, name: string): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value);
}
