// The one planner: every OS-free decision about a send is made here, once, in TypeScript:
// which address literal means what (src/address.ts, cached), the dual-stack rule, the
// transport limit, the flags and source addresses the shim refuses. The result is a plan
// record of fixed layout (native/plan.def) that both implementations read; the addon and
// the ffi-rs backend only turn it into msghdr / WSAMSG and say what the OS answered.
import { markAsUntransferable } from 'node:worker_threads';
import { type IpLiteral, ipLiteral, isKept } from './address';
import { binding } from './binding';
import { invalidArgType, invalidArgValue } from './errors';
import { AB, U16, U32, U8 } from './intrinsics';
import { Kind } from './kind';
import { PLAN_DONTROUTE, PLAN_HAS_TO, PLAN_SIZE, PLAN_SPLIT, PlanAt } from './plan.generated';
import { WSA } from './wsa.generated';


/** @internal `count` plan records over one ArrayBuffer of its own (never pooled, never on V8's heap). */
export class PlanMemory {
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  constructor(count: number) {
    const ab = new AB(count * PLAN_SIZE);
    // The addon keeps a pointer to a socket's record, and the record is reachable (through
    // the socket's state symbol): a transfer must copy it rather than detach it, or the
    // addon would read memory the caller moved away (and, once collected, freed).
    markAsUntransferable(ab);
    this.u8 = new U8(ab);
    this.u16 = new U16(ab);
    this.u32 = new U32(ab);
  }
}

/** @internal What a message asks for, as read once from the caller's object. */
export interface PlanInput {
  to: IpLiteral | null;
  toPort: number;
  source: IpLiteral | null;
  ifindex: number;
  flags: number;
  /** -1: no traffic-class control message. */
  tos: number;
  /** 0: one datagram. */
  segmentSize: number;
  /** The kernel cannot cut this one: send its segments as a batch. */
  split: boolean;
}

/** @internal Why the shim refuses a message before any I/O. */
export interface Refusal {
  wsa: number;
  reason?: string;
}

const MSG_OOB = 0x1;
const MSG_DONTROUTE = 0x4;
const MSG_PARTIAL = 0x8000;

// Flags POSIX code passes that have no Winsock meaning, with what to do instead.
const POSIX_FLAGS: ReadonlyArray<[number, string, string]> = [
  [0x40, 'MSG_DONTWAIT', 'open the socket with nonBlocking: true, or use sendMsg (overlapped)'],
  [0x4000, 'MSG_NOSIGNAL', 'drop it: the shim never raises SIGPIPE'],
  [0x800, 'MSG_CONFIRM', 'drop it'],
];

function flagRefusal(flags: number): Refusal | null {
  const unknown = flags & ~(MSG_OOB | MSG_DONTROUTE | MSG_PARTIAL);
  if (unknown) {
    const named = POSIX_FLAGS.filter(([bit]) => (unknown & bit) !== 0).map(([, name, instead]) => `${name}: ${instead}`);
    return {
      wsa: WSA.EOPNOTSUPP,
      reason: `flags 0x${(unknown >>> 0).toString(16)} are not WSASendMsg flags (MSG.DONTROUTE is the only one a datagram ` +
        `socket takes)${named.length ? `; ${named.join('; ')}` : ''}`,
    };
  }
  // WSASendMsg refuses both on a datagram socket; Linux would ignore OOB on IPv6.
  if (flags & MSG_OOB) return { wsa: WSA.EOPNOTSUPP, reason: 'MSG.OOB is for stream sockets; nothing was sent' };
  if (flags & MSG_PARTIAL) return { wsa: WSA.EOPNOTSUPP, reason: 'MSG.PARTIAL is not valid on a datagram socket (0x8000 is also ' +
    "Linux's MSG_MORE: gather the pieces in one message, buffers: [...]); nothing was sent" };
  return null;
}

const isUdp = (k: Kind): boolean => k === Kind.Udp4 || k === Kind.Udp6;

/**
 * @internal Plans one message into record `at` of `mem`: null, or what the shim refuses
 * (nothing is written then). `peer`: the connected peer, for a message without `to`.
 */
export function planMessage(mem: PlanMemory, at: number, kind: Kind, peer: IpLiteral | null, m: PlanInput): Refusal | null {
  const refused = flagRefusal(m.flags);
  if (refused) return refused;
  const socketV4 = kind === Kind.Udp4 || kind === Kind.Raw4;
  const to = m.to;
  // An IPv6 destination on an IPv4 socket: Linux says EAFNOSUPPORT, Winsock WSAEOPNOTSUPP;
  // the shim answers for both.
  if (to && socketV4 && to.family === 6) return { wsa: WSA.EAFNOSUPPORT };
  if (to?.scope === -1 || m.source?.scope === -1) {
    return { wsa: WSA.EINVAL, reason: `the zone of ${to?.scope === -1 ? to.text : m.source!.text} names no interface; nothing was sent` };
  }
  const dest = to ?? peer;
  // The dual-stack rule (Windows'): a v4 or v4-mapped destination takes an IPv4 source.
  const destV4 = dest ? dest.v4 : socketV4;
  const source = m.source;
  if (source && dest) {
    if (source.v4 !== destV4) {
      const [src, dst] = source.v4 ? ['IPv4', 'IPv6'] : ['IPv6', 'IPv4'];
      return {
        wsa: WSA.EINVAL,
        reason: `source address ${source.text} is ${src} but the destination is ${dst}: the source must be of the destination's ` +
          'family, v4-mapped counting as IPv4; nothing was sent',
      };
    }
    // Linux refuses a loopback IPv4 source to elsewhere (EINVAL) but sends an IPv6 one,
    // which would leave the host: the shim refuses both.
    if (source.loopback && !dest.loopback) {
      return { wsa: WSA.EINVAL, reason: `source address ${source.text} is a loopback address and the destination is not; nothing was sent` };
    }
  }
  if (m.segmentSize && !isUdp(kind)) return { wsa: WSA.EINVAL, reason: 'segmentSize applies to UDP sockets only' };

  // From here to the end nothing calls a method the caller could have replaced (fill, set,
  // subarray): plain index writes only, so no caller code runs while a record is half written.
  const base = at * PLAN_SIZE;
  const u32 = mem.u32;
  for (let w = base >> 2, end = (base + PLAN_SIZE) >> 2; w < end; w++) u32[w] = 0;
  const u8 = mem.u8;
  let flags = m.flags & MSG_DONTROUTE ? PLAN_DONTROUTE : 0;
  if (m.split) flags |= PLAN_SPLIT;
  if (to) {
    flags |= PLAN_HAS_TO;
    writeEndpoint(mem, base, to, m.toPort);
  }
  u8[base + PlanAt.FLAGS] = flags;
  // The transport's limit for this destination, so that no byte leaves and both OSes agree.
  mem.u32[(base + PlanAt.MAX_BYTES) >> 2] = isUdp(kind) ? (destV4 ? 65507 : 65527) : 0;
  mem.u16[(base + PlanAt.SEGMENT) >> 1] = m.segmentSize;
  if (m.tos >= 0) {
    u8[base + PlanAt.TOS_KIND] = destV4 ? 4 : 6;
    u8[base + PlanAt.TOS] = m.tos;
  }
  if (source || m.ifindex) {
    let ifindex = m.ifindex;
    if (source && source.scope > 0 && ifindex === 0) ifindex = source.scope;
    u8[base + PlanAt.PKTINFO] = destV4 ? 4 : 6;
    if (source) {
      // A v4 destination takes the IPv4 address: the last four bytes of a v4-mapped source.
      const from = destV4 && source.family === 6 ? 12 : 0;
      // Lengths by family, not b.length: a typed array's `length` is a prototype getter a
      // caller can replace, and nothing of the caller's may run while a record is written.
      const b = source.bytes;
      for (let i = from, n = source.family === 4 ? 4 : 16; i < n; i++) u8[base + PlanAt.SOURCE + i - from] = b[i]!;
    }
    mem.u32[(base + PlanAt.IFINDEX) >> 2] = ifindex;
  }
  return null;
}

function writeEndpoint(mem: PlanMemory, base: number, a: IpLiteral, port: number): void {
  mem.u8[base + PlanAt.TO_FAMILY] = a.family;
  const b = a.bytes;
  for (let i = 0, n = a.family === 4 ? 4 : 16; i < n; i++) mem.u8[base + PlanAt.TO_ADDR + i] = b[i]!;
  mem.u32[(base + PlanAt.TO_SCOPE) >> 2] = a.scope > 0 ? a.scope : 0;
  mem.u16[(base + PlanAt.TO_PORT) >> 1] = port;
}

/** @internal A bind or connect address as a record of its own (destination fields only). */
export function endpointRecord(a: IpLiteral, port: number): Uint8Array {
  const mem = new PlanMemory(1);
  writeEndpoint(mem, 0, a, port);
  return mem.u8;
}

/**
 * An IP literal (IPv4, IPv6 with optional %scope, v4-mapped), parsed: host names are
 * refused, since a per-datagram send must never wait on DNS.
 * @internal
 */
export function validateIpLiteral(value: unknown, name: string): IpLiteral {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  const a = ipLiteral(value, binding.nameToIndex);
  if (a === null) throw invalidArgValue(name, value, 'must be an IPv4 or IPv6 literal (resolve host names with dns.lookup first)');
  return a;
}

const UNSET: unique symbol = Symbol('unset');

/**
 * @internal The literal that the last message read named in one role (destination,
 * source): a sender that repeats the text finds it with one comparison, where validating it
 * again cost about 80 instructions. It holds only a literal that the cache keeps for its
 * text, so a zone name is still looked up on every use.
 */
export class LiteralMemo {
  text: unknown = UNSET;
  literal: IpLiteral | null = null;
}

/** @internal {@link validateIpLiteral}, remembering the literal in `memo` (see there). */
export function memoLiteral(value: unknown, name: string, memo: LiteralMemo): IpLiteral {
  const a = validateIpLiteral(value, name);
  if (isKept(a)) {
    memo.text = value;
    memo.literal = a;
  }
  return a;
}
