// IP literals to bytes and back, as inet_pton/inet_ntop do: the one parser of address
// literals (to, sourceAddress, bind, connect) for both implementations. The native side
// only ever sees the bytes (native/plan.def), so no string crosses the boundary per send.
// formatIp serves the ffi-rs backend's receive side (the addon formats with inet_ntop).
import { U8 } from './intrinsics';


function parseV4(text: string, out: Uint8Array, at: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    // inet_pton: decimal only, no leading zeros, each part 0..255.
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || +p > 255) return false;
    out[at + i] = +p;
  }
  return true;
}

function parseV6(text: string, out: Uint8Array): boolean {
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const words: number[] = [];
  const all = [...head, ...(halves.length === 2 ? ['::'] : []), ...tail];
  const expanded: Array<number | '::'> = [];
  for (let i = 0; i < all.length; i++) {
    const g = all[i];
    if (g === '::') { expanded.push('::'); continue; }
    if (i === all.length - 1 && g.includes('.')) {
      const v4 = new U8(4);
      if (!parseV4(g, v4, 0)) return false;
      expanded.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
    expanded.push(parseInt(g, 16));
  }
  const fixed = expanded.filter((w) => w !== '::').length;
  if (halves.length === 2) {
    if (fixed > 7) return false;
    for (const w of expanded) {
      if (w === '::') for (let k = 0; k < 8 - fixed; k++) words.push(0);
      else words.push(w);
    }
  } else {
    if (fixed !== 8) return false;
    for (const w of expanded) words.push(w as number);
  }
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  return true;
}

/**
 * @internal An IP literal parsed once: what the planner and the boundary need of it. A
 * repeated literal (a server answering the same clients, a sender's fixed destination)
 * costs one Map lookup.
 */
export interface IpLiteral {
  readonly text: string;
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
  /** The IPv6 zone as an interface index; -1 for a `%zone` that names no interface. */
  readonly scope: number;
  /** IPv4 or v4-mapped IPv6: the dual-stack rule's "v4" (it takes IN_PKTINFO and an IPv4 source). */
  readonly v4: boolean;
  /** 127.0.0.0/8, ::1, or v4-mapped 127.0.0.0/8. */
  readonly loopback: boolean;
}

/**
 * IP literal text to bytes, as inet_pton does, with an optional `%zone` (a number or an
 * interface name, looked up with `nameToIndex`). null if it is not a literal. A zone that
 * names no interface gives scope -1: it must not silently become scope 0 (any interface),
 * and the planner refuses it (WSAEINVAL, as Winsock's and glibc's parsers do).
 */
export function parseIp(text: string, nameToIndex: (name: string) => number): IpLiteral | null {
  if (text.length > 63) return null;
  const v4 = new U8(4);
  if (parseV4(text, v4, 0)) return { text, family: 4, bytes: v4, scope: 0, v4: true, loopback: v4[0] === 127 };
  const pct = text.indexOf('%');
  const host = pct < 0 ? text : text.slice(0, pct);
  const bytes = new U8(16);
  if (!parseV6(host, bytes)) return null;
  let scope = 0;
  if (pct >= 0) {
    const zone = text.slice(pct + 1);
    if (zone === '') return null;
    if (/^\d+$/.test(zone) && +zone <= 0xffffffff) scope = +zone;
    else scope = nameToIndex(zone) || -1;
  }
  const a: IpLiteral = { text, family: 6, bytes, scope, v4: false, loopback: false };
  const mapped = isV4Mapped(a);
  const loop = mapped ? bytes[12] === 127 : bytes.every((b, i) => b === (i === 15 ? 1 : 0));
  return { text, family: 6, bytes, scope, v4: mapped, loopback: loop };
}

// Bounded, so that hostile input cannot grow it; a literal with a zone name is not
// remembered (the interface it names may appear, go or be renamed).
const known = new Map<string, IpLiteral | null>();
const KNOWN_MAX = 4096;
let last: IpLiteral | null = null;

/** @internal {@link parseIp}, cached: null if `text` is not an IP literal. */
export function ipLiteral(text: string, nameToIndex: (name: string) => number): IpLiteral | null {
  // Most sends repeat a literal of the send before (the same string object): no hashing then.
  if (text === last?.text) return last;
  let a = known.get(text);
  if (a === undefined) {
    a = parseIp(text, nameToIndex);
    // A zone name is looked up on every use: interfaces come, go and are renamed.
    if (a !== null && a.family === 6 && /%.*[^0-9]/.test(text)) return a;
    if (known.size >= KNOWN_MAX) known.clear();
    known.set(text, a);
  }
  if (a) last = a;
  return a;
}

/** @internal Whether {@link ipLiteral} keeps `a` as what its text means (not so with a zone name). */
export function isKept(a: IpLiteral): boolean {
  return known.get(a.text) === a;
}

/** @internal inet_ntop: dotted quad, or RFC 5952 text (with glibc's embedded-IPv4 forms). */
export function formatIp(family: 4 | 6, b: Uint8Array, at = 0): string {
  if (family === 4) return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[at + 2 * i] << 8) | b[at + 2 * i + 1]);
  // The longest run of two or more zero words becomes "::" (the first one on a tie).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (bestLen < 2) best = -1;
  // ::a.b.c.d (but not ::1 or ::) and ::ffff:a.b.c.d, as glibc writes them.
  const embedded = best === 0 && (bestLen === 6 || (bestLen === 7 && w[7] !== 1) || (bestLen === 5 && w[5] === 0xffff));
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      out += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    if (embedded && i === 6) {
      out += formatIp(4, b, at + 12);
      break;
    }
    out += w[i].toString(16) + (i < 7 ? ':' : '');
  }
  return out;
}

/** @internal ::ffff:a.b.c.d */
export function isV4Mapped(a: { family: 4 | 6; bytes: Uint8Array }): boolean {
  if (a.family !== 6) return false;
  for (let i = 0; i < 10; i++) if (a.bytes[i] !== 0) return false;
  return a.bytes[10] === 0xff && a.bytes[11] === 0xff;
}
