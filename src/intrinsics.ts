// What the shim calls while a send or receive runs, taken at load as Node core's primordials
// are. A caller who later replaces globalThis.Uint8Array, a %TypedArray%.prototype getter or
// method, a DataView method, Symbol.species or Math.* must not get its code run there: it
// could re-enter the shim, or be handed memory the shim writes system-call structures into
// (the ffi-rs arena, a plan record) and rewrite it after validation (review: a species
// constructor given the plan records redirected a batch message; a `length` getter that
// re-entered rewrote a socket's plan record under the send being planned).
// Methods go through Function.prototype.call as it was at load (V8 inlines these calls).

const uncurry: <F extends (...a: never[]) => unknown>(fn: F) => (self: unknown, ...a: Parameters<F>) => ReturnType<F> =
  Function.prototype.bind.bind(Function.prototype.call) as never;
const getter = <T>(proto: object, key: string): ((self: unknown) => T) =>
  uncurry(Object.getOwnPropertyDescriptor(proto, key)!.get! as () => T);

/** @internal */ export const U8: Uint8ArrayConstructor = Uint8Array;
/** @internal */ export const U16: Uint16ArrayConstructor = Uint16Array;
/** @internal */ export const U32: Uint32ArrayConstructor = Uint32Array;
/** @internal */ export const I32: Int32ArrayConstructor = Int32Array;
/** @internal */ export const F64: Float64ArrayConstructor = Float64Array;
/** @internal */ export const DV: DataViewConstructor = DataView;
/** @internal */ export const AB: ArrayBufferConstructor = ArrayBuffer;
/** @internal */ export const isView: (v: unknown) => v is ArrayBufferView = ArrayBuffer.isView;
/** @internal */ export const isArray: (v: unknown) => v is unknown[] = Array.isArray;
const defineProperty = Object.defineProperty;

/**
 * @internal A new array of `at(0) .. at(n - 1)` (called in order), each its own element. An
 * array filled by assignment (`a[i] = v`, push) is not: a caller who defined an index setter
 * on Array.prototype or Object.prototype gets the value instead, leaving a hole that a later
 * read answers through its getter, after validation, or from inside the addon reading the
 * array (review: that re-entered a native batch and crashed the process). Array.from over a
 * prototype-less source never asks a setter, but costs ~300 ns + 35 ns an element (third
 * review: +30% on a batch of 5-view messages); this costs what a plain loop does.
 */
export function ownArray<T>(n: number, at: (i: number) => T): T[] {
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    const v = at(i);
    out[i] = v;
    // Assignment, checked: a setter that took the value left the length as it was. (A
    // setter that defined an element itself chose what the caller could have passed.)
    if (out.length !== i + 1) defineProperty(out, i, { __proto__: null, value: v, writable: true, enumerable: true, configurable: true } as PropertyDescriptor);
  }
  return out;
}
/** @internal */ export const { min, max, floor, ceil } = Math;

const taProto = Object.getPrototypeOf(Uint8Array.prototype) as Uint8Array;
/** @internal %TypedArray%.prototype getters: a view's own properties may lie, and these say what the OS sees. */
export const taByteLength = getter<number>(taProto, 'byteLength');
/** @internal */ export const taByteOffset = getter<number>(taProto, 'byteOffset');
/** @internal */ export const taBuffer = getter<ArrayBufferLike>(taProto, 'buffer');
/** @internal */ export const taLength = getter<number>(taProto, 'length');
/** @internal */ export const dvByteLength = getter<number>(DataView.prototype, 'byteLength');
/** @internal */ export const dvByteOffset = getter<number>(DataView.prototype, 'byteOffset');
/** @internal */ export const dvBuffer = getter<ArrayBufferLike>(DataView.prototype, 'buffer');
/** @internal */ export const taSet = uncurry(taProto.set) as (target: Uint8Array, source: ArrayLike<number>, offset?: number) => void;
/** @internal */ export const taFill = uncurry(taProto.fill) as (target: Uint8Array, value: number, start?: number, end?: number) => Uint8Array;
/**
 * @internal `at` validates the view first (it throws once the view lies outside its buffer)
 * and, unlike `slice`, creates nothing: no `constructor` of the caller's is consulted.
 */
export const taAt = uncurry(taProto.at) as (view: ArrayBufferView, i: number) => unknown;

/** @internal bytes [start, end) of a Uint8Array as a new view of the same memory: subarray without Symbol.species. */
export function u8sub(a: Uint8Array, start: number, end: number): Uint8Array {
  return new U8(taBuffer(a), taByteOffset(a) + start, end - start);
}

/** @internal bytes [start, end) of a Uint8Array copied: slice without Symbol.species. */
export function u8slice(a: Uint8Array, start: number, end: number): Uint8Array {
  const out = new U8(end - start);
  taSet(out, u8sub(a, start, end));
  return out;
}

/**
 * @internal A DataView whose methods and getters are DataView's as they were at load: its
 * prototype holds its own frozen copies, so a caller who replaces DataView.prototype.setUint32
 * afterwards is never consulted. Called as methods (`dv.setUint32(...)`) V8 still inlines
 * them, which it does not for uncurried calls (it needs the receiver's map from the call's
 * property load): those cost ffi-rs ~3,300 instructions a send.
 */
export const SafeDataView: DataViewConstructor =
  class SafeDataView extends (DataView as new (b: ArrayBufferLike, o?: number, l?: number) => DataView) {} as unknown as DataViewConstructor;
for (const key of Reflect.ownKeys(DataView.prototype)) {
  if (key === 'constructor') continue;
  Object.defineProperty(SafeDataView.prototype, key, Object.getOwnPropertyDescriptor(DataView.prototype, key)!);
}
Object.freeze(SafeDataView.prototype);
Object.freeze(SafeDataView);

// --- what ffi-rs's own JavaScript uses on every call ---------------------------------------
// ffi-rs marshals each libc call in JavaScript (index.js wrapLoad: paramsType.map(...), which
// makes its result through Array's species, and Array.prototype.includes) with the builtins
// as they are at that moment: a caller who replaced one runs code there, where it can change
// how ffi-rs passes the arguments of sendmsg(2) (review: one closed the socket there and
// opened another on its fd number, and the datagram left from that one). So before every
// libc call the ffi-rs backend asks tamperedArrays() and makes no call while it answers.
// Descriptors, not reads: reading a property could run a getter (~35 ns each; a ffi-rs send
// costs ~10 µs).
const getOwn = Object.getOwnPropertyDescriptor;
interface Watched { obj: object; key: PropertyKey; was: PropertyDescriptor | undefined }
const watched: readonly Watched[] = [
  { obj: Array.prototype, key: 'map', was: getOwn(Array.prototype, 'map') },
  { obj: Array.prototype, key: 'includes', was: getOwn(Array.prototype, 'includes') },
  { obj: Array.prototype, key: 'constructor', was: getOwn(Array.prototype, 'constructor') },
  { obj: Array, key: Symbol.species, was: getOwn(Array, Symbol.species) },
];

/** @internal The builtin a caller replaced that ffi-rs's calls would use, or null. */
export function tamperedArrays(): string | null {
  for (let i = 0; i < watched.length; i++) {
    const w = watched[i]!;
    const now = getOwn(w.obj, w.key);
    const was = w.was!;
    if (!now || now.value !== was.value || now.get !== was.get || now.set !== was.set) {
      return `${w.obj === Array ? 'Array' : 'Array.prototype'}[${String(w.key)}]`;
    }
  }
  return null;
}
