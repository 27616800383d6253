// native/encode.cc's plan_send, for the ffi-rs backend: the flag, size and family checks
// Linux does not make itself, and which control messages a send carries. The differential
// test (test/differential.test.ts) holds the two to the same answers.
import { WSA } from '../wsa.generated';
import { type IpAddr, isV4Mapped } from './address';

/** @internal Socket kinds in the addon's order (SockKind). */
export const enum Kind { Udp4 = 0, Udp6 = 1, Raw4 = 2, Raw6 = 3 }

/** @internal The pktinfo/TOS/segment decision for one send (PktinfoPlan). */
export interface Plan {
  /** 0 none, 4 IP_PKTINFO, 6 IPV6_PKTINFO */
  pktinfo: 0 | 4 | 6;
  /** 4 or 16 bytes; all zero = the kernel's choice */
  addr: Uint8Array | null;
  ifindex: number;
  /** 0 none, 4 IP_TOS, 6 IPV6_TCLASS */
  tosKind: 0 | 4 | 6;
  tos: number;
  segmentSize: number;
}

const MSG_OOB = 0x1;
const MSG_DONTROUTE = 0x4;
const MSG_PARTIAL = 0x8000;
/** The kernel's UDP_MAX_SEGMENTS. */
const MAX_SEGMENTS = 64;

const isV4ish = (a: IpAddr): boolean => a.family === 4 || isV4Mapped(a);
const isUdp = (k: Kind): boolean => k === Kind.Udp4 || k === Kind.Udp6;

/** @internal 0 and `plan` filled, or the Winsock number to fail with. */
export function planSend(kind: Kind, peerFamily: number, to: IpAddr | null, source: IpAddr | null, ifindex: number,
  flags: number, tos: number, segmentSize: number, totalBytes: number, plan: Plan): number {
  plan.pktinfo = 0; plan.addr = null; plan.ifindex = 0; plan.tosKind = 0; plan.tos = 0; plan.segmentSize = 0;
  if (flags & ~(MSG_OOB | MSG_DONTROUTE | MSG_PARTIAL)) return WSA.EOPNOTSUPP;
  if (flags & (MSG_OOB | MSG_PARTIAL)) return WSA.EOPNOTSUPP;
  const socketV4 = kind === Kind.Udp4 || kind === Kind.Raw4;
  if (to && socketV4 && to.family === 6) return WSA.EAFNOSUPPORT;
  const destV4 = to ? isV4ish(to) : peerFamily !== 0 ? peerFamily === 4 : socketV4;
  if (isUdp(kind) && totalBytes > (destV4 ? 65507 : 65527)) return WSA.EMSGSIZE;
  if (segmentSize) {
    if (!isUdp(kind) || segmentSize > 0xffff) return WSA.EINVAL;
    if (Math.ceil(totalBytes / segmentSize) > MAX_SEGMENTS) return WSA.EINVAL;
    plan.segmentSize = segmentSize;
  }
  if (tos >= 0) {
    plan.tosKind = destV4 ? 4 : 6;
    plan.tos = tos & 0xff;
  }
  if (!source && ifindex === 0) return 0;
  if (source) {
    if (isV4ish(source) !== destV4) return WSA.EINVAL;
    if (source.scope !== 0 && ifindex === 0) ifindex = source.scope;
  }
  // Dual-stack rule (Windows'): a v4 or v4-mapped destination takes IN_PKTINFO.
  if (destV4) {
    plan.pktinfo = 4;
    if (source) plan.addr = source.family === 4 ? source.bytes : source.bytes.subarray(12, 16);
  } else {
    plan.pktinfo = 6;
    if (source) plan.addr = source.bytes;
  }
  plan.ifindex = ifindex;
  return 0;
}
