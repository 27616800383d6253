// The constructors the shim uses while it sends, taken at load as Node core's primordials are:
// a caller who later replaces globalThis.Uint8Array (or any of these) must not get its code
// run inside a send, nor see, keep and later rewrite the bytes of a parsed address or a
// plan record.
/** @internal */ export const U8: Uint8ArrayConstructor = Uint8Array;
/** @internal */ export const U16: Uint16ArrayConstructor = Uint16Array;
/** @internal */ export const U32: Uint32ArrayConstructor = Uint32Array;
/** @internal */ export const F64: Float64ArrayConstructor = Float64Array;
/** @internal */ export const DV: DataViewConstructor = DataView;
/** @internal */ export const AB: ArrayBufferConstructor = ArrayBuffer;
