// Argument validation: everything a caller can get wrong is refused here, with Node's
// error codes, before any I/O. The native side only asserts what passes.
import { types } from 'node:util';
import { invalidArgType, invalidArgValue, outOfRange } from './errors';
import {
  U8, dvBuffer, dvByteLength, dvByteOffset, isArray, isView, ownArray, taAt, taBuffer, taByteLength, taByteOffset, taSet,
} from './intrinsics';

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

export function validateKeys(value: Record<string, unknown>, name: string, allowed: ReadonlySet<string>): void {
  for (const key in value) {
    // An unknown key is most often a typo ("sourceAdress"); ignoring it would send the
    // datagram other than the caller meant.
    if (!allowed.has(key) && value[key] !== undefined) throw invalidArgValue(`${name}.${key}`, value[key], 'is not a known option');
  }
}

// A view's own properties can lie (`Object.defineProperty(view, 'byteLength', ...)`), and
// getters run user code: lengths and buffers are read through the intrinsic getters
// (src/intrinsics.ts, taken at load), which say what the native side will see.
const isDataView = types.isDataView;
const isUint8Array = types.isUint8Array;

/**
 * @internal The view's real byte length, whatever its own properties say: 0 once detached,
 * or once its resizable ArrayBuffer shrank below it (where a DataView's getter throws).
 */
export function viewByteLength(view: ArrayBufferView): number {
  if (!isDataView(view)) return taByteLength(view);
  try {
    return dvByteLength(view);
  } catch {
    return 0;
  }
}

/** @internal The bytes a view really covers, as a Uint8Array over the same memory. */
export function viewBytes(view: ArrayBufferView): Uint8Array {
  return isDataView(view)
    ? new U8(dvBuffer(view), dvByteOffset(view), dvByteLength(view))
    : new U8(taBuffer(view), taByteOffset(view), taByteLength(view));
}

/**
 * @internal Copies a view's bytes into `into` at `at` and returns where they end: by the
 * intrinsic getters and TypedArray.prototype.set as they were at load (no user code runs).
 */
export function copyView(into: Uint8Array, view: ArrayBufferView, at: number): number {
  // set() converts element by element between types: only bytes onto bytes is a copy.
  const bytes = isUint8Array(view) ? view : viewBytes(view);
  taSet(into, bytes, at);
  return at + taByteLength(bytes);
}

const DETACHED = 'must not be backed by a detached ArrayBuffer';
const OUTSIDE = 'must not lie outside its ArrayBuffer (which was resized smaller than the view)';

/**
 * @internal Why a view cannot be sent, or null. Two kinds of view measure 0 bytes without
 * being empty: one whose ArrayBuffer was transferred away (Node 20 has no `detached`
 * property yet), and one left outside its resizable ArrayBuffer by a resize (every getter
 * says 0). Sending either as an empty datagram would put on the wire what the caller never
 * wrote. The addon refuses every 0-byte view until src/ has asked this (send.ts
 * retryEmpty), so the rule is here once.
 */
export function unusableView(view: ArrayBufferView): string | null {
  if (viewByteLength(view) !== 0) return null;
  const dv = isDataView(view);
  const buf = (dv ? dvBuffer(view) : taBuffer(view)) as ArrayBuffer;
  try {
    new U8(buf, 0, 0);
  } catch {
    return DETACHED;
  }
  try {
    if (dv) dvByteLength(view);
    else taAt(view, 0);
  } catch {
    return OUTSIDE;
  }
  return null;
}

/**
 * A view and its real length; 0-length views are checked for detachment (a detached view
 * has length 0 too). `index`: the element of `name` it is, named only in an error (a name
 * built per view costs more than measuring it).
 */
function validateView(value: unknown, name: string, index = -1): number {
  if (!isView(value)) throw invalidArgType(index < 0 ? name : `${name}[${index}]`, 'an instance of Buffer, TypedArray, or DataView', value);
  const length = viewByteLength(value);
  if (length === 0) {
    const why = unusableView(value);
    if (why !== null) throw invalidArgValue(index < 0 ? name : `${name}[${index}]`, value, why);
  }
  return length;
}

function readElement(list: unknown[], i: number, name: string): ArrayBufferView {
  const v: unknown = list[i];
  if (!isView(v)) throw invalidArgType(`${name}[${i}]`, 'an instance of Buffer, TypedArray, or DataView', v);
  return v;
}

/**
 * The payload as read once: a single view, or a new array holding each element of the
 * caller's array as it was read (an index getter or a Proxy is consulted once per element).
 * Reading may run the caller's code, which may detach or resize what was read before, so
 * lengths are measured afterwards, by {@link measureBuffers}, once every read of the call is done.
 */
export function readBuffers(value: unknown, name: string): ArrayBufferView | ArrayBufferView[] {
  if (Array.isArray(value)) {
    const n: unknown = value.length;  // once: a Proxy may answer anything, each time
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_BUFFERS) throw outOfRange(`${name}.length`, `an integer <= ${MAX_BUFFERS}`, n);
    // The usual few views as an array literal (elements read in order): `new Array(n)` is a
    // call into the runtime, about 85 instructions a message more.
    switch (n) {
      case 0: return [];
      case 1: return [readElement(value, 0, name)];
      case 2: return [readElement(value, 0, name), readElement(value, 1, name)];
      case 3: return [readElement(value, 0, name), readElement(value, 1, name), readElement(value, 2, name)];
      case 4: return [readElement(value, 0, name), readElement(value, 1, name), readElement(value, 2, name), readElement(value, 3, name)];
    }
    return ownArray(n, (i) => readElement(value, i, name));
  }
  if (isView(value)) return value;
  throw invalidArgType(name, 'an ArrayBufferView or an array of them', value);
}

/** The real total byte length of what readBuffers returned; runs no user code. Throws for a detached view. */
export function measureBuffers(views: ArrayBufferView | readonly ArrayBufferView[], name: string): number {
  if (!isArray(views)) return validateView(views, name);
  let total = 0;
  for (let i = 0; i < views.length; i++) total += validateView(views[i], name, i);
  return total;
}

export function validateAbortSignal(value: unknown, name: string): asserts value is AbortSignal {
  // Both listener methods: a signal that can be listened to but not let go of would strand
  // the operation's completion (the listener is removed when it completes).
  if (value === null || typeof value !== 'object' || !('aborted' in value) || typeof (value as AbortSignal).addEventListener !== 'function' ||
    typeof (value as AbortSignal).removeEventListener !== 'function') {
    throw invalidArgType(name, 'an instance of AbortSignal', value);
  }
}

export function validateFunction(value: unknown, name: string): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value);
}
