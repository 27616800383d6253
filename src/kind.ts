/** @internal Socket kinds in the native order (native/shim.h's SockKind); no imports, so both implementations can use it. */
export const enum Kind { Udp4 = 0, Udp6 = 1, Raw4 = 2, Raw6 = 3 }
