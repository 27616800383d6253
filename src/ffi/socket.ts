// The ffi-rs backend's socket: platform/posix (socket.cc, send.cc, recv.cc, msg.cc,
// errors.cc) again, in TypeScript over libc. Messages are built in the thread's arena
// (payload copied in, since JS memory has no address to put in an iovec) and handed to
// sendmsg/sendmmsg/recvmsg; parked operations wait for readiness in poll(2) on a libuv
// threadpool thread, so the event loop never blocks.
import { formatIp, isV4Mapped } from '../address';
import { ICMP_OFF, ICMP_ON, RAW_BATCH_FIELDS, type EachFailure, type NativeSocket, type RawBatch, type RawIcmp, type SendFailure } from '../binding';
import { ERRNO_WSA, ICMP_WSA } from '../errno.generated';
import {
  AB, I32, SafeDataView, isView as isArrayBufferView, ownArray, U8, ceil, floor, min, taBuffer, taByteLength, taByteOffset, taFill, taLength, taSet, u8slice, u8sub, max as maxOf,
} from '../intrinsics';
import { MAX_BUFFERS, unusableView, viewByteLength, viewBytes } from '../validate';
import { WSA } from '../wsa.generated';
import { LINUX_LP64 as A } from './abi';
import { Kind } from '../kind';
import { PLAN_AS_BEFORE, PLAN_DONTROUTE, PLAN_HAS_TO, PLAN_SIZE, PLAN_SPLIT, PlanAt } from '../plan.generated';
import { ARENA_SIZE, base, closeGuarded, errno, guardFd, libc, mem, view } from './libc';

// --- the arena's regions -------------------------------------------------------------
const HDRS = 0;                      // msghdr / mmsghdr array of the call being made
const RECORDS = 64 * 1024;           // per message: iovec, sockaddr, control
const RECORD = 144;                  //   16 + 32 + 88, rounded to 16
const DATA = 256 * 1024;             // payload bytes
const DATA_END = ARENA_SIZE - 128 * 1024;
const POLLFDS = DATA_END;            // the poller's pollfd array: the polling thread's alone while it waits
const MAX_POLLFDS = 8192;
const SCRATCH = ARENA_SIZE - 64 * 1024;  // option values, addresses, the error queue
const MAX_CHUNK = min(RECORDS / 64, floor((DATA - RECORDS) / RECORD));

const CMSG_HDR = A['CMSG_LEN(0)'];
const align = (n: number): number => (n + A['CMSG_ALIGN(1)'] - 1) & ~(A['CMSG_ALIGN(1)'] - 1);
const SPACE_PKTINFO4 = align(CMSG_HDR + A['sizeof in_pktinfo']);
const SPACE_PKTINFO6 = align(CMSG_HDR + A['sizeof in6_pktinfo']);
const SPACE_INT = align(CMSG_HDR + 4);

const E = Object.fromEntries(ERRNO_WSA.map(([name, number]) => [name, number])) as Record<string, number>;
const EAGAIN = E.EAGAIN;
const EINTR = E.EINTR;

const WSA_OF_ERRNO = new Map(ERRNO_WSA.map(([, number, wsa]) => [number, wsa]));
// Errnos an ICMP error can leave pending on the socket; anything else came from this call.
// errors.cc's is_icmp_errno: what the kernel's icmp_err_convert / icmpv6_err_convert give.
const ICMP_ERRNOS = new Set([E.ECONNREFUSED, E.EHOSTUNREACH, E.ENETUNREACH, A.EPROTO, E.EHOSTDOWN, A.ENOPROTOOPT, E.EMSGSIZE,
  E.EOPNOTSUPP, A.ENONET, E.EACCES]);
// The kernel refusing to segment (before sending anything).
const SEGMENT_REFUSALS = new Set([A.EIO, E.EINVAL, A.ENOPROTOOPT, E.EOPNOTSUPP, E.EMSGSIZE]);
/** posix.h's kSwallowTries: ICMP errors one call swallows in a row (a flood leaves new ones pending). */
const SWALLOW_TRIES = 4;
/** send.cc's refusal_for_good: the refusals no ICMP error passes for, which turn offload off. */
const REFUSALS_FOR_GOOD = new Set([A.EIO, E.EINVAL]);

const SEND_FAILED = -1;
const SEND_PENDING = -2;
/** @internal */
export const MAX_BATCH = 1024;

/** A send or receive is building its message in the arena (see FfiSocket.sendSync). */
let arenaBusy = false;

/** @internal Objects alive in this thread (the addon counts process-wide). */
export const live = { sockets: 0, pollHandles: 0, queuedSends: 0 };

type Completion = [token: number, bytes: number, wsa: number, sys: number, syscall: string, count: number, icmp: RawIcmp | null];
type RawReceived = [number, boolean, string, number, string | null, number, number];
type ReceiveDone = [token: number, result: RawReceived | RawBatch | null, wsa: number, sys: number, syscall: string, icmp: RawIcmp | null];
/** The last failure: wsa, errno, syscall, and the ICMP error it stands for (addon.cc's OsError). */
type LastError = [wsa: number, sys: number, syscall: string, icmp: RawIcmp | null];

/**
 * One message, decided once: nothing about the caller's arguments is read again. `views`
 * are the caller's while the call runs; a parked message holds its own copy instead.
 */
interface Encoded {
  views: readonly ArrayBufferView[];
  total: number;
  name: Uint8Array | null;
  control: Uint8Array | null;
  flags: number;
  /** Offloaded (UDP_SEGMENT) with segments of this size; 0: one datagram. */
  segment: number;
  /** One of the segments of a send that went as a batch. */
  split: boolean;
  /**
   * false for every piece but the last of a batch message cut into its segments (send.cc's
   * EncodedMsg::last): a batch counts its messages by their last pieces.
   */
  last: boolean;
  plan: Plan;
}

/** send.cc's whole_messages: the messages of msgs[0..next) that went whole. */
function wholeMessages(msgs: readonly Encoded[], next: number): number {
  let n = 0;
  for (let i = 0; i < next; i++) if (msgs[i]!.last) n++;
  return n;
}

/**
 * send.cc's sent_count: what a parked send's completion counts as gone, at `next`: a
 * batch's whole messages, or the datagrams (segments) of one send.
 */
function sentCount(p: PendingSend, next = p.next): number {
  return p.batch && p.splitBytes < 0 ? wholeMessages(p.msgs, next) : next;
}

/** The control messages one send carries, as its plan record says (msg.cc's PktinfoPlan). */
interface Plan {
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

/**
 * The first n plan records, copied before anything else runs: this backend is JavaScript, and
 * a caller who replaced a builtin it uses could re-enter the shim and overwrite the shared
 * records while they are read (the addon reads them before any JS can run).
 */
function records(plans: Uint8Array, n: number): Records {
  const u8 = RECORD_COPY.u8;
  for (let i = 0, len = n * PLAN_SIZE; i < len; i++) u8[i] = plans[i]!;
  return RECORD_COPY;
}

/** Plan records as records() copied them, and a view of them. */
interface Records { u8: Uint8Array; dv: DataView }

/**
 * Where records() copies to, and where sockaddr() and controlFor() build what they return:
 * made once (an ArrayBuffer or DataView made per send cost ~1,000 instructions). One call
 * at a time uses them: a send or receive never runs inside another on one thread (arenaBusy).
 */
const scratch = (bytes: number): Records => {
  const u8 = new U8(bytes);
  return { u8, dv: new SafeDataView(taBuffer(u8)) };
};
const RECORD_COPY = scratch(MAX_BATCH * PLAN_SIZE);
const BUILD = scratch(256);

/** bytes [at, at + n) of a, copied element by element (a few address bytes: no call at all). */
function copyOut(a: Uint8Array, at: number, n: number): Uint8Array {
  const out = new U8(n);
  for (let i = 0; i < n; i++) out[i] = a[at + i]!;
  return out;
}

/**
 * The views of a send call: its rest arguments (an array the engine made, of its own
 * elements), or the one array of them src/ passed (made by ownArray). Kept, not copied.
 */
function viewList(args: ArrayBufferView[] | [ArrayBufferView[]]): ArrayBufferView[] {
  if (args.length === 1 && isArray(args[0])) return args[0] as ArrayBufferView[];
  return args as ArrayBufferView[];
}

/**
 * Appends v to list, returning its index: Array.prototype.push is the caller's to replace.
 * (An index accessor on Array.prototype still sees v: docs/implementations.md.)
 */
function append<T>(list: T[], v: T): number {
  const at = list.length;
  list[at] = v;
  // A caller's index setter on Array.prototype took it instead: define it (no setter asked).
  if (list.length === at) defineOwn(list, at, v);
  return at;
}

const defineProperty = Object.defineProperty;
function defineOwn<T>(list: T[], at: number, value: T): void {
  defineProperty(list, at, { __proto__: null, value, writable: true, enumerable: true, configurable: true } as PropertyDescriptor);
}

/** list[start, end) as a new array of its own elements (ownArray): slice is the caller's to replace. */
function part<T>(list: readonly T[], start: number, end: number): T[] {
  return ownArray(end - start, (i) => list[start + i]!);
}

const isArray = Array.isArray;

/** splitBytes >= 0: the segments of one send, which completes with these bytes. */
interface PendingSend { token: number; batch: boolean; msgs: Encoded[]; next: number; splitBytes: number; cut: CutState }
/** send.cc's CutState: what one batch knows of the kernel's refusals to segment its messages. */
interface CutState { retried: boolean; at: number; err: number; gsoBefore: boolean }
/** A receive waiting for readability: into `buffer`, or (a batch) up to `max` slots of `slot` bytes. */
interface PendingRecv { token: number; buffer: Uint8Array | null; slot: number; max: number }

// --- addresses ---------------------------------------------------------------------------
interface IpAddr { family: 4 | 6; bytes: Uint8Array; scope: number }

/** A bind or connect address: a plan record's destination fields (addon.cc's decode_endpoint). */
function endpointOf(rec: Uint8Array): (IpAddr & { port: number }) | null {
  if (taByteLength(rec) < PLAN_SIZE) return null;
  const dv = new SafeDataView(taBuffer(rec), taByteOffset(rec), PLAN_SIZE);
  const family = dv.getUint8(PlanAt.TO_FAMILY);
  if (family !== 4 && family !== 6) return null;
  const bytes = u8slice(rec, PlanAt.TO_ADDR, PlanAt.TO_ADDR + (family === 4 ? 4 : 16));
  return { family, bytes, scope: dv.getUint32(PlanAt.TO_SCOPE, true), port: dv.getUint16(PlanAt.TO_PORT, true) };
}

const isV6Kind = (k: Kind): boolean => k === Kind.Udp6 || k === Kind.Raw6;

function sockaddr(kind: Kind, a: IpAddr, port: number): Uint8Array {
  const { u8: out, dv } = BUILD;
  if (isV6Kind(kind) || a.family === 6) {
    const size = A['sizeof sockaddr_in6'];
    taFill(out, 0, 0, size);
    dv.setUint16(0, A.AF_INET6, true);
    dv.setUint16(A['sockaddr_in6.sin6_port'], port, false);
    const at = A['sockaddr_in6.sin6_addr'];
    if (a.family === 4) {
      out[at + 10] = 0xff;
      out[at + 11] = 0xff;
      taSet(out, a.bytes, at + 12);
    } else {
      taSet(out, a.bytes, at);
      dv.setUint32(A['sockaddr_in6.sin6_scope_id'], a.scope, true);
    }
    return copyOut(out, 0, size);
  }
  const size = A['sizeof sockaddr_in'];
  taFill(out, 0, 0, size);
  dv.setUint16(0, A.AF_INET, true);
  dv.setUint16(A['sockaddr_in.sin_port'], port, false);
  taSet(out, a.bytes, A['sockaddr_in.sin_addr']);
  return copyOut(out, 0, size);
}

/** [address, port, family, scope] of the sockaddr at arena offset `at`. */
function readSockaddr(at: number): [string, number, 4 | 6, number] {
  if (view.getUint16(at, true) === A.AF_INET) {
    return [formatIp(4, mem, at + A['sockaddr_in.sin_addr']), view.getUint16(at + A['sockaddr_in.sin_port'], false), 4, 0];
  }
  return [formatIp(6, mem, at + A['sockaddr_in6.sin6_addr']), view.getUint16(at + A['sockaddr_in6.sin6_port'], false), 6,
    view.getUint32(at + A['sockaddr_in6.sin6_scope_id'], true)];
}

// --- control messages ------------------------------------------------------------------
function putCmsg(out: DataView, at: number, level: number, type: number, dataLen: number): number {
  // cmsg_len (a size_t) as two halves: the global BigInt is the caller's to replace.
  out.setUint32(at, CMSG_HDR + dataLen, true);
  out.setUint32(at + 4, 0, true);
  out.setInt32(at + A['cmsghdr.cmsg_level'], level, true);
  out.setInt32(at + A['cmsghdr.cmsg_type'], type, true);
  return at + CMSG_HDR;
}

/** msg.cc's encode_msg, for the control part: what the plan asks for, in the same order. */
function controlFor(plan: Plan): Uint8Array | null {
  if (!plan.pktinfo && !plan.tosKind && !plan.segmentSize) return null;
  const size = (plan.pktinfo === 4 ? SPACE_PKTINFO4 : plan.pktinfo === 6 ? SPACE_PKTINFO6 : 0) +
    (plan.tosKind ? SPACE_INT : 0) + (plan.segmentSize ? SPACE_INT : 0);
  const { u8: out, dv } = BUILD;
  taFill(out, 0, 0, size);
  let at = 0;
  if (plan.pktinfo === 4) {
    // Linux takes the source from ipi_spec_dst and ignores ipi_addr (the field Windows reads).
    const d = putCmsg(dv, at, A.IPPROTO_IP, A.IP_PKTINFO, A['sizeof in_pktinfo']);
    dv.setInt32(d, plan.ifindex | 0, true);
    if (plan.addr) taSet(out, plan.addr, d + A['in_pktinfo.ipi_spec_dst']);
    at += SPACE_PKTINFO4;
  } else if (plan.pktinfo === 6) {
    const d = putCmsg(dv, at, A.IPPROTO_IPV6, A.IPV6_PKTINFO, A['sizeof in6_pktinfo']);
    if (plan.addr) taSet(out, plan.addr, d);
    dv.setUint32(d + A['in6_pktinfo.ipi6_ifindex'], plan.ifindex, true);
    at += SPACE_PKTINFO6;
  }
  if (plan.tosKind) {
    const d = putCmsg(dv, at, plan.tosKind === 4 ? A.IPPROTO_IP : A.IPPROTO_IPV6, plan.tosKind === 4 ? A.IP_TOS : A.IPV6_TCLASS, 4);
    dv.setInt32(d, plan.tos, true);
    at += SPACE_INT;
  }
  if (plan.segmentSize) {
    const d = putCmsg(dv, at, A.SOL_UDP, A.UDP_SEGMENT, 2);
    dv.setUint16(d, plan.segmentSize, true);
  }
  return copyOut(out, 0, size);
}

/** addon.cc's read_view: an ArrayBufferView whose bytes are all there (not detached, not outside a shrunk buffer). */
function isView(v: unknown): v is ArrayBufferView {
  return isArrayBufferView(v) && unusableView(v) === null;
}

/** Room for a received datagram's control messages (recv.cc's kRecvControl). */
const RECV_CONTROL = 256;

/** A receive's msghdr at `hdr` (zeroed by the caller): one iovec at `iov` over `len` bytes at `data`. */
function receiveHeader(hdr: number, iov: number, data: number, len: number, name: number, control: number): void {
  setPtr(iov, base + data);
  setPtr(iov + A['iovec.iov_len'], len);
  setPtr(hdr + A['msghdr.msg_name'], base + name);
  view.setUint32(hdr + A['msghdr.msg_namelen'], A['sizeof sockaddr_storage'], true);
  setPtr(hdr + A['msghdr.msg_iov'], base + iov);
  setPtr(hdr + A['msghdr.msg_iovlen'], 1);
  setPtr(hdr + A['msghdr.msg_control'], base + control);
  setPtr(hdr + A['msghdr.msg_controllen'], RECV_CONTROL);
}

/** recv.cc's decode_control: what the control messages of a datagram of `bytes` bytes say. */
function decodeControl(control: number, used: number, bytes: number): { destination: string | null; ifindex: number; tos: number; segment: number } {
  let destination: string | null = null;
  let ifindex = 0;
  let tos = -1;
  let segment = 0;
  for (const [level, type, at] of cmsgs(control, used)) {
    if (level === A.IPPROTO_IP && type === A.IP_PKTINFO) {
      // ipi_addr is the header's destination; ipi_spec_dst the local address routing chose.
      destination = formatIp(4, mem, at + A['in_pktinfo.ipi_addr']);
      ifindex = view.getInt32(at, true) >>> 0;
    } else if (level === A.IPPROTO_IPV6 && type === A.IPV6_PKTINFO) {
      destination = formatIp(6, mem, at);
      ifindex = view.getUint32(at + A['in6_pktinfo.ipi6_ifindex'], true);
    } else if (level === A.IPPROTO_IP && type === A.IP_TOS) {
      tos = mem[at]!;
    } else if (level === A.IPPROTO_IPV6 && type === A.IPV6_TCLASS) {
      tos = view.getInt32(at, true);
    } else if (level === A.SOL_UDP && type === A.UDP_GRO) {
      // The size of the datagrams coalesced into this receive (see recv.cc).
      const size = view.getInt32(at, true);
      if (size > 0 && bytes > size) segment = size;
    }
  }
  return { destination, ifindex, tos, segment };
}

// --- writing messages into the arena ------------------------------------------------------
/** Writes e as the msghdr at `hdr`, its record `rec`-th and its payload at `data`; returns the payload's end. */
function writeMsg(e: Encoded, hdr: number, rec: number, data: number): number {
  taFill(mem, 0, hdr, hdr + A['sizeof msghdr']);
  let end = data;
  // Never more than the slot measured for it (e.total), whatever a view says now: a view
  // that grew since encode() must not write past its slot, and the iovec covers exactly the
  // bytes copied, so a view that shrank cannot send the arena's stale bytes of an earlier
  // datagram.
  const views = e.views;
  for (let i = 0; i < views.length; i++) {
    // Intrinsic buffer/offset/length: a view's own properties may lie.
    const bytes = viewBytes(views[i]!);
    const length = taByteLength(bytes);
    const take = min(length, data + e.total - end);
    if (take > 0) taSet(mem, take === length ? bytes : u8sub(bytes, 0, take), end);
    end += take;
  }
  const iov = RECORDS + rec * RECORD;
  setPtr(iov, base + data);
  setPtr(iov + A['iovec.iov_len'], end - data);
  setPtr(hdr + A['msghdr.msg_iov'], base + iov);
  setPtr(hdr + A['msghdr.msg_iovlen'], 1);
  if (e.name) {
    taSet(mem, e.name, iov + 16);
    setPtr(hdr + A['msghdr.msg_name'], base + iov + 16);
    view.setUint32(hdr + A['msghdr.msg_namelen'], taLength(e.name), true);
  }
  if (e.control) {
    taSet(mem, e.control, iov + 48);
    setPtr(hdr + A['msghdr.msg_control'], base + iov + 48);
    setPtr(hdr + A['msghdr.msg_controllen'], taLength(e.control));
  }
  return end;
}

/** A 64-bit size the kernel wrote into the arena, as a number (no global Number or BigInt asked). */
function u64(at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x100000000;
}

function setPtr(at: number, value: number): void {
  view.setUint32(at, value % 0x100000000, true);
  view.setUint32(at + 4, floor(value / 0x100000000), true);
}

function setInt(at: number, value: number): number {
  view.setInt32(at, value, true);
  return base + at;
}

const now = (): number => performance.now();

// --- the poller --------------------------------------------------------------------------
// Sockets with parked sends or receives wait in one poll(2) per JS thread, run on a libuv
// threadpool thread (ffi-rs's runInNewThread), over their fds and an eventfd that wakes it
// when the set changes. The wait is cut at POLL_MS so the threadpool thread it holds is
// handed back regularly; a timer-driven zero-timeout poll cost 2-3% CPU at idle and up to
// 8 ms per wake-up.
const POLL_MS = 50;
// Set once the thread is ending and the arena may be gone: nothing opens or polls after that.
let ended = false;
const watched = new Set<FfiSocket>();
// The sockets the current off-thread poll watches, with the events it watches for.
let polling: Map<FfiSocket, number> | null = null;
let wakeFd = -1;
let wakeKey = -1;  // guardFd's key for wakeFd
let rotate = 0;  // more sockets than one poll takes: start elsewhere each time

const eventsOf = (s: FfiSocket): number => (s.queue.length ? A.POLLOUT : 0) | (s.recvQueue.length ? A.POLLIN : 0);

function watch(s: FfiSocket): void {
  if (!watched.has(s)) {
    watched.add(s);
    live.pollHandles++;
  }
  if (!polling) startPoll();
  else if (polling.get(s) !== eventsOf(s)) wake();
}

function unwatch(s: FfiSocket): void {
  if (!watched.delete(s)) return;
  live.pollHandles--;
  // Nothing left to wait for: let the poll return, so the loop can end, and close the
  // eventfd now, so that no fd of the shim's outlives the last socket (a poll that has not
  // started yet finds it closed and returns at once).
  if (watched.size === 0) closeWakeFd();
}

function closeWakeFd(): void {
  if (wakeFd < 0) return;
  wake();
  closeGuarded(wakeFd, wakeKey);
  wakeFd = -1;
  wakeKey = -1;
}

function unwatchIfIdle(s: FfiSocket): void {
  if (s.queue.length === 0 && s.recvQueue.length === 0) unwatch(s);
}

function wake(): void {
  if (wakeFd < 0) return;
  view.setBigUint64(SCRATCH + 1536, 1n, true);
  libc.write(wakeFd, base + SCRATCH + 1536, 8);
}

function startPoll(): void {
  if (polling || watched.size === 0 || ended) return;
  if (wakeFd < 0) {
    wakeFd = libc.eventfd(0, A.SOCK_NONBLOCK | A.SOCK_CLOEXEC);  // EFD_* share these values
    wakeKey = guardFd(wakeFd);
  }
  let all = [...watched];
  if (all.length > MAX_POLLFDS - 1) {
    rotate %= all.length;
    all = [...all.slice(rotate), ...all.slice(0, rotate)].slice(0, MAX_POLLFDS - 1);
    rotate += MAX_POLLFDS - 1;
  }
  const entry = (i: number, fd: number, events: number) => {
    const at = POLLFDS + i * A['sizeof pollfd'];
    view.setInt32(at, fd, true);
    view.setInt16(at + A['pollfd.events'], events, true);
    view.setInt16(at + A['pollfd.revents'], 0, true);
  };
  entry(0, wakeFd, A.POLLIN);
  polling = new Map();
  all.forEach((s, i) => {
    polling!.set(s, eventsOf(s));
    entry(i + 1, s.fd, eventsOf(s));
  });
  libc.pollOffThread(base + POLLFDS, all.length + 1, POLL_MS).then(polled, () => polled(-1));
}

function polled(r: number): void {
  const set = [...(polling ?? new Map()).keys()];
  polling = null;
  if (ended) return;  // the thread is ending: the arena may be gone
  if (r < 0) {
    // EINTR, or ffi-rs could not run the call: try again shortly, not in a tight loop.
    setTimeout(startPoll, 10);
    return;
  }
  // Read every revents first: draining runs JS, which may open, close or wait again.
  const revents = set.map((_, i) => (r > 0 ? view.getInt16(POLLFDS + (i + 1) * A['sizeof pollfd'] + A['pollfd.revents'], true) : 0));
  if (r > 0 && wakeFd >= 0 && view.getInt16(POLLFDS + A['pollfd.revents'], true)) libc.read(wakeFd, base + SCRATCH + 1536, 8);
  try {
    set.forEach((s, i) => {
      const ev = revents[i];
      if (!ev || s.fd < 0) return;
      // POLLERR: an error of an earlier datagram is pending. Only a send or a receive takes it,
      // so whichever waits tries, and takes it from the error queue itself when the call
      // alone would block (takeQueuedIcmpError); else the next poll returns at once, forever.
      const error = (ev & (A.POLLERR | A.POLLHUP)) !== 0;
      if ((ev & A.POLLOUT || error) && s.queue.length) s.drain(error);
      if (s.fd >= 0 && (ev & A.POLLIN || error) && s.recvQueue.length) s.drainRecv(error);
    });
  } finally {
    // Even if a completion threw: the operations still waiting keep their poll.
    startPoll();
    if (!polling) closeWakeFd();
  }
}

/** A socket's fd, and the key that closes it if the thread ends first (libc.ts's guardFd). */
interface Handle { fd: number; key: number }

function closeHandle(h: Handle): void {
  closeGuarded(h.fd, h.key);
  h.key = -1;
  h.fd = -1;
  live.sockets--;
}

// Sockets JS dropped without closing: their fds close when the object is collected.
const handles = new Set<Handle>();
const finalizer = new FinalizationRegistry<Handle>((h) => {
  if (h.fd >= 0) closeHandle(h);
  handles.delete(h);
});

/**
 * @internal Closes every socket of this thread (the thread is ending). Returns whether a
 * poll may still be running off-thread (then its memory must stay allocated).
 */
export function closeAll(): boolean {
  ended = true;
  closeWakeFd();
  for (const h of handles) if (h.fd >= 0) closeHandle(h);
  handles.clear();
  return polling !== null;
}

/** @internal */
export class FfiSocket implements NativeSocket {
  oncomplete: (token: number, bytes: number, wsa: number, sysErrno: number, syscall: string, count: number, icmp: RawIcmp | null) => void;
  onreceive?: NativeSocket['onreceive'];
  /** @internal */ queue: PendingSend[] = [];
  /** @internal */ recvQueue: PendingRecv[] = [];
  private readonly h: Handle = { fd: -1, key: -1 };
  private kind: Kind = Kind.Udp4;
  private nonBlocking = false;
  private icmp = 0;  // ICMP_DEFAULT / ICMP_ON / ICMP_OFF
  private gso = false;
  /** gso just before sendNow's last refusal (send.cc's gsoBeforeRefusal). */
  private gsoBeforeRefusal = false;
  private gro = false;
  private sendTimeoutMs = 0;
  private peerFamily = 0;
  private err: LastError = [0, 0, '', null];
  /** Messages sent before the one that failed, of the last list that failed. */
  private batch = 0;
  /** The socket's plan record (src/plan.ts writes it before each single send). */
  // A true private field: nothing a caller can reach leads to the record (see SocketState.writePlan).
  readonly #plan: Uint8Array;

  constructor(oncomplete: FfiSocket['oncomplete'], plan: Uint8Array) {
    this.oncomplete = oncomplete;
    this.#plan = plan;
  }

  get fd(): number {
    return this.h.fd;
  }

  // --- socket.cc ---------------------------------------------------------------------------
  open(kind: number, protocol: number, ipv6Only: boolean, broadcast: boolean, nonBlocking: boolean,
    sendTimeoutMs: number, sendBufferSize: number, bind: Uint8Array | null,
    icmpErrors: number, ttl: number, dontFragment: boolean, recvPktinfo: boolean, reusePort: boolean,
    receiveOffload: boolean): boolean | number {
    if (ended) return this.fail(WSA.SYSCALLFAILURE, 'socket');
    const bindTo = bind && endpointOf(bind);
    if (bind && !bindTo) return this.fail(WSA.EFAULT, 'bind');
    const k = kind as Kind;
    const raw = k === Kind.Raw4 || k === Kind.Raw6;
    const v6 = isV6Kind(k);
    const fd = libc.socket(v6 ? A.AF_INET6 : A.AF_INET, (raw ? A.SOCK_RAW : A.SOCK_DGRAM) | A.SOCK_NONBLOCK | A.SOCK_CLOEXEC,
      raw ? protocol : 0);
    if (fd < 0) return !this.osFail(errno(), 'socket');
    this.h.fd = fd;
    this.h.key = guardFd(fd);
    live.sockets++;
    handles.add(this.h);
    finalizer.register(this, this.h, this);
    this.kind = k;
    this.nonBlocking = nonBlocking;
    this.icmp = icmpErrors;
    this.sendTimeoutMs = sendTimeoutMs;
    const v4traffic = !v6 || (k === Kind.Udp6 && !ipv6Only);
    const opt = (level: number, name: number, value: number): boolean =>
      libc.setsockopt(fd, level, name, setInt(SCRATCH, value), 4) === 0 || !this.osFail(errno(), 'setsockopt');
    const ok = (() => {
      // WSASendMsg is for SOCK_DGRAM and SOCK_RAW only; the shim makes no other kind.
      const type = this.intOpt(A.SOL_SOCKET, A.SO_TYPE);
      if (type !== A.SOCK_DGRAM && type !== A.SOCK_RAW) return !this.fail(WSA.EOPNOTSUPP, 'socket');
      // Windows' default is v6-only and Linux's dual stack: always set it explicitly.
      if (k === Kind.Udp6 && !opt(A.IPPROTO_IPV6, A.IPV6_V6ONLY, ipv6Only ? 1 : 0)) return false;
      if (broadcast && !opt(A.SOL_SOCKET, A.SO_BROADCAST, 1)) return false;
      if (reusePort && !opt(A.SOL_SOCKET, A.SO_REUSEPORT, 1)) return false;
      if (icmpErrors === ICMP_ON) {
        // Soft ICMP errors fail the next send, as on Windows (see socket.cc).
        if (v6 && !opt(A.IPPROTO_IPV6, A.IPV6_RECVERR, 1)) return false;
        if (v4traffic && !opt(A.IPPROTO_IP, A.IP_RECVERR, 1)) return false;
      }
      if (ttl > 0) {
        if (v6 && !opt(A.IPPROTO_IPV6, A.IPV6_UNICAST_HOPS, ttl)) return false;
        if (v4traffic && !opt(A.IPPROTO_IP, A.IP_TTL, ttl)) return false;
      }
      if (recvPktinfo) {
        if (v6 && !(opt(A.IPPROTO_IPV6, A.IPV6_RECVPKTINFO, 1) && opt(A.IPPROTO_IPV6, A.IPV6_RECVTCLASS, 1))) return false;
        if (v4traffic && !(opt(A.IPPROTO_IP, A.IP_PKTINFO, 1) && opt(A.IPPROTO_IP, A.IP_RECVTOS, 1))) return false;
      }
      if (dontFragment) {
        if (v6 && !(opt(A.IPPROTO_IPV6, A.IPV6_DONTFRAG, 1) && opt(A.IPPROTO_IPV6, A.IPV6_MTU_DISCOVER, A.IPV6_PMTUDISC_DO))) return false;
        if (v4traffic && !opt(A.IPPROTO_IP, A.IP_MTU_DISCOVER, A.IP_PMTUDISC_DO)) return false;
      }
      if (sendBufferSize > 0 && !opt(A.SOL_SOCKET, A.SO_SNDBUF, sendBufferSize)) return false;
      if (bindTo) {
        const sa = sockaddr(k, bindTo, bindTo.port);
        taSet(mem, sa, SCRATCH);
        if (libc.bind(fd, base + SCRATCH, taLength(sa)) !== 0) return !this.osFail(errno(), 'bind');
      }
      return true;
    })();
    if (!ok) {
      this.closeFd();
      return false;
    }
    // UDP_SEGMENT exists since Linux 4.18; a send may still be refused (see send()).
    if (k === Kind.Udp4 || k === Kind.Udp6) this.gso = this.intOpt(A.SOL_UDP, A.UDP_SEGMENT) !== null;
    // UDP_GRO (Linux 5.0), best effort as in socket.cc: refused, receives stay one datagram each.
    if (receiveOffload && (k === Kind.Udp4 || k === Kind.Udp6)) {
      this.gro = libc.setsockopt(fd, A.SOL_UDP, A.UDP_GRO, setInt(SCRATCH, 1), 4) === 0;
    }
    return true;
  }

  connect(record: Uint8Array): boolean | number {
    if (this.fd < 0) return this.fail(WSA.ENOTSOCK, 'connect');
    const peer = endpointOf(record);
    if (!peer) return this.fail(WSA.EFAULT, 'connect');
    const sa = sockaddr(this.kind, peer, peer.port);
    taSet(mem, sa, SCRATCH);
    if (libc.connect(this.fd, base + SCRATCH, taLength(sa)) !== 0) return !this.osFail(errno(), 'connect');
    this.peerFamily = peer.family === 4 || isV4Mapped(peer) ? 4 : 6;
    return true;
  }

  shutdownSend(): boolean | number {
    if (this.fd < 0) return this.fail(WSA.ENOTSOCK, 'shutdown');
    // Linux answers ENOTCONN for an unconnected UDP socket yet still disables sending.
    if (libc.shutdown(this.fd, A.SHUT_WR) !== 0) {
      const e = errno();
      if (e !== E.ENOTCONN) return !this.osFail(e, 'shutdown');
    }
    return true;
  }

  address(): [string, number, 4 | 6, number] | number {
    if (this.fd < 0) return this.fail(WSA.ENOTSOCK, 'getsockname');
    if (!this.localName()) return this.osFail(errno(), 'getsockname');
    return readSockaddr(SCRATCH);
  }

  /** Linux takes the whole TOS byte per datagram. */
  get perDatagramTos(): boolean {
    return true;
  }

  get segmentationOffload(): boolean {
    return this.fd >= 0 && this.gso;
  }

  get receiveOffload(): boolean {
    return this.fd >= 0 && this.gro;
  }

  get pendingCount(): number {
    return this.queue.length;
  }

  close(): void {
    if (this.fd < 0) return;
    this.closeFd();
    // Linux would let a parked datagram go out after close; Windows aborts it. Abort here,
    // after the fd is gone, so none of them can be sent.
    const aborted: Completion[] = this.queue.map((p) => [p.token, SEND_FAILED, WSA.OPERATION_ABORTED, 0, 'sendmsg', sentCount(p), null]);
    const abortedRecv: ReceiveDone[] = this.recvQueue.map((r) => [r.token, null, WSA.OPERATION_ABORTED, 0, 'recvmsg', null]);
    live.queuedSends -= this.queue.length + this.recvQueue.length;
    this.queue = [];
    this.recvQueue = [];
    unwatchIfIdle(this);
    this.deliver(aborted);
    this.deliverReceived(abortedRecv);
  }

  lastError(): LastError {
    return this.err;
  }

  // --- send.cc -----------------------------------------------------------------------------
  // The arena is the thread's, shared by all its sockets, and this backend is JavaScript: a
  // caller who replaced a builtin it uses (TypedArray set, DataView setters, ...) could
  // re-enter a send or receive while another one has half built its message there, and one
  // would go out with the other's bytes. A call made from inside another fails instead, with
  // Winsock's answer for a call made while a blocking call is in progress (nothing is sent).
  // The addon never runs JS while it builds a message, so it never says this.
  sendSync(...args: ArrayBufferView[] | [ArrayBufferView[]]): number | SendFailure {
    if (arenaBusy) return this.failure(this.fail(WSA.EINPROGRESS, 'sendmsg'));
    arenaBusy = true;
    try {
      return this.sendSyncInArena(args);
    } finally {
      arenaBusy = false;
    }
  }

  sendAsync(token: number, ...args: ArrayBufferView[] | [ArrayBufferView[]]): number | SendFailure {
    if (arenaBusy) return this.failure(this.fail(WSA.EINPROGRESS, 'sendmsg'));
    arenaBusy = true;
    try {
      return this.sendAsyncInArena(token, args);
    } finally {
      arenaBusy = false;
    }
  }

  sendBatch(plans: Uint8Array, n: number, overlapped: boolean, token: number, ...args: ArrayBufferView[] | [ArrayBufferView[]]): number | SendFailure {
    if (arenaBusy) return this.failure(this.fail(WSA.EINPROGRESS, 'sendmsg'));
    arenaBusy = true;
    try {
      return this.sendBatchInArena(plans, n, overlapped, token, args);
    } finally {
      arenaBusy = false;
    }
  }

  /** A segmented message for a socket whose offload is off: addon.cc's Send splits it too. */
  private offloadOff(e: Encoded): boolean {
    return e.segment > 0 && !this.gso;
  }

  private sendSyncInArena(args: ArrayBufferView[] | [ArrayBufferView[]]): number | SendFailure {
    const msgs = this.encode(records(this.#plan, 1), 0, viewList(args));
    if (typeof msgs === 'number') return this.failure(this.fail(msgs, 'sendmsg'));
    if (msgs.length > 1 || msgs[0]!.split) return this.sendSplit(msgs, false, 0);
    if (this.offloadOff(msgs[0]!)) return this.sendSplit(this.cut(msgs[0]!), false, 0);
    const n = this.sendNow(msgs[0]!, true);
    if (n >= 0) return n;
    if (this.refusedOffload(msgs[0]!)) return this.sendRefused(msgs[0]!, false, 0);
    return this.failure(n);
  }

  private sendAsyncInArena(token: number, args: ArrayBufferView[] | [ArrayBufferView[]]): number | SendFailure {
    const msgs = this.encode(records(this.#plan, 1), 0, viewList(args));
    if (typeof msgs === 'number') return this.failure(this.fail(msgs, 'sendmsg'));
    if (msgs.length > 1 || msgs[0]!.split) return this.sendSplit(msgs, true, token);
    if (this.offloadOff(msgs[0]!)) return this.sendSplit(this.cut(msgs[0]!), true, token);
    const e = msgs[0]!;
    const n = this.overlapped(e, token);
    if (n === SEND_FAILED && this.refusedOffload(e)) return this.sendRefused(e, true, token);
    return n === SEND_FAILED ? this.failure(n) : n;
  }

  /**
   * addon.cc's Send after the kernel refused to segment e: its segments instead. If the
   * first of them fails the same way, the failure was the message's (an IPv6 source the
   * kernel will not use gives EINVAL too), and the offload is as it was.
   */
  private sendRefused(e: Encoded, overlapped: boolean, token: number): number | SendFailure {
    const refusal = this.err[1];
    const r = this.sendSplit(this.cut(e), overlapped, token);
    // As it was just before this send's own refusal (send.cc's gsoBeforeRefusal): sends
    // flushed ahead of it may have shown the refusal to be the socket's.
    if (typeof r !== 'number' && this.batch === 0 && refusal !== 0 && this.err[1] === refusal) this.gso = this.gsoBeforeRefusal;
    return r;
  }

  /** send.cc's send_overlapped: at once (bytes or SEND_FAILED), or parked (SEND_PENDING). */
  private overlapped(e: Encoded, token: number): number {
    if (this.queue.length === 0) {
      const n = this.sendNow(e, false);
      // Only a plain would-block waits; every other result is the completion.
      if (n >= 0 || this.err[1] !== EAGAIN || this.err[0] !== WSA.EWOULDBLOCK || this.refusedOffload(e)) return n;
    } else if (this.fd < 0) {
      return this.fail(WSA.ENOTSOCK, 'sendmsg');
    }
    return this.park([e], 0, false, token, -1);
  }

  sendEach(plans: Uint8Array, n: number, staged: Uint8Array, offsets: Uint32Array, token0: number,
    results: Float64Array): EachFailure[] | null {
    if (arenaBusy) return this.failure(this.fail(WSA.EINPROGRESS, 'sendmsg')) as unknown as EachFailure[];
    arenaBusy = true;
    try {
      return this.sendEachInArena(plans, n, staged, offsets, token0, results);
    } finally {
      arenaBusy = false;
    }
  }

  /** send.cc's send_each: sendmmsg while the buffer has room, then each as its own overlapped send. */
  private sendEachInArena(plans: Uint8Array, n: number, staged: Uint8Array, offsets: Uint32Array, token0: number,
    results: Float64Array): EachFailure[] | null {
    if (n > MAX_BATCH || taLength(plans) < n * PLAN_SIZE || taLength(offsets) < n + 1 || taLength(results) < n) {
      return this.failure(this.fail(WSA.EFAULT, 'sendmsg')) as unknown as EachFailure[];
    }
    const recs = records(plans, n);
    const stagedLength = taLength(staged);
    const errs: LastError[] = [];
    const failed = (i: number): void => {
      results[i] = SEND_FAILED;
      defineOwn(errs, i, this.err);
    };
    const msgs: Encoded[] = [];
    const index: number[] = [];
    for (let i = 0; i < n; i++) {
      const e = offsets[i]! <= offsets[i + 1]! && offsets[i + 1]! <= stagedLength
        ? this.encode(recs, i * PLAN_SIZE, [u8sub(staged, offsets[i]!, offsets[i + 1]!)]) : WSA.EFAULT;
      // src/ never coalesces a segmented message.
      if (typeof e === 'number' || e.length !== 1 || e[0]!.split || e[0]!.segment) {
        this.fail(typeof e === 'number' ? e : WSA.EFAULT, 'sendmsg');
        failed(i);
        continue;
      }
      append(msgs, e[0]!);
      append(index, i);
    }
    const state = { next: 0, firstBytes: 0 };
    if (this.fd >= 0 && this.queue.length === 0) {
      while (state.next < msgs.length) {
        const from = state.next;
        const e = this.sendMsgs(msgs, state);
        for (let k = from; k < state.next; k++) results[index[k]!] = msgs[k]!.total;
        if (e === 0) break;
        this.osError(e, 'sendmsg', 'send');
        if (e === EAGAIN && this.err[0] === WSA.EWOULDBLOCK) break;  // the rest wait, each as its own send
        failed(index[state.next++]!);
      }
    }
    for (let k = state.next; k < msgs.length; k++) {
      const r = this.overlapped(msgs[k]!, token0 + index[k]!);
      if (r === SEND_FAILED) failed(index[k]!);
      else results[index[k]!] = r;
    }
    // By index: src/ reads them in order.
    let failures: EachFailure[] | null = null;
    for (let i = 0; i < n; i++) {
      const e = errs[i];
      if (e !== undefined) append(failures ??= [], [i, e[0], e[1], e[2], e[3]] as EachFailure);
    }
    return failures;
  }

  private sendBatchInArena(plans: Uint8Array, n: number, overlapped: boolean, token: number,
    args: ArrayBufferView[] | [ArrayBufferView[]]): number | SendFailure {
    if (n > MAX_BATCH || taLength(plans) < n * PLAN_SIZE) return this.failure(this.fail(WSA.EFAULT, 'sendmsg'));
    const recs = records(plans, n);
    const views = viewList(args);
    const msgs: Encoded[] = [];
    let next = 0;
    let planAt = 0;
    for (let i = 0; i < n; i++) {
      const nbufs = recs.u8[i * PLAN_SIZE + PlanAt.NBUFS]! | (recs.u8[i * PLAN_SIZE + PlanAt.NBUFS + 1]! << 8);
      // PLAN_AS_BEFORE: the plan of the record before (the first record cannot say so; encode refuses it).
      if (i === 0 || recs.u8[i * PLAN_SIZE + PlanAt.FLAGS] !== PLAN_AS_BEFORE) planAt = i * PLAN_SIZE;
      const e = this.encode(recs, planAt, part(views, next, next + nbufs));
      next += nbufs;
      // What the shim refuses fails the whole batch before anything is sent; src/ never
      // asks a batch to split a message.
      if (typeof e === 'number' || e.length !== 1 || e[0]!.split) {
        this.fail(typeof e === 'number' ? e : WSA.EFAULT, 'sendmsg');
        return this.failure(SEND_FAILED, 0, i);
      }
      append(msgs, e[0]!);
    }
    const r = this.sendList(msgs, overlapped, token, -1);
    return r === SEND_FAILED ? this.failure(r, this.batch, this.batch) : r;
  }

  /** The segments of one send as a batch (no offload): the whole's bytes once all went. */
  private sendSplit(msgs: Encoded[], overlapped: boolean, token: number): number | SendFailure {
    let total = 0;
    for (const e of msgs) total += e.total;
    const r = this.sendList(msgs, overlapped, token, total);
    if (r === SEND_FAILED) return this.failure(r, this.batch, this.batch);
    return r === SEND_PENDING ? r : total;
  }

  /** [...err, sent, failedIndex]: a failed send as the call returns it. */
  private failure(_r: number, sent = 0, failedIndex = sent): SendFailure {
    return [...this.err, sent, failedIndex];
  }

  /** The kernel refused to cut this send before sending anything (send.cc's same case). */
  private refusedOffload(e: Encoded): boolean {
    return e.segment > 0 && this.err[0] === WSA.EOPNOTSUPP;
  }

  /**
   * Sends msgs in order with sendmmsg: n once all went, SEND_PENDING (overlapped: parked,
   * one completion later), or SEND_FAILED with this.batch the number sent before the one
   * that failed. `splitBytes`: >= 0 for the segments of one send (its completion reports
   * these bytes instead of a count).
   */
  private sendList(msgs: Encoded[], overlapped: boolean, token: number, splitBytes: number): number {
    this.batch = 0;
    const n = msgs.length;
    if (this.fd < 0) return this.fail(WSA.ENOTSOCK, 'sendmsg');
    // A batch's segmented messages, with offload known to be off, are cut before anything is tried.
    const batch = splitBytes < 0;
    if (batch && !this.gso) {
      const first = msgs.findIndex((e) => e.segment > 0);
      if (first >= 0) this.cutFrom(msgs, first, 1);
    }
    // What the caller is told: messages for a batch, datagrams for the segments of one send.
    const count = (next: number) => (batch ? wholeMessages(msgs, next) : next);
    const deadline = this.deadline();
    const state = { next: 0, firstBytes: 0 };
    const cut: CutState = { retried: false, at: -1, err: 0, gsoBefore: false };
    let result = n;
    if (!overlapped && this.queue.length && !this.flushQueue(deadline)) {
      result = SEND_FAILED;
    } else if (overlapped && this.queue.length) {
      return this.park(msgs, 0, true, token, splitBytes);
    } else {
      for (;;) {
        const e = this.sendMsgs(msgs, state);
        if (e === 0) break;
        this.osError(e, 'sendmsg', 'send');
        if (batch && this.cutRefused(msgs, state.next, e, cut)) continue;
        const wouldBlock = e === EAGAIN && this.err[0] === WSA.EWOULDBLOCK;
        if (wouldBlock && overlapped) {
          this.batch = count(state.next);
          return this.park(msgs, state.next, true, token, splitBytes, cut);
        }
        if (!wouldBlock || this.nonBlocking || !this.waitWritable(deadline)) {
          result = SEND_FAILED;
          break;
        }
      }
    }
    this.batch = count(state.next);
    return result;
  }

  /** This backend asks validate.ts itself (isView): an empty view is sent, the others refused. */
  allowEmpty(): void {}

  cancel(token: number): number {
    const i = this.queue.findIndex((p) => p.token === token);
    if (i < 0) return -1;
    const sent = sentCount(this.queue[i]!);
    this.unqueue(this.queue, token);
    return sent;
  }

  /** Removes a parked send or receive: true if it was there (it will never complete). */
  private unqueue(queue: Array<{ token: number }>, token: number): boolean {
    const i = queue.findIndex((p) => p.token === token);
    if (i < 0) return false;
    queue.splice(i, 1);
    live.queuedSends--;
    unwatchIfIdle(this);
    return true;
  }

  /**
   * @internal Sends what the queue can send now; true once it is empty. Runs JS.
   * `pollError`: poll reported POLLERR for the socket.
   */
  drain(pollError = false): boolean {
    const done: Completion[] = [];
    const state = { next: 0, firstBytes: 0 };
    while (this.queue.length) {
      const p = this.queue[0];
      state.next = p.next;
      state.firstBytes = 0;
      const e = this.sendMsgs(p.msgs, state);
      p.next = state.next;
      // Classified once: classifying takes an entry of the error queue.
      let classified = false;
      // A batch's messages, and a single send parked whole (cut here as it would have been
      // at once; its completion then reports the whole message's bytes, as a split one's).
      if ((p.batch ? p.splitBytes < 0 : true) && SEGMENT_REFUSALS.has(e) && (p.msgs[p.next]?.segment || p.next === p.cut.at)) {
        this.osError(e, 'sendmsg', 'send');
        classified = true;
        if (!p.batch && p.splitBytes < 0) p.splitBytes = p.msgs[0]!.total;
        if (this.cutRefused(p.msgs, p.next, e, p.cut)) continue;
      }
      if (e === EAGAIN && !(pollError && this.takeQueuedIcmpError('sendmsg'))) break;
      const sent = sentCount(p);
      const c: Completion = [p.token, p.splitBytes >= 0 ? p.splitBytes : p.batch ? sent : state.firstBytes, 0, 0, '', sent, null];
      if (e) {
        if (e !== EAGAIN && !classified) this.osError(e, 'sendmsg', 'send');
        const err = this.err;
        c[1] = SEND_FAILED;
        c[2] = err[0];
        c[3] = err[1];
        c[4] = err[2];
        c[6] = err[3];
      }
      append(done, c);
      this.queue.shift();
      live.queuedSends--;
    }
    unwatchIfIdle(this);
    const empty = this.queue.length === 0;
    // Last: delivery runs JS, which may send again or close this socket.
    this.deliver(done);
    return empty;
  }

  private sendNow(e: Encoded, blocking: boolean): number {
    if (this.fd < 0) return this.fail(WSA.ENOTSOCK, 'sendmsg');
    const deadline = this.deadline();
    // A blocking send goes after the overlapped sends already queued, as on Windows.
    if (blocking && this.queue.length && !this.flushQueue(deadline)) return SEND_FAILED;
    let swallowed = 0;
    let retriedRefusal = false;
    for (;;) {
      writeMsg(e, HDRS, 0, DATA);
      const n = libc.sendmsg(this.fd, base + HDRS, e.flags);
      if (n >= 0) return n;
      const code = errno();
      if (code === EINTR) continue;
      // A segmented send's refusal errno goes to the refusal path, whose one resend serves
      // a pending ICMP error as well (send.cc's send_now).
      const refusal = e.segment > 0 && SEGMENT_REFUSALS.has(code);
      if (!refusal && swallowed < SWALLOW_TRIES && this.swallowIcmpError(code)) {
        swallowed++;
        continue;
      }
      this.osError(code, 'sendmsg', 'send');
      if (refusal) {
        // A pending ICMP error comes back with some of these errnos too (send.cc): the error
        // queue vouches for one; without it, one retry tells them apart (mayBePendingIcmp).
        if (this.err[3]) return SEND_FAILED;
        if (this.mayBePendingIcmp() && !retriedRefusal) {
          retriedRefusal = true;
          continue;
        }
        // The kernel refused to segment, before sending anything: WSAEOPNOTSUPP tells the
        // caller to send the segments as a batch; only a refusal no ICMP error passes for
        // turns offload off (send.cc's refusal_for_good).
        this.gsoBeforeRefusal = this.gso;
        if (REFUSALS_FOR_GOOD.has(code)) this.gso = false;
        this.err = [WSA.EOPNOTSUPP, this.err[1], this.err[2], null];
        return SEND_FAILED;
      }
      if (code !== EAGAIN || this.err[0] !== WSA.EWOULDBLOCK || !blocking || this.nonBlocking) return SEND_FAILED;
      // A blocking send waits for room, at most sendTimeout (SO_SNDTIMEO semantics).
      if (!this.waitWritable(deadline)) return SEND_FAILED;
    }
  }

  /**
   * Sends msgs[state.next..] with sendmmsg(2), in runs of equal flags that fit the arena.
   * 0 once all are sent, EAGAIN when the send buffer is full, or the errno of the message
   * at state.next. state.firstBytes: the size of msgs[0] once it is sent here.
   */
  private sendMsgs(msgs: Encoded[], state: { next: number; firstBytes: number }): number {
    let swallowed = 0;
    while (state.next < msgs.length) {
      const begin = state.next;
      let end = begin;
      let data = DATA;
      while (end < msgs.length && end - begin < MAX_CHUNK && msgs[end].flags === msgs[begin].flags &&
        data + msgs[end].total <= DATA_END) {
        data = writeMsg(msgs[end], HDRS + (end - begin) * A['sizeof mmsghdr'], end - begin, data);
        view.setUint32(HDRS + (end - begin) * A['sizeof mmsghdr'] + A['mmsghdr.msg_len'], 0, true);
        end++;
      }
      const r = libc.sendmmsg(this.fd, base + HDRS, end - begin, msgs[begin].flags);
      if (r < 0) {
        const code = errno();
        if (code === EINTR) continue;
        // The pending error went with this failure; the message itself was not sent. A
        // segmented message's refusal errno goes to cutRefused, which resends it once.
        const refusal = msgs[begin]!.segment > 0 && SEGMENT_REFUSALS.has(code);
        if (!refusal && swallowed < SWALLOW_TRIES && this.swallowIcmpError(code)) {
          swallowed++;
          continue;
        }
        return code;
      }
      swallowed = 0;
      if (begin === 0 && r > 0) state.firstBytes = view.getUint32(HDRS + A['mmsghdr.msg_len'], true);
      state.next = begin + r;
    }
    return 0;
  }

  private flushQueue(deadline: number): boolean {
    while (!this.drain()) {
      if (this.nonBlocking) {
        this.osError(EAGAIN, 'sendmsg', 'send');
        return false;
      }
      if (!this.waitWritable(deadline)) return false;
    }
    return true;
  }

  /** Blocks (sendMsgSync only) until writable or the deadline (0 = none): WSAETIMEDOUT. */
  private waitWritable(deadline: number): boolean {
    let timeout = -1;
    if (deadline) {
      timeout = ceil(deadline - now());
      if (timeout <= 0) return this.timedOut();
    }
    const at = SCRATCH + 1024;
    view.setInt32(at, this.fd, true);
    view.setInt16(at + A['pollfd.events'], A.POLLOUT, true);
    view.setInt16(at + A['pollfd.revents'], 0, true);
    const r = libc.poll(base + at, 1, timeout);
    if (r < 0 && errno() === EINTR) return this.osError(EINTR, 'sendmsg', 'send');
    if (r === 0) return this.timedOut();
    return true;
  }

  private timedOut(): boolean {
    this.osError(EAGAIN, 'sendmsg', 'send');
    this.err = [WSA.ETIMEDOUT, this.err[1], this.err[2], null];
    return false;
  }

  private deadline(): number {
    return this.sendTimeoutMs ? now() + this.sendTimeoutMs : 0;
  }

  private park(msgs: Encoded[], next: number, batch: boolean, token: number, splitBytes: number,
    cut: CutState = { retried: false, at: -1, err: 0, gsoBefore: false }): number {
    // From here the caller may detach, resize or reuse its buffers: what is sent later is
    // a copy of what they held now (send.cc's own_payload).
    for (let i = next; i < msgs.length; i++) {
      const e = msgs[i]!;
      const copy = new U8(e.total);
      let at = 0;
      for (const v of e.views) {
        const bytes = viewBytes(v);
        taSet(copy, bytes, at);
        at += taByteLength(bytes);
      }
      e.views = [copy];
    }
    append(this.queue, { token, batch, msgs, next, splitBytes, cut });
    live.queuedSends++;
    watch(this);
    return SEND_PENDING;
  }

  /**
   * addon.cc's Send/decode_plan: one message from its plan record (src/plan.ts decided
   * everything) and its views, encoded; several when the plan says to split it into its
   * segments. Or the Winsock number to fail with.
   */
  private encode(recs: Records, at: number, views: ArrayBufferView[]): Encoded[] | number {
    if (views.length > MAX_BUFFERS) return WSA.EFAULT;
    let total = 0;
    for (let i = 0; i < views.length; i++) {
      const v = views[i];
      if (!isView(v)) return WSA.EFAULT;
      total += viewByteLength(v);
    }
    // Host byte order, as src/plan.ts's typed arrays wrote it: little-endian on every target
    // this backend runs on (src/ffi/abi.ts).
    const { u8: rec, dv } = recs;
    const flags = dv.getUint8(at + PlanAt.FLAGS);
    if (flags & ~(PLAN_HAS_TO | PLAN_DONTROUTE | PLAN_SPLIT)) return WSA.EFAULT;
    const kindOf = (v: number): 0 | 4 | 6 | -1 => (v === 0 || v === 4 || v === 6 ? v : -1);
    const pktinfo = kindOf(dv.getUint8(at + PlanAt.PKTINFO));
    const tosKind = kindOf(dv.getUint8(at + PlanAt.TOS_KIND));
    if (pktinfo < 0 || tosKind < 0) return WSA.EFAULT;
    const segment = dv.getUint16(at + PlanAt.SEGMENT, true);
    const split = (flags & PLAN_SPLIT) !== 0;
    if (split && !segment) return WSA.EFAULT;
    // The planner chose the limit; the views are measured here, as in addon.cc.
    const maxBytes = dv.getUint32(at + PlanAt.MAX_BYTES, true);
    if (maxBytes && (split ? min(segment, total) : total) > maxBytes) return WSA.EMSGSIZE;
    // Raw sockets have no limit of their own above; the kernel's is 65535.
    if (!split && total > DATA_END - DATA) return WSA.EMSGSIZE;
    let name: Uint8Array | null = null;
    if (flags & PLAN_HAS_TO) {
      const family = dv.getUint8(at + PlanAt.TO_FAMILY);
      if (family !== 4 && family !== 6) return WSA.EFAULT;
      const bytes = copyOut(rec, at + PlanAt.TO_ADDR, family === 4 ? 4 : 16);
      name = sockaddr(this.kind, { family, bytes, scope: dv.getUint32(at + PlanAt.TO_SCOPE, true) }, dv.getUint16(at + PlanAt.TO_PORT, true));
    }
    const plan: Plan = {
      pktinfo: pktinfo as 0 | 4 | 6, ifindex: dv.getUint32(at + PlanAt.IFINDEX, true), tosKind: tosKind as 0 | 4 | 6, tos: dv.getUint8(at + PlanAt.TOS), segmentSize: split ? 0 : segment,
      addr: pktinfo ? copyOut(rec, at + PlanAt.SOURCE, pktinfo === 4 ? 4 : 16) : null,
    };
    const e: Encoded = {
      views, total, name, control: controlFor(plan), plan, split: false, segment, last: true,
      flags: (flags & PLAN_DONTROUTE ? A.MSG_DONTROUTE : 0) | A.MSG_NOSIGNAL | A.MSG_DONTWAIT,
    };
    return split ? this.cut(e) : [e];
  }

  /** addon.cc's cut_segments: e's payload as datagrams of e.segment bytes, views over the same memory. */
  private cut(e: Encoded): Encoded[] {
    const control = controlFor({ ...e.plan, segmentSize: 0 });
    const out: Encoded[] = [];
    let current: Uint8Array[] = [];
    let room = e.segment;
    const piece = (): Encoded => {
      let total = 0;
      for (let i = 0; i < current.length; i++) total += taByteLength(current[i]!);
      return { ...e, views: current, total, control, segment: 0, split: true, last: false };
    };
    // Indexed loops and intrinsics only: an iterator, push or subarray of the caller's would
    // run in the middle of a send, and subarray would hand it the payload's memory.
    const views = e.views;
    for (let i = 0; i < views.length; i++) {
      const v = viewBytes(views[i]!);
      const length = taByteLength(v);
      let offset = 0;
      while (offset < length) {
        const take = min(room, length - offset);
        append(current, u8sub(v, offset, offset + take));
        offset += take;
        room -= take;
        if (room === 0) {
          append(out, piece());
          current = [];
          room = e.segment;
        }
      }
    }
    if (current.length || out.length === 0) append(out, piece());
    out[out.length - 1]!.last = e.last;
    return out;
  }

  /**
   * send.cc's may_be_pending_icmp: a failure may be an ICMP error an earlier datagram left
   * pending (connected, or icmpErrors on: IP_RECVERR), which one more send tells apart.
   */
  private mayBePendingIcmp(): boolean {
    return this.peerFamily !== 0 || this.icmp === ICMP_ON;
  }

  /**
   * send.cc's cut_refused: errno `code` for msgs[at] of a batch is the kernel refusing to
   * segment it; then it is cut in its place (as win32 does) and the caller sends again. On
   * a socket where an ICMP error may be pending (mayBePendingIcmp) the first such failure
   * is sent again as it was (`state.retried`): a pending ICMP error comes back with some of
   * these errnos too, and is gone once returned.
   */
  private cutRefused(msgs: Encoded[], at: number, code: number, cut: CutState): boolean {
    // The first piece failing the same way: the failure was the message's, not the offload's.
    if (at === cut.at && code === cut.err) {
      this.gso = cut.gsoBefore;
      return false;
    }
    const e = msgs[at];
    if (!e || !e.segment || this.err[3] || !SEGMENT_REFUSALS.has(code)) return false;
    if (this.mayBePendingIcmp() && !cut.retried) {
      cut.retried = true;
      return true;
    }
    cut.at = at;
    cut.err = code;
    cut.gsoBefore = this.gso;
    const forGood = REFUSALS_FOR_GOOD.has(code);
    if (forGood) this.gso = false;
    this.cutFrom(msgs, at, forGood ? 1 : e.segment);
    return true;
  }

  /** send.cc's cut_from: msgs[at], and every later message of segments >= atLeast, cut in one pass. */
  private cutFrom(msgs: Encoded[], at: number, atLeast: number): void {
    const out: Encoded[] = [];
    for (let i = at; i < msgs.length; i++) {
      const e = msgs[i]!;
      if (e.segment && e.segment >= atLeast) {
        const pieces = this.cut(e);
        for (let k = 0; k < pieces.length; k++) append(out, pieces[k]!);
      } else {
        append(out, e);
      }
    }
    msgs.length = at;
    for (let k = 0; k < out.length; k++) append(msgs, out[k]!);
  }

  // --- recv.cc -----------------------------------------------------------------------------
  recv(buffer: Uint8Array, token: number): RawReceived | number {
    if (arenaBusy) return this.fail(WSA.EINPROGRESS, 'recvmsg');  // see sendSync
    arenaBusy = true;
    try {
      return this.recvInArena(buffer, token);
    } finally {
      arenaBusy = false;
    }
  }

  private recvInArena(buffer: Uint8Array, token: number): RawReceived | number {
    if (this.fd < 0) return this.fail(WSA.ENOTSOCK, 'recvmsg');
    if (!isView(buffer)) return this.fail(WSA.EFAULT, 'recvmsg');
    if (this.recvQueue.length === 0) {
      const r = this.receiveOne(buffer);
      if (typeof r !== 'number') return r;
      if (r !== EAGAIN) {
        this.osError(r, 'recvmsg', 'recv');
        return SEND_FAILED;
      }
    }
    append(this.recvQueue, { token, buffer, slot: 0, max: 0 });
    live.queuedSends++;
    watch(this);
    return SEND_PENDING;
  }

  recvBatch(slot: number, max: number, token: number): RawBatch | number {
    if (arenaBusy) return this.fail(WSA.EINPROGRESS, 'recvmmsg');  // see sendSync
    arenaBusy = true;
    try {
      if (this.fd < 0) return this.fail(WSA.ENOTSOCK, 'recvmmsg');
      if (!(slot >= 1 && slot <= 1 << 20 && max >= 1 && max <= MAX_BATCH)) return this.fail(WSA.EINVAL, 'recvmmsg');
      if (this.recvQueue.length === 0) {
        const r = this.receiveMany(slot, max);
        if (typeof r !== 'number') return r;
        if (r !== EAGAIN) {
          this.osError(r, 'recvmmsg', 'recv');
          return SEND_FAILED;
        }
      }
      append(this.recvQueue, { token, buffer: null, slot, max });
      live.queuedSends++;
      watch(this);
      return SEND_PENDING;
    } finally {
      arenaBusy = false;
    }
  }

  cancelRecv(token: number): boolean {
    return this.unqueue(this.recvQueue, token);
  }

  /** @internal Completes what the receive queue can receive now. Runs JS. `pollError`: as drain's. */
  drainRecv(pollError = false): void {
    const done: ReceiveDone[] = [];
    while (this.recvQueue.length) {
      const r = this.recvQueue[0];
      const got = r.buffer ? this.receiveOne(r.buffer) : this.receiveMany(r.slot, r.max);
      const syscall = r.buffer ? 'recvmsg' : 'recvmmsg';
      if (got === EAGAIN && !(pollError && this.takeQueuedIcmpError(syscall))) break;
      if (typeof got === 'number') {
        if (got !== EAGAIN) this.osError(got, syscall, 'recv');
        append(done, [r.token, null, this.err[0], this.err[1], this.err[2], this.err[3]] as ReceiveDone);
      } else {
        append(done, [r.token, got, 0, 0, '', null] as ReceiveDone);
      }
      this.recvQueue.shift();
      live.queuedSends--;
    }
    unwatchIfIdle(this);
    this.deliverReceived(done);
  }

  /**
   * recv.cc's retrying: the call again after EINTR, and after the ICMP errors a socket that
   * does not want them must not see (SWALLOW_TRIES). >= 0, or -errno.
   */
  private retrying(call: () => number): number {
    for (let swallowed = 0; ;) {
      const n = call();
      if (n >= 0) return n;
      const code = errno();
      if (code === EINTR) continue;
      if (swallowed === SWALLOW_TRIES || !this.swallowIcmpError(code)) return -code;
      swallowed++;
    }
  }

  /** One recvmsg, MSG_DONTWAIT, into the arena and then the caller's buffer; or the errno. */
  private receiveOne(buffer: ArrayBufferView): RawReceived | number {
    const hdr = HDRS;
    const name = HDRS + 64;
    const control = name + A['sizeof sockaddr_storage'];
    const iov = control + RECV_CONTROL;
    const data = DATA;
    const len = min(taByteLength(buffer), DATA_END - DATA);
    const n = this.retrying(() => {
      taFill(mem, 0, hdr, hdr + A['sizeof msghdr']);
      receiveHeader(hdr, iov, data, len, name, control);
      return libc.recvmsg(this.fd, base + hdr, A.MSG_DONTWAIT);
    });
    if (n < 0) return -n;
    taSet(new U8(taBuffer(buffer), taByteOffset(buffer), taByteLength(buffer)), u8sub(mem, data, data + n));
    const truncated = (view.getInt32(hdr + A['msghdr.msg_flags'], true) & A.MSG_TRUNC) !== 0;
    const [fromAddress, fromPort] = readSockaddr(name);
    const used = u64(hdr + A['msghdr.msg_controllen']);
    const { destination, ifindex, tos } = decodeControl(control, used, n);
    return [n, truncated, fromAddress, fromPort, destination, ifindex, tos];
  }

  /**
   * recv.cc's receive_many: one recvmmsg of up to max datagrams into slots in the arena
   * (fewer when the arena cannot hold max of them), copied out as a RawBatch; or the errno.
   */
  private receiveMany(slot: number, max: number): RawBatch | number {
    // mmsghdrs at HDRS; then, in the data region, each message's iovec, name and control,
    // and after them the slots. As many as fit (at the defaults, all 64).
    const perMsg = A['sizeof iovec'] + A['sizeof sockaddr_storage'] + RECV_CONTROL;
    const n0 = maxOf(1, min(max, floor(RECORDS / A['sizeof mmsghdr']), floor((DATA_END - DATA) / (perMsg + slot))));
    const slots = DATA + ((n0 * perMsg + 63) & ~63);
    const len = min(slot, DATA_END - slots);
    const hdrSize = A['sizeof mmsghdr'];
    taFill(mem, 0, HDRS, HDRS + n0 * hdrSize);
    for (let i = 0; i < n0; i++) {
      const iov = DATA + i * perMsg;
      const name = iov + A['sizeof iovec'];
      receiveHeader(HDRS + i * hdrSize, iov, slots + i * len, len, name, name + A['sizeof sockaddr_storage']);
    }
    const n = this.retrying(() => libc.recvmmsg(this.fd, base + HDRS, n0, A.MSG_DONTWAIT, 0));
    if (n < 0) return -n;
    // addon.cc's BatchToJs layout: the table, then the bytes; addresses once each.
    let total = 0;
    for (let i = 0; i < n; i++) total += view.getUint32(HDRS + i * hdrSize + A['mmsghdr.msg_len'], true);
    const tableBytes = n * RAW_BATCH_FIELDS * 4;
    const out = new U8(tableBytes + total);
    const table = new I32(taBuffer(out), 0, n * RAW_BATCH_FIELDS);
    const result: RawBatch = [out, n];
    const strings = new Map<string, number>();
    const intern = (text: string): number => {
      let at = strings.get(text);
      if (at === undefined) {
        at = append(result as unknown[], text);
        strings.set(text, at);
      }
      return at;
    };
    let at = tableBytes;
    for (let i = 0; i < n; i++) {
      const hdr = HDRS + i * hdrSize;
      const name = DATA + i * perMsg + A['sizeof iovec'];
      const control = name + A['sizeof sockaddr_storage'];
      const bytes = view.getUint32(hdr + A['mmsghdr.msg_len'], true);
      const [fromAddress, fromPort] = readSockaddr(name);
      const used = u64(hdr + A['msghdr.msg_controllen']);
      const c = decodeControl(control, used, bytes);
      const f = i * RAW_BATCH_FIELDS;
      table[f] = bytes;
      table[f + 1] = (view.getInt32(hdr + A['msghdr.msg_flags'], true) & A.MSG_TRUNC) !== 0 ? 1 : 0;
      table[f + 2] = intern(fromAddress);
      table[f + 3] = fromPort;
      table[f + 4] = c.destination === null ? -1 : intern(c.destination);
      table[f + 5] = c.ifindex;
      table[f + 6] = c.tos;
      table[f + 7] = c.segment;
      taSet(out, u8sub(mem, slots + i * len, slots + i * len + bytes), at);
      at += bytes;
    }
    return result;
  }

  // --- errors.cc ---------------------------------------------------------------------------
  /**
   * errno -> WSAE at the call that failed. A send adds the socket's state to split EAGAIN;
   * a send or receive reads the ICMP error that may stand behind the errno.
   */
  private osError(code: number, syscall: string, io: 'send' | 'recv' | 'plain'): false {
    let wsa = WSA_OF_ERRNO.get(code) ?? WSA.SYSCALLFAILURE;
    // EAGAIN while the kernel was choosing a local port: the ephemeral range is used up,
    // which Windows reports as WSAENOBUFS.
    if (io === 'send' && code === EAGAIN && !this.hasLocalPort()) wsa = WSA.ENOBUFS;
    this.err = [wsa, code, syscall, null];
    if (io !== 'plain') this.classifyIcmpError();
    return false;
  }

  /** osError for a call that is not a send or receive, returning the addon's "failed" value. */
  private osFail(code: number, syscall: string): number {
    this.osError(code, syscall, 'plain');
    return SEND_FAILED;
  }

  private fail(wsa: number, syscall: string): number {
    this.err = [wsa, 0, syscall, null];
    return SEND_FAILED;
  }

  /** errors.cc's classify_icmp_error: one error-queue entry per failed call. */
  private classifyIcmpError(): void {
    if (this.icmp !== ICMP_ON || !ICMP_ERRNOS.has(this.err[1]) || this.fd < 0) return;
    // One entry per failed call, trusted only when its errno is this failure's (errors.cc).
    const entry = this.readErrorQueue();
    if (entry?.found && entry.family && entry.errno === this.err[1]) this.err = [entry.wsa || this.err[0], this.err[1], this.err[2], entry.icmp];
  }

  /**
   * A waiting send or receive that poll woke with POLLERR but that would still block: the
   * socket's pending error is gone while its error-queue entry stays (sendmmsg(2) takes the
   * error with the message it fails, then returns the count sent before it and drops the
   * error), and poll reports POLLERR for as long as the queue holds an entry. The waiting
   * call takes that entry as its failure, as classify_icmp_error would have refined it;
   * entries no call should report (local errors: the send that caused one returned it) are
   * dropped. True: this.err is set.
   */
  private takeQueuedIcmpError(syscall: string): boolean {
    if (this.fd < 0) return false;
    for (let entry = this.readErrorQueue(); entry; entry = this.readErrorQueue()) {
      if (this.icmp === ICMP_ON && entry.found && entry.family && ICMP_ERRNOS.has(entry.errno)) {
        this.err = [entry.wsa || (WSA_OF_ERRNO.get(entry.errno) ?? WSA.SYSCALLFAILURE), entry.errno, syscall, entry.icmp];
        return true;
      }
    }
    return false;
  }

  /**
   * One entry of the error queue (MSG_ERRQUEUE), dequeued; null when it is empty. found:
   * it had its IP_RECVERR / IPV6_RECVERR message; wsa: the ICMP row's, 0 if none matches.
   */
  private readErrorQueue(): { found: boolean; errno: number; family: 0 | 4 | 6; wsa: number; icmp: RawIcmp | null } | null {
    const hdr = SCRATCH + 2048;
    const iov = hdr + 64;
    const name = iov + 32;
    const control = name + A['sizeof sockaddr_storage'];
    taFill(mem, 0, hdr, control);
    setPtr(iov, base + iov + 16);
    setPtr(iov + A['iovec.iov_len'], 1);
    setPtr(hdr + A['msghdr.msg_name'], base + name);
    view.setUint32(hdr + A['msghdr.msg_namelen'], A['sizeof sockaddr_storage'], true);
    setPtr(hdr + A['msghdr.msg_iov'], base + iov);
    setPtr(hdr + A['msghdr.msg_iovlen'], 1);
    setPtr(hdr + A['msghdr.msg_control'], base + control);
    setPtr(hdr + A['msghdr.msg_controllen'], 512);
    if (libc.recvmsg(this.fd, base + hdr, A.MSG_ERRQUEUE | A.MSG_DONTWAIT) < 0) return null;
    const used = u64(hdr + A['msghdr.msg_controllen']);
    for (const [level, type, at, len] of cmsgs(control, used)) {
      if (!((level === A.IPPROTO_IP && type === A.IP_RECVERR) || (level === A.IPPROTO_IPV6 && type === A.IPV6_RECVERR))) continue;
      const origin = mem[at + A['sock_extended_err.ee_origin']];
      const family = origin === A.SO_EE_ORIGIN_ICMP ? 4 : origin === A.SO_EE_ORIGIN_ICMP6 ? 6 : 0;
      const type_ = mem[at + A['sock_extended_err.ee_type']];
      const code = mem[at + A['sock_extended_err.ee_code']];
      const row = ICMP_WSA.find(([f, t, c]) => f === family && t === type_ && (c < 0 || c === code));
      // The entry's name is the destination of the datagram the ICMP message answered;
      // SO_EE_OFFENDER, right after the sock_extended_err, is who sent it (errors.cc).
      const nameFamily = view.getUint16(name, true);
      let icmp: RawIcmp | null = null;
      if (nameFamily === A.AF_INET || nameFamily === A.AF_INET6) {
        const [address, port] = readSockaddr(name);
        const offender = at + A['sizeof sock_extended_err'];
        const offenderFamily = len >= A['sizeof sock_extended_err'] + 2 ? view.getUint16(offender, true) : 0;  // AF_UNSPEC
        const reporter = offenderFamily === A.AF_INET || offenderFamily === A.AF_INET6 ? readSockaddr(offender)[0] : '';
        icmp = [address, port, type_, code, reporter];
      }
      // ee_errno is sock_extended_err's first member (linux/errqueue.h, the kernel's ABI).
      return { found: true, errno: view.getUint32(at, true), family, wsa: row ? row[3] : 0, icmp };
    }
    return { found: false, errno: 0, family: 0, wsa: 0, icmp: null };
  }

  /** errors.cc's swallow_icmp_error: icmpErrors false on a connected socket takes a pending port unreachable silently. */
  private swallowIcmpError(code: number): boolean {
    return this.icmp === ICMP_OFF && this.peerFamily !== 0 && ICMP_ERRNOS.has(code);
  }

  private hasLocalPort(): boolean {
    if (!this.localName()) return true;
    const family = view.getUint16(SCRATCH, true);
    if (family === A.AF_INET) return view.getUint16(SCRATCH + A['sockaddr_in.sin_port'], false) !== 0;
    if (family === A.AF_INET6) return view.getUint16(SCRATCH + A['sockaddr_in6.sin6_port'], false) !== 0;
    return true;
  }

  /** getsockname into SCRATCH. */
  private localName(): boolean {
    const lenAt = SCRATCH + 256;
    view.setUint32(lenAt, A['sizeof sockaddr_storage'], true);
    return libc.getsockname(this.fd, base + SCRATCH, base + lenAt) === 0;
  }

  /** getsockopt of an int; null if the option is refused. */
  private intOpt(level: number, name: number): number | null {
    const lenAt = SCRATCH + 8;
    view.setInt32(SCRATCH, 0, true);
    view.setUint32(lenAt, 4, true);
    if (libc.getsockopt(this.fd, level, name, base + SCRATCH, base + lenAt) !== 0) return null;
    return view.getInt32(SCRATCH, true);
  }

  private closeFd(): void {
    unwatch(this);
    closeHandle(this.h);
    handles.delete(this.h);
    finalizer.unregister(this);
  }

  // --- delivery (addon.cc's Emit) ------------------------------------------------------------
  private deliver(done: Completion[]): void {
    for (const c of done) this.oncomplete(...c);
  }

  private deliverReceived(done: ReceiveDone[]): void {
    for (const r of done) this.onreceive?.(...r);
  }
}

/** The control messages in [at, at + len) of the arena, as [level, type, data offset, data length]. */
function* cmsgs(at: number, len: number): Generator<[number, number, number, number]> {
  let off = 0;
  while (off + CMSG_HDR <= len) {
    const cmsgLen = u64(at + off);
    if (cmsgLen < CMSG_HDR || off + cmsgLen > len) return;
    yield [view.getInt32(at + off + A['cmsghdr.cmsg_level'], true), view.getInt32(at + off + A['cmsghdr.cmsg_type'], true), at + off + CMSG_HDR,
      cmsgLen - CMSG_HDR];
    off += align(cmsgLen);
  }
}
