import { type IpLiteral } from './address';
import { SEND_PENDING, binding, type EachFailure, type NativeSocket, type SendFailure } from './binding';
import { WSA, WsaError, invalidArgType, invalidArgValue, outOfRange } from './errors';
import { F64, U32, U8, ceil, isArray, isView, max, ownArray } from './intrinsics';
import { LiteralMemo, PlanMemory, memoLiteral, planMessage, type PlanInput, type Refusal } from './plan';
import { PLAN_AS_BEFORE, PLAN_SIZE, PlanAt } from './plan.generated';
import {
  Socket, addPending, flushStaged, hasRoom, kState, listen, notifyIfDrained, takePending, toWsaError, unlisten, type Listener,
  type PendingEntry, type SocketState, type StagedSends,
} from './socket';
import {
  copyView, measureBuffers, unusableView, readBuffers, validateAbortSignal, validateFunction, validateInteger, validateObject,
} from './validate';

// Taken at load: a caller who replaces the global Promise would otherwise run code between a
// send being handed to the OS (or staged) and its bookkeeping, and could leave it unsettled.
const NativePromise: PromiseConstructor = Promise;
const resolved: <T>(value: T) => Promise<T> = Promise.resolve.bind(Promise);
const rejected: (reason: unknown) => Promise<never> = Promise.reject.bind(Promise);

/** `flags` values, as in Winsock (the same numbers as Linux for OOB and DONTROUTE). */
export const MSG = {
  /** Out-of-band data: stream sockets only, so always WSAEOPNOTSUPP here (as on Windows). */
  OOB: 0x1,
  /** Bypass routing: send only to directly connected networks. */
  DONTROUTE: 0x4,
  /** Partial message: not valid on datagram sockets, so always WSAEOPNOTSUPP (as on Windows). */
  PARTIAL: 0x8000,
} as const;

/** A destination. */
export interface SendTarget {
  /** IP literal: IPv4, IPv6 (optional `%scope`) or v4-mapped IPv6. On a udp6 socket an IPv4 literal means its v4-mapped form. */
  address: string;
  /** 1–65535 (raw sockets: 0–65535). */
  port: number;
  /** Ignored (the address says it); accepted so that `recvMsg`'s `from` can be passed back. */
  family?: 'IPv4' | 'IPv6' | undefined;
}

/** Per-datagram control data (IN_PKTINFO / IN6_PKTINFO). */
export interface SendControl {
  /**
   * Source address of this datagram: must be local. Linux: IP_PKTINFO `ipi_spec_dst` /
   * IPV6_PKTINFO; Windows: IN_PKTINFO `ipi_addr` / IN6_PKTINFO. A v4 or v4-mapped
   * destination takes an IPv4 source (the Windows dual-stack rule); mixing families is WSAEINVAL.
   */
  sourceAddress?: string | undefined;
  /** Outgoing interface index (0 = routing decides). */
  interfaceIndex?: number | undefined;
  /**
   * The TOS / traffic-class byte of this datagram, 0–255 (DSCP in the high six bits, ECN in
   * the low two). Linux: IP_TOS or IPV6_TCLASS, by the destination's family (the dual-stack
   * rule). Windows: ECN alone as IP_ECN; DSCP bits as IP_TOS where the stack takes them (`capabilities().perDatagramTos`), else WSAEOPNOTSUPP.
   */
  tos?: number | undefined;
  /** The ECN codepoint, 0–3 (e.g. 1 = ECT(1), 2 = ECT(0)); replaces the low two bits of `tos`. Windows: IP_ECN / IPV6_ECN. */
  ecn?: number | undefined;
}

/** One datagram, in the terms of WSAMSG. */
export interface Message {
  /** The payload: one view or up to 1024, gathered by the kernel (WSABUF[] / iovec[]); a send that has to wait sends a copy of what they held at the call. */
  buffers: ArrayBufferView | readonly ArrayBufferView[];
  /** Destination; omit on a connected socket. */
  to?: SendTarget | null | undefined;
  /** Per-datagram source address / interface. */
  control?: SendControl | null | undefined;
  /** `MSG.DONTROUTE`; `MSG.OOB` and `MSG.PARTIAL` are refused with WSAEOPNOTSUPP on datagram sockets. */
  flags?: number | undefined;
  /** `sendMsg` only: aborting fails the send with WSA_OPERATION_ABORTED if the OS has not taken it yet. */
  signal?: AbortSignal | undefined;
  /**
   * Cut the buffers into datagrams of this many bytes (the last may be shorter), all with
   * the same destination and control data. The kernel does the cutting where it can
   * (UDP_SEGMENT on Linux, UDP_SEND_MSG_SIZE on Windows: see `socket.capabilities()`),
   * otherwise the shim sends the pieces as one batch, without copying. Resolves with the
   * total bytes sent.
   */
  segmentSize?: number | undefined;
}

/** Completion callback of {@link sendMsg}: never called synchronously. */
export type SendCallback = (err: WsaError | null, bytes: number) => void;

// Unknown keys are refused: a misspelt `sourceAdress` would otherwise send from the wrong
// address. A switch over the (internalized) key strings is what costs least per send.
function unknownKey(value: Record<string, unknown>, key: string, name: string): void {
  if (value[key] !== undefined) throw invalidArgValue(`${name}.${key}`, value[key], 'is not a known option');
}

function checkMessageKeys(msg: Record<string, unknown>, name: string): void {
  for (const key in msg) {
    switch (key) {
      case 'buffers': case 'to': case 'control': case 'flags': case 'signal': case 'segmentSize': continue;
      default: unknownKey(msg, key, name);
    }
  }
}

function checkTargetKeys(to: Record<string, unknown>, name: string): void {
  for (const key in to) {
    switch (key) {
      // `family` too, so that a received message's `from` (a SocketAddress) can be answered as is.
      case 'address': case 'port': case 'family': continue;
      default: unknownKey(to, key, name);
    }
  }
}

function checkControlKeys(control: Record<string, unknown>, name: string): void {
  for (const key in control) {
    switch (key) {
      case 'sourceAddress': case 'interfaceIndex': case 'tos': case 'ecn': continue;
      default: unknownKey(control, key, name);
    }
  }
}

/** The names argument errors give, made once per message position rather than per send. */
interface Names {
  msg: string; buffers: string; to: string; toAddress: string; toPort: string; control: string; sourceAddress: string;
  interfaceIndex: string; tos: string; ecn: string; flags: string; signal: string; segmentSize: string;
}

function makeNames(msg: string): Names {
  return {
    msg, buffers: `${msg}.buffers`, to: `${msg}.to`, toAddress: `${msg}.to.address`, toPort: `${msg}.to.port`,
    control: `${msg}.control`, sourceAddress: `${msg}.control.sourceAddress`, interfaceIndex: `${msg}.control.interfaceIndex`,
    tos: `${msg}.control.tos`, ecn: `${msg}.control.ecn`, flags: `${msg}.flags`, signal: `${msg}.signal`,
    segmentSize: `${msg}.segmentSize`,
  };
}

const MSG_NAMES = makeNames('msg');
const batchNames: Names[] = [];
function namesAt(i: number): Names {
  return batchNames[i] ??= makeNames(`msgs[${i}]`);
}

/**
 * One message as read once from the caller's object: every field, each element of
 * `buffers`, nothing read twice. From here on no user code runs until the system call.
 */
interface Prepared extends PlanInput {
  st: SocketState;
  /** The view, or a new array of the views as read (ours: nothing else can change it). */
  views: ArrayBufferView | ArrayBufferView[];
  /** Measured only where TS needs it (segments, queue accounting); -1 until then. */
  totalBytes: number;
  signal: AbortSignal | undefined;
  /** `signal.aborted` as read with the rest of the message. */
  aborted: boolean;
  /** The argument's names, for errors found after reading. */
  names: Names;
}

function socketState(sock: unknown): SocketState {
  if (!(sock instanceof Socket)) throw invalidArgType('socket', 'an instance of Socket (from openSocket)', sock);
  return sock[kState];
}

function notAMessage(msg: unknown, name: string): never {
  // A payload passed where the message belongs: say what to write instead.
  if (isView(msg) || (isArray(msg) && msg.length > 0 && isView(msg[0]))) {
    throw invalidArgType(name, 'a message object such as { buffers: payload, to: { address, port } } (the payload goes in ' +
      '`buffers`)', msg);
  }
  throw invalidArgType(name, 'of type object', msg);
}

// Module-private rather than per socket: nothing a caller reaches leads to them.
const destinationMemo = new LiteralMemo();
const sourceMemo = new LiteralMemo();

/**
 * The `to` and `control` objects whose keys one batch call has already checked. Messages of
 * a batch often share them (one peer, one source address), and a key check is a `for…in`
 * (about 60 instructions a message each). Only the keys are skipped: every value is still
 * read for every message. Per call, never kept: a caller may add a misspelt key between calls.
 */
interface KeysChecked { to: object | null; control: object | null }

/** Reads every field of a message once, with the checks that need nothing else. */
function readMessage(st: SocketState, msg: unknown, names: Names, checked: KeysChecked | null = null): Prepared {
  if (msg === null || typeof msg !== 'object' || isArray(msg) || isView(msg)) notAMessage(msg, names.msg);
  validateObject(msg, names.msg);
  checkMessageKeys(msg, names.msg);
  const views = readBuffers(msg.buffers, names.buffers);
  let to: IpLiteral | null = null;
  let toPort = 0;
  const target = msg.to;
  if (target !== undefined && target !== null) {
    if (checked === null || target !== checked.to) {
      validateObject(target, names.to);
      checkTargetKeys(target, names.to);
      if (checked !== null) checked.to = target;
    }
    const { address, port } = target as Record<string, unknown>;
    to = address === destinationMemo.text ? destinationMemo.literal : memoLiteral(address, names.toAddress, destinationMemo);
    if (!(st.isRaw && port === undefined)) {
      validateInteger(port, names.toPort, st.isRaw ? 0 : 1, 65535);
      toPort = port;
    }
  }
  let source: IpLiteral | null = null;
  let ifindex = 0;
  let tos = -1;
  const control = msg.control;
  if (control !== undefined && control !== null) {
    if (checked === null || control !== checked.control) {
      validateObject(control, names.control);
      checkControlKeys(control, names.control);
      if (checked !== null) checked.control = control;
    }
    const c = control as Record<string, unknown>;
    const sourceAddress = c.sourceAddress;
    const interfaceIndex = c.interfaceIndex;
    if (sourceAddress !== undefined) {
      source = sourceAddress === sourceMemo.text ? sourceMemo.literal : memoLiteral(sourceAddress, names.sourceAddress, sourceMemo);
    }
    if (interfaceIndex !== undefined) {
      validateInteger(interfaceIndex, names.interfaceIndex, 0, 0xffffffff);
      ifindex = interfaceIndex;
    }
    const tosByte = c.tos;
    const ecn = c.ecn;
    if (tosByte !== undefined) validateInteger(tosByte, names.tos, 0, 255);
    if (ecn !== undefined) validateInteger(ecn, names.ecn, 0, 3);
    if (tosByte !== undefined || ecn !== undefined) tos = ((tosByte ?? 0) & ~3) | (ecn ?? ((tosByte ?? 0) & 3));
  }
  const flags = msg.flags ?? 0;
  validateInteger(flags, names.flags, 0, 0xffffffff);
  const signal = msg.signal;
  let aborted = false;
  if (signal !== undefined) {
    validateAbortSignal(signal, names.signal);
    aborted = signal.aborted === true;
  }
  let segmentSize = 0;
  const segment = msg.segmentSize;
  if (segment !== undefined) {
    validateInteger(segment, names.segmentSize, 1, 65527);
    segmentSize = segment;
  }
  return { st, views, to, toPort, source, ifindex, flags, tos, segmentSize, split: false, totalBytes: -1, signal, aborted, names };
}

/**
 * What must be decided once every message of the call has been read (a getter of a later
 * message may detach or resize the buffers of an earlier one): a segmented message is
 * measured here, by the views' intrinsic lengths, and told whether the kernel cuts it.
 */
function seal(p: Prepared, batch: boolean): void {
  if (!p.segmentSize) return;
  p.totalBytes = measureBuffers(p.views, p.names.buffers);
  // Past what one batch can carry the pieces could not go as one call: an argument
  // error, thrown here like every other one, before anything is sent.
  if (p.totalBytes > p.segmentSize * MAX_BATCH) {
    throw outOfRange(`${p.names.buffers} byte length`, `<= ${p.names.segmentSize} * ${MAX_BATCH} (${p.segmentSize * MAX_BATCH})`, p.totalBytes);
  }
  // Split here when one offloaded send cannot carry it; a socket whose offload is off splits
  // in the backend (it knows that without a call into native code, which costs more than
  // the rest of this function).
  p.split = !batch && !(p.totalBytes <= OFFLOAD_MAX_BYTES && ceil(p.totalBytes / p.segmentSize) <= OFFLOAD_MAX_SEGMENTS);
}

/** The largest payload one offloaded send may carry (one IPv4 packet; also safe for IPv6). */
const OFFLOAD_MAX_BYTES = 65507;
/** Most segments one offloaded send may carry: per OS (shim.h kMaxSegments). */
const OFFLOAD_MAX_SEGMENTS: number = binding.maxOffloadSegments;

/**
 * Plans a single send into the socket's own record, unless the record already holds the
 * same plan: a sender repeating its destination and source (the same literal objects,
 * from the address cache) pays only these comparisons.
 */
function planSingle(p: Prepared): Refusal | null {
  const st = p.st;
  const k = st.planKey;
  if (k.valid && k.to === p.to && k.toPort === p.toPort && k.source === p.source && k.ifindex === p.ifindex &&
    k.flags === p.flags && k.tos === p.tos && k.segmentSize === p.segmentSize && k.split === p.split) return null;
  k.valid = false;
  const refused = st.writePlan(p);
  if (refused) return refused;
  k.to = p.to; k.toPort = p.toPort; k.source = p.source; k.ifindex = p.ifindex; k.flags = p.flags; k.tos = p.tos;
  k.segmentSize = p.segmentSize; k.split = p.split; k.valid = true;
  return null;
}

/** The destination (and source) of a message, for the error that names it. */
function where(p: Prepared): { address?: string; port?: number; sourceAddress?: string } {
  const out: { address?: string; port?: number; sourceAddress?: string } = p.to === null ? {} : { address: p.to.text, port: p.toPort };
  if (p.source !== null) out.sourceAddress = p.source.text;
  return out;
}

function refusalError(p: Prepared, r: Refusal): WsaError {
  const w = where(p);
  if (p.to === null && p.st.peer !== null) w.address = p.st.peer.text;
  return new WsaError(r.wsa, { ...w, reason: r.reason });
}

/**
 * A failure the call returned. WSAEFAULT made by the shim means a view that src/ read was
 * not one the native side could use: it was detached meanwhile (nothing was sent). Say
 * which, as the argument error it is.
 */
function sendError(p: Prepared, f: SendFailure): WsaError {
  if (f[0] === WSA.EFAULT && f[1] === 0) throwIfUnusable(p);
  const w: Parameters<typeof toWsaError>[4] = where(p);
  // A segmented send's failure says how many of its datagrams went (the native side counts
  // the segments sent before a failure part way through its batch fallback).
  if (p.segmentSize) w.segmentsSent = f[4];
  return toWsaError(f[0], f[1], f[2], f[3], w);
}

/** The addon's refusal of a view before any I/O (WSAEFAULT of the shim's own, no errno). */
const isShimFault = (r: number | SendFailure): r is SendFailure => typeof r !== 'number' && r[0] === WSA.EFAULT && r[1] === 0;

/**
 * After the addon refused a call's 0-byte views (it cannot tell an empty view from a
 * detached one or one left outside a shrunk buffer): the argument error if one of them is
 * not truly empty; else the addon is told so for the call that follows at once. Runs only
 * the shim's own code, so nothing can change the views before that call.
 */
function retryEmpty(st: SocketState, prepared: Prepared | readonly Prepared[]): void {
  if (isArray(prepared)) {
    const list = prepared as readonly Prepared[];
    for (let i = 0; i < list.length; i++) throwIfUnusable(list[i]!);
  } else {
    throwIfUnusable(prepared as Prepared);
  }
  st.native.allowEmpty();
}

function throwIfUnusable(p: Prepared): void {
  const views = isArray(p.views) ? p.views : [p.views];
  for (let i = 0; i < views.length; i++) {
    const why = unusableView(views[i]!);
    if (why !== null) throw invalidArgValue(isArray(p.views) ? `${p.names.buffers}[${i}]` : p.names.buffers, views[i], why);
  }
}

/** Bytes of the message, measured the first time something needs them (no user code runs). */
function bytesOf(p: Prepared): number {
  if (p.totalBytes < 0) p.totalBytes = measureBuffers(p.views, p.names.buffers);
  return p.totalBytes;
}

/** How many datagrams a message is on the wire. */
function datagrams(p: Prepared): number {
  return p.segmentSize ? max(1, ceil(bytesOf(p) / p.segmentSize)) : 1;
}

/** The overlapped-queue bound (maxPendingSends / maxPendingBytes) is reached. */
function queueFull(st: SocketState, w: { address?: string; port?: number; sourceAddress?: string }): WsaError {
  return new WsaError(WSA.EWOULDBLOCK, {
    ...w,
    reason: `${st.pendingDatagrams} datagrams (${st.pendingBytes} bytes) already queued on this socket, the most maxPendingSends / ` +
      'maxPendingBytes allow: await socket.drained() before sending more',
  });
}

// Up to four views go as direct arguments (no array for the native side to walk).
function callSync(n: NativeSocket, v: ArrayBufferView | ArrayBufferView[]): number | SendFailure {
  if (!isArray(v)) return n.sendSync(v);
  switch (v.length) {
    case 0: return n.sendSync();
    case 1: return n.sendSync(v[0]!);
    case 2: return n.sendSync(v[0]!, v[1]!);
    case 3: return n.sendSync(v[0]!, v[1]!, v[2]!);
    case 4: return n.sendSync(v[0]!, v[1]!, v[2]!, v[3]!);
    default: return n.sendSync(v);
  }
}

function callAsync(n: NativeSocket, token: number, v: ArrayBufferView | ArrayBufferView[]): number | SendFailure {
  if (!isArray(v)) return n.sendAsync(token, v);
  switch (v.length) {
    case 0: return n.sendAsync(token);
    case 1: return n.sendAsync(token, v[0]!);
    case 2: return n.sendAsync(token, v[0]!, v[1]!);
    case 3: return n.sendAsync(token, v[0]!, v[1]!, v[2]!);
    case 4: return n.sendAsync(token, v[0]!, v[1]!, v[2]!, v[3]!);
    default: return n.sendAsync(token, v);
  }
}

/**
 * Sends one datagram and blocks like `send()` until the OS takes it (or fails): the
 * non-overlapped WSASendMsg. With `nonBlocking: true` it fails with WSAEWOULDBLOCK instead
 * of waiting; with `sendTimeout` it waits at most that long (WSAETIMEDOUT).
 *
 * @example
 * ```ts
 * const n = sendMsgSync(sock, {
 *   buffers: [header, payload],
 *   to: { address: '127.0.0.1', port: 9000 },
 *   control: { sourceAddress: '127.0.0.2' },
 * });
 * ```
 * @returns bytes sent (always the whole datagram).
 * @throws WsaError for OS failures; Node-style TypeError/RangeError for bad arguments.
 */
export function sendMsgSync(sock: Socket, msg: Message): number {
  const st = socketState(sock);
  const p = readMessage(st, msg, MSG_NAMES);
  // Nothing is queued that a signal could abort; accepting one would suggest otherwise.
  if (p.signal !== undefined) throw invalidArgValue('msg.signal', p.signal, 'is for sendMsg only (sendMsgSync never queues)');
  seal(p, false);
  if (st.closed) throw new WsaError(WSA.ENOTSOCK, where(p));
  const refused = planSingle(p);
  if (refused) throw refusalError(p, refused);
  flushStaged(st);  // the sendMsg calls made before it go first
  let r = callSync(st.native, p.views);
  if (isShimFault(r)) {
    retryEmpty(st, p);
    r = callSync(st.native, p.views);
  }
  if (typeof r === 'number') return r;
  throw sendError(p, r);
}

let nextToken = 1;

/**
 * Listens to a send's signal before any I/O: addEventListener is the caller's code (a
 * duck-typed signal may throw, or fire at once), and none of it may run between the checks
 * and the system call. An abort before the send is parked is remembered (`fired`) and acted
 * on when it parks; after, it cancels the parked send.
 */
function listenForAbort(st: SocketState, token: number, signal: AbortSignal): Listener {
  return listen(signal, () => {
    // posix removes a parked send at once; on Windows the kernel may still hold the
    // request, so the cancelled completion itself rejects the send, a moment later.
    // What had gone of it is counted as its completion would have counted it: a
    // segmented send's error says how many of its segments went.
    const entry = st.pending.get(token);
    if (!entry) return;
    const sent = st.native.cancel(token);
    if (sent < 0) return;
    takePending(st, token);
    unlisten(entry.link);
    const w = entry.failedAt ? entry.failedAt(sent) : { address: entry.address, port: entry.port, sourceAddress: entry.sourceAddress };
    entry.done(new WsaError(WSA.OPERATION_ABORTED, w), 0, sent);
    notifyIfDrained(st);
  });
}

/** Records a send the OS has not taken yet; a signal that fired meanwhile cancels it now. */
function park(st: SocketState, token: number, entry: PendingEntry, link: Listener | undefined): void {
  entry.link = link;
  addPending(st, token, entry);
  if (link?.fired) link.onAbort();
}

/** A send that completed at once: never reported synchronously. */
function completed(callback: SendCallback | undefined, link: Listener | undefined, err: WsaError | null, bytes: number): Promise<number> | undefined {
  unlisten(link);
  if (callback) {
    process.nextTick(callback, err, bytes);
    return undefined;
  }
  return err ? rejected(err) : resolved(bytes);
}

/**
 * Sends one datagram, overlapped: tries at once and, if the send buffer is full, queues
 * it until the socket is writable (on Node's own event loop, no thread per send). Sends on
 * one socket complete in the order they were made. `socket.close()` or `msg.signal` fail
 * queued sends with WSA_OPERATION_ABORTED. Past the socket's `maxPendingSends` /
 * `maxPendingBytes` a send that would queue fails with WSAEWOULDBLOCK (see
 * {@link Socket.drained}).
 *
 * @example
 * ```ts
 * const bytes = await sendMsg(sock, { buffers: data, to: { address: '::1', port: 53 } });
 * sendMsg(sock, msg, (err, bytes) => { ... });  // never called synchronously
 * ```
 * @throws Node-style TypeError/RangeError synchronously for bad arguments (nothing is sent).
 */
export function sendMsg(sock: Socket, msg: Message): Promise<number>;
export function sendMsg(sock: Socket, msg: Message, callback: SendCallback): void;
export function sendMsg(sock: Socket, msg: Message, callback?: SendCallback): Promise<number> | void {
  const st = socketState(sock);
  const p = readMessage(st, msg, MSG_NAMES);
  if (callback !== undefined) validateFunction(callback, 'callback');
  // The common case, a plain datagram while nothing waits for room: the first of a turn
  // goes at once (a sender that awaits each call has nothing to coalesce, and pays nothing
  // for it); the socket's later calls in the same turn are coalesced.
  if (p.signal === undefined && p.segmentSize === 0 && !st.closed && st.pending.size === 0) {
    if (st.sentThisTurn) return stage(st, p, callback);
    markTurn(st);
  }
  // Anything else goes after the calls coalesced before it.
  flushStaged(st);
  const token = nextToken++;
  // The signal's listener goes on with the other reads, before the message is sealed; a
  // getter read after `signal` may have aborted it already, which no listener would see.
  const link = p.signal ? listenForAbort(st, token, p.signal) : undefined;
  if (link && link.signal.aborted === true) link.fired = true;
  let refused: Refusal | null = null;
  let full = false;
  try {
    seal(p, false);
    // Measured before planning: nothing but the native call may follow a written record.
    full = st.pending.size !== 0 && !hasRoom(st, datagrams(p), bytesOf(p));
    if (!st.closed) refused = planSingle(p);
  } catch (err) {
    unlisten(link);
    throw err;
  }
  if (st.closed) return completed(callback, link, new WsaError(WSA.ENOTSOCK, where(p)), 0);
  if (refused) return completed(callback, link, refusalError(p, refused), 0);
  if (p.aborted || link?.fired) return completed(callback, link, new WsaError(WSA.OPERATION_ABORTED, where(p)), 0);
  if (full) return completed(callback, link, queueFull(st, where(p)), 0);
  let r = callAsync(st.native, token, p.views);
  if (isShimFault(r)) {
    try {
      retryEmpty(st, p);
    } catch (argError) {
      unlisten(link);
      throw argError;
    }
    r = callAsync(st.native, token, p.views);
  }
  if (typeof r === 'number' && r >= 0) return completed(callback, link, null, r);
  if (typeof r !== 'number') {
    let err: WsaError;
    try {
      err = sendError(p, r);
    } catch (argError) {
      unlisten(link);
      throw argError;
    }
    return completed(callback, link, err, 0);
  }
  // Pending: the native side copied what it queued; nothing of the caller's needs to stay alive.
  let promise: Promise<number> | undefined;
  let settle: (err: WsaError | null, bytes: number) => void;
  if (callback) {
    // Deferred even from the event loop: a completion may be delivered while a blocking
    // sendMsgSync on the same socket flushes the queue, and user code must not run there.
    settle = (err, bytes) => process.nextTick(callback, err, bytes);
  } else {
    let resolve!: (n: number) => void;
    let reject!: (e: WsaError) => void;
    promise = new NativePromise<number>((res, rej) => { resolve = res; reject = rej; });
    settle = (err, bytes) => (err ? reject(err) : resolve(bytes));
  }
  park(st, token, {
    done: settle, ...where(p), datagrams: datagrams(p), bytes: bytesOf(p),
    // A segmented send completes with the count of its datagrams that went.
    ...(p.segmentSize ? { failedAt: (count: number) => ({ ...where(p), segmentsSent: count }) } : {}),
  }, link);
  return promise;
}

// --- Coalescing ---------------------------------------------------------------------
// The sendMsg calls a socket gets in one turn of the event loop go to the OS together, at
// the end of the turn (a microtask), as one sendEach: one sendmmsg on Linux, one native
// loop of overlapped WSASendMsg on Windows. Each call keeps its own result (a failure fails
// only its message; the ones after it still go), the submission order, and the overlapped
// semantics: what does not fit the send buffer waits, message by message, as lone sends
// would. What each call sends is copied when it is made (the caller may reuse its buffers
// at once). Anything else on the socket (sendMsgSync, a batch, a sendMsg with a signal or
// segmentSize, connect, shutdown, close, drained) hands the staged calls to the OS first,
// and so does process.exit(). bench/'s `shim sendMsg` row measures what it pays.

/** Bytes a socket's staging area starts with; it grows to the largest message staged. */
const STAGE_BYTES = 64 * 1024;

/**
 * The sendMsg calls of this turn on one socket, copied and planned (StagedSends). Its
 * memory is in private fields: a caller who reaches this object (through the socket's
 * state) cannot detach or resize what the native side reads.
 */
class Staged implements StagedSends {
  n = 0;
  scheduled = false;
  #used = 0;
  readonly #st: SocketState;
  readonly #plans = new PlanMemory(MAX_BATCH);
  #staged = new U8(STAGE_BYTES);
  /** #staged's length, kept here: a typed array's `length` getter is the caller's to replace. */
  #capacity = STAGE_BYTES;
  readonly #offsets = new U32(MAX_BATCH + 1);
  readonly #results = new F64(MAX_BATCH);
  readonly #prepared: Array<Prepared | undefined> = [];
  readonly #resolves: Array<((bytes: number) => void) | undefined> = [];
  readonly #rejects: Array<((err: WsaError) => void) | undefined> = [];
  readonly #callbacks: Array<SendCallback | undefined> = [];

  constructor(st: SocketState) {
    this.#st = st;
  }

  /** Copies and plans one call; a refused one completes at once, after the calls before it. */
  add(p: Prepared, callback: SendCallback | undefined): Promise<number> | undefined {
    const st = this.#st;
    const bytes = bytesOf(p);  // throws for a detached view, as a lone send does
    if (this.n === MAX_BATCH || this.#used + bytes > this.#capacity) {
      this.flush();
      if (bytes > this.#capacity) this.#staged = new U8(this.#capacity = max(bytes, 2 * this.#capacity));
    }
    const i = this.n;
    const prev = i > 0 ? this.#prepared[i - 1]! : undefined;
    if (prev !== undefined && sameInput(p, prev)) {
      const u32 = this.#plans.u32;
      for (let w = (i * PLAN_SIZE) >> 2, end = w + (PLAN_SIZE >> 2); w < end; w++) u32[w] = u32[w - (PLAN_SIZE >> 2)]!;
    } else {
      const refused = planMessage(this.#plans, i, st.kind, st.peer, p);
      if (refused) {
        this.flush();  // its error comes after the results of the calls before it
        return completed(callback, undefined, refusalError(p, refused), 0);
      }
    }
    let at = this.#used;
    const v = p.views;
    if (isArray(v)) for (let k = 0; k < v.length; k++) at = copyView(this.#staged, v[k]!, at);
    else at = copyView(this.#staged, v, at);
    this.#used = at;
    this.#offsets[i + 1] = at;
    this.#prepared[i] = p;
    this.n = i + 1;
    if (callback) {
      this.#callbacks[i] = callback;
      return undefined;
    }
    const promise = new NativePromise<number>(lend);
    this.#resolves[i] = lentResolve;
    this.#rejects[i] = lentReject;
    // Not kept: a settled promise holds its error, whose stack holds the socket.
    lentResolve = lentReject = undefined;
    return promise;
  }

  flush(): void {
    const n = this.n;
    if (n === 0) return;
    const st = this.#st;
    this.n = 0;
    this.#used = 0;
    const token0 = nextToken;
    nextToken += n;
    const results = this.#results;
    const offsets = this.#offsets;
    const failed = st.native.sendEach(this.#plans.u8, n, this.#staged, offsets, token0, results);
    // The call itself refused its arguments (it never does for what this class passes):
    // every message fails with that.
    const all = failed !== null && !isArray(failed[0]) ? (failed as unknown as SendFailure) : null;
    let fi = 0;
    for (let i = 0; i < n; i++) {
      const p = this.#prepared[i]!;
      const resolve = this.#resolves[i];
      const reject = this.#rejects[i];
      const callback = this.#callbacks[i];
      this.#prepared[i] = this.#resolves[i] = this.#rejects[i] = this.#callbacks[i] = undefined;
      const r = all ? -1 : results[i]!;
      if (r >= 0) {
        if (callback) process.nextTick(callback, null, r);
        else resolve!(r);
      } else if (r === SEND_PENDING) {
        const settle = callback
          // Deferred even from the event loop, as a lone sendMsg's (see there).
          ? (err: WsaError | null, bytes: number) => process.nextTick(callback, err, bytes)
          : (err: WsaError | null, bytes: number) => (err ? reject!(err) : resolve!(bytes));
        park(st, token0 + i, { done: settle, ...where(p), datagrams: 1, bytes: offsets[i + 1]! - offsets[i]! }, undefined);
      } else {
        let f: EachFailure | undefined;
        if (!all) while (fi < failed!.length && (f = failed![fi])![0] < i) fi++;
        const err = all ? toWsaError(all[0], all[1], all[2], all[3], where(p))
          : f && f[0] === i ? toWsaError(f[1], f[2], f[3], f[4], where(p)) : new WsaError(WSA.EFAULT, where(p));
        if (callback) process.nextTick(callback, err, 0);
        else reject!(err);
      }
    }
  }
}

/** Sockets that sent at once in this turn (their later calls coalesce), and the microtask that forgets them. */
let sentThisTurn: SocketState[] = [];
let turnEndQueued = false;

function endTurn(): void {
  turnEndQueued = false;
  const list = sentThisTurn;
  sentThisTurn = [];
  for (let i = 0; i < list.length; i++) list[i]!.sentThisTurn = false;
}

function markTurn(st: SocketState): void {
  st.sentThisTurn = true;
  sentThisTurn.push(st);
  if (!turnEndQueued) {
    turnEndQueued = true;
    queueMicrotask(endTurn);
  }
}

/** Sockets with calls staged this turn, and whether the microtask that flushes them is queued. */
let waiting: Staged[] = [];
let flushQueued = false;
let exitHooked = false;

function flushWaiting(): void {
  flushQueued = false;
  const list = waiting;
  waiting = [];
  for (let i = 0; i < list.length; i++) {
    list[i]!.scheduled = false;
    list[i]!.flush();
  }
}

// A Promise executor that lends its functions out, so that a staged call allocates no closure.
let lentResolve: ((bytes: number) => void) | undefined;
let lentReject: ((err: WsaError) => void) | undefined;
function lend(resolve: (bytes: number) => void, reject: (err: WsaError) => void): void {
  lentResolve = resolve;
  lentReject = reject;
}

/** Stages one sendMsg call in this turn's batch of its socket, to go at the end of the turn. */
function stage(st: SocketState, p: Prepared, callback: SendCallback | undefined): Promise<number> | undefined {
  let s = st.staged as Staged | null;
  if (s === null) st.staged = s = new Staged(st);
  const promise = s.add(p, callback);
  if (!s.scheduled && s.n !== 0) {
    s.scheduled = true;
    waiting.push(s);
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flushWaiting);
    }
    if (!exitHooked) {
      // sendMsg(); process.exit(): a lone send would have gone out already. First among the
      // 'exit' listeners: the ffi-rs backend closes its sockets in one of its own.
      exitHooked = true;
      process.prependListener('exit', flushWaiting);
    }
  }
  return promise;
}

/** Most messages one {@link sendMsgBatch} call takes (sendmmsg's UIO_MAXIOV). */
export const MAX_BATCH: number = binding.maxBatch;

/**
 * What a batch did. `sent` messages went out, in order; if `error` is set, the message at
 * `failedIndex` failed and none after it was sent. A message the shim itself refuses
 * (too big, bad flags, mixed families) fails the batch before anything is sent: then
 * `sent` is 0 and `failedIndex` names it.
 */
export interface BatchResult {
  /** Messages that went out, from the first, in order. */
  sent: number;
  /** Why the message at `failedIndex` did not go; absent when all went. */
  error?: WsaError;
  /** The index of the message that failed (== `sent` for an OS failure). */
  failedIndex?: number;
}

function prepareBatch(sock: unknown, msgs: unknown): { st: SocketState; prepared: Prepared[] } {
  const st = socketState(sock);
  if (!Array.isArray(msgs)) throw invalidArgType('msgs', 'an array of messages', msgs);
  const n: unknown = msgs.length;  // once: a Proxy may answer differently each time
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_BATCH) throw outOfRange('msgs.length', `an integer <= ${MAX_BATCH}`, n);
  const prepared: Prepared[] = new Array(n);
  const checked: KeysChecked = { to: null, control: null };
  for (let i = 0; i < n; i++) {
    const p = readMessage(st, msgs[i], namesAt(i), checked);
    if (p.signal !== undefined) throw invalidArgValue(namesAt(i).signal, p.signal, 'is not supported in a batch');
    prepared[i] = p;
  }
  // Only now: a getter of a later message may have changed the buffers of an earlier one.
  for (let i = 0; i < prepared.length; i++) seal(prepared[i]!, true);
  return { st, prepared };
}

// The plan records of a batch, in an arena of its own for the length of the call: written
// just before the native call and read by it before it returns (queued messages are
// encoded, with copies of their payloads, by then). Not one shared arena: materializing the
// argument list (Reflect.apply) may still run a caller's index getter after the records
// were written (review: one that re-entered sendMsgBatchSync rewrote a shared arena, and
// the outer batch left for the inner one's destination), and a nested batch now writes its
// own. A free list of object literals: no array, so no index setter of the caller's sees it.
interface Arena { mem: PlanMemory; next: Arena | null }
let freeArenas: Arena | null = { mem: new PlanMemory(MAX_BATCH), next: null };

function takeArena(): Arena {
  const a = freeArenas;
  if (a === null) return { mem: new PlanMemory(MAX_BATCH), next: null };
  freeArenas = a.next;
  return a;
}

function giveArena(a: Arena): void {
  a.next = freeArenas;
  freeArenas = a;
}

const sameInput = (a: PlanInput, b: PlanInput): boolean => a.to === b.to && a.toPort === b.toPort && a.source === b.source &&
  a.ifindex === b.ifindex && a.flags === b.flags && a.tos === b.tos && a.segmentSize === b.segmentSize;

/** Most views a batch passes as direct arguments; more go as one array (see addon.cc's SendBatch). */
const MAX_DIRECT_VIEWS = 256;

/**
 * Plans every message of a batch into the arguments of the native call: the first message
 * the shim refuses fails the batch before any I/O. The argument list (with every view) is
 * built first and the records written last, with nothing of the caller's between them and
 * the call (no Array.prototype method, iterator or setter, no replaceable builtin): code of
 * the caller's that re-entered the shim there could overwrite records already written.
 */
function planBatch(st: SocketState, prepared: readonly Prepared[], overlapped: boolean, token: number, mem: PlanMemory): unknown[] | BatchResult {
  const n = prepared.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const v = prepared[i]!.views;
    total += isArray(v) ? v.length : 1;
  }
  let args: unknown[];
  if (total > MAX_DIRECT_VIEWS) {
    // The addon reads this array itself: its elements must be its own (ownArray).
    let m = 0;
    let j = 0;
    const views = ownArray(total, () => {
      for (;;) {
        const v = prepared[m]!.views;
        if (!isArray(v)) {
          m++;
          return v;
        }
        if (j < v.length) return v[j++]!;
        m++;
        j = 0;
      }
    });
    args = [mem.u8, n, overlapped, token, views];
  } else {
    // Sized once (appending grew it three times a batch), without the global Array, which
    // a caller may have replaced.
    args = [mem.u8, n, overlapped, token];
    args.length = 4 + total;
    let k = 4;
    for (let i = 0; i < n; i++) {
      const v = prepared[i]!.views;
      if (isArray(v)) for (let j = 0; j < v.length; j++) args[k++] = v[j]!;
      else args[k++] = v;
    }
  }
  const u8 = mem.u8;
  const u16 = mem.u16;
  for (let i = 0; i < n; i++) {
    const p = prepared[i]!;
    // The segment count is this message's own (its bytes), whatever plan it shares.
    if (p.segmentSize && p.totalBytes > p.segmentSize * OFFLOAD_MAX_SEGMENTS) {
      const refused = { wsa: WSA.EINVAL, reason: `a batch message carries at most ${OFFLOAD_MAX_SEGMENTS} segments; send it alone` };
      return { sent: 0, failedIndex: i, error: refusalError(p, refused) };
    }
    if (i > 0 && sameInput(p, prepared[i - 1]!)) {
      u8[i * PLAN_SIZE + PlanAt.FLAGS] = PLAN_AS_BEFORE;
    } else {
      const refused = planMessage(mem, i, st.kind, st.peer, p);
      if (refused) return { sent: 0, failedIndex: i, error: refusalError(p, refused) };
    }
    const v = p.views;
    u16[(i * PLAN_SIZE + PlanAt.NBUFS) >> 1] = isArray(v) ? v.length : 1;
  }
  return args;
}

function batchFailure(st: SocketState, prepared: readonly Prepared[], f: SendFailure): BatchResult {
  const failedIndex = f[5];
  const p = prepared[failedIndex];
  if (p && f[0] === WSA.EFAULT && f[1] === 0) throwIfUnusable(p);
  return { sent: f[4], failedIndex, error: toWsaError(f[0], f[1], f[2], f[3], p ? where(p) : {}) };
}


// Taken at load: a spread would run Array.prototype[Symbol.iterator], and `.apply` may be
// replaced; either would let a caller's code run between planning and the system call.
const reflectApply = Reflect.apply;

function callBatch(st: SocketState, prepared: readonly Prepared[], args: unknown[]): number | SendFailure {
  const n = st.native;
  const r = reflectApply(n.sendBatch, n, args) as number | SendFailure;
  if (!isShimFault(r) || r[4] !== 0) return r;
  retryEmpty(st, prepared);
  return reflectApply(n.sendBatch, n, args) as number | SendFailure;
}

function runBatchSync(st: SocketState, prepared: Prepared[]): BatchResult {
  if (st.closed) return { sent: 0, failedIndex: 0, error: new WsaError(WSA.ENOTSOCK) };
  const arena = takeArena();
  let r: number | SendFailure;
  try {
    const args = planBatch(st, prepared, false, 0, arena.mem);
    if (!isArray(args)) return args;
    flushStaged(st);
    r = callBatch(st, prepared, args);
  } finally {
    giveArena(arena);
  }
  return typeof r === 'number' ? { sent: r } : batchFailure(st, prepared, r);
}

/**
 * Sends many datagrams in one call, each with its own buffers, destination and control
 * data: sendmmsg(2) on Linux, a native loop of overlapped WSASendMsg on Windows. Blocks
 * like {@link sendMsgSync} (nonBlocking: stops at WSAEWOULDBLOCK, reporting how many went).
 * @throws Node-style TypeError/RangeError for bad arguments (nothing is sent).
 */
export function sendMsgBatchSync(sock: Socket, msgs: readonly Message[]): BatchResult {
  const { st, prepared } = prepareBatch(sock, msgs);
  return runBatchSync(st, prepared);
}

/**
 * Sends many datagrams in one call, overlapped: the batch waits for send-buffer room as
 * {@link sendMsg} does and resolves once every message has gone (or one failed). OS
 * failures resolve as a {@link BatchResult} with `error`; the promise rejects only for
 * nothing, and bad arguments throw synchronously. Past the socket's `maxPendingSends`
 * a batch that would queue resolves with WSAEWOULDBLOCK and nothing sent.
 *
 * @example
 * ```ts
 * const { sent, error } = await sendMsgBatch(sock, replies.map((r) => ({
 *   buffers: r.payload, to: r.client, control: { sourceAddress: r.localAddress },
 * })));
 * ```
 */
export function sendMsgBatch(sock: Socket, msgs: readonly Message[]): Promise<BatchResult> {
  const { st, prepared } = prepareBatch(sock, msgs);
  const first = prepared[0];
  const w = first ? where(first) : {};
  if (st.closed) return resolved({ sent: 0, failedIndex: 0, error: new WsaError(WSA.ENOTSOCK) });
  // Measured before planning: nothing but the native call may follow the written records.
  let bytes = 0;
  if (st.pending.size !== 0) {
    for (let i = 0; i < prepared.length; i++) bytes += bytesOf(prepared[i]!);
    if (!hasRoom(st, prepared.length, bytes)) return resolved({ sent: 0, failedIndex: 0, error: queueFull(st, w) });
  }
  const token = nextToken++;
  const arena = takeArena();
  let r: number | SendFailure;
  try {
    const args = planBatch(st, prepared, true, token, arena.mem);
    if (!isArray(args)) return resolved(args);
    flushStaged(st);
    r = callBatch(st, prepared, args);
  } finally {
    giveArena(arena);
  }
  if (typeof r !== 'number') return resolved(batchFailure(st, prepared, r));
  if (r >= 0) return resolved({ sent: r });
  if (bytes === 0) for (let i = 0; i < prepared.length; i++) bytes += bytesOf(prepared[i]!);
  return new NativePromise((resolve) => park(st, token, {
    ...w,
    // The completion knows the index: its error names that message's destination.
    failedAt: (count) => (prepared[count] ? where(prepared[count]!) : w),
    datagrams: prepared.length,
    bytes,
    done: (err, _bytes, count = 0) => resolve(err ? { sent: count, failedIndex: count, error: err } : { sent: count }),
  }, undefined));
}
