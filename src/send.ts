import { SEND_FAILED, SEND_PENDING, binding } from './binding';
import { WSA, WsaError, invalidArgType, invalidArgValue, outOfRange } from './errors';
import {
  Socket, addPending, hasRoom, kState, lastError, listen, notifyIfDrained, takePending, unlisten, type Listener, type PendingEntry,
  type SocketState,
} from './socket';
import {
  isLoopbackLiteral, isV4Literal, measureBuffers, readBuffers, validateAbortSignal, viewBytes, validateFunction, validateInteger, validateIpLiteral,
  validateKeys, validateObject,
} from './validate';

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
  family?: 'IPv4' | 'IPv6';
}

/** Per-datagram control data (IN_PKTINFO / IN6_PKTINFO). */
export interface SendControl {
  /**
   * Source address of this datagram: must be local. Linux: IP_PKTINFO `ipi_spec_dst` /
   * IPV6_PKTINFO; Windows: IN_PKTINFO `ipi_addr` / IN6_PKTINFO. A v4 or v4-mapped
   * destination takes an IPv4 source (the Windows dual-stack rule); mixing families is WSAEINVAL.
   */
  sourceAddress?: string;
  /** Outgoing interface index (0 = routing decides). */
  interfaceIndex?: number;
  /**
   * The TOS / traffic-class byte of this datagram, 0–255 (DSCP in the high six bits, ECN in
   * the low two). Linux: IP_TOS or IPV6_TCLASS, by the destination's family (the dual-stack
   * rule). Windows sets only ECN per datagram: DSCP bits there are WSAEOPNOTSUPP.
   */
  tos?: number;
  /** The ECN codepoint, 0–3 (e.g. 1 = ECT(1), 2 = ECT(0)); replaces the low two bits of `tos`. Windows: IP_ECN / IPV6_ECN. */
  ecn?: number;
}

/** One datagram, in the terms of WSAMSG. */
export interface Message {
  /** The payload: one view or up to 1024, gathered by the kernel (WSABUF[] / iovec[]); a send that has to wait sends a copy of what they held at the call. */
  buffers: ArrayBufferView | readonly ArrayBufferView[];
  /** Destination; omit on a connected socket. */
  to?: SendTarget | null;
  /** Per-datagram source address / interface. */
  control?: SendControl | null;
  /** `MSG.DONTROUTE`; `MSG.OOB` and `MSG.PARTIAL` are refused with WSAEOPNOTSUPP on datagram sockets. */
  flags?: number;
  /** `sendMsg` only: aborting fails the send with WSA_OPERATION_ABORTED if the OS has not taken it yet. */
  signal?: AbortSignal;
  /**
   * Cut the buffers into datagrams of this many bytes (the last may be shorter), all with
   * the same destination and control data. The kernel does the cutting where it can
   * (UDP_SEGMENT on Linux, UDP_SEND_MSG_SIZE on Windows: see `socket.capabilities()`),
   * otherwise the shim sends the pieces as one batch, without copying. Resolves with the
   * total bytes sent.
   */
  segmentSize?: number;
}

/** Completion callback of {@link sendMsg}: never called synchronously. */
export type SendCallback = (err: WsaError | null, bytes: number) => void;

const MSG_KEYS = new Set(['buffers', 'to', 'control', 'flags', 'signal', 'segmentSize']);
// `family` too, so that a received message's `from` (a SocketAddress) can be answered as is.
const TO_KEYS = new Set(['address', 'port', 'family']);
const CONTROL_KEYS = new Set(['sourceAddress', 'interfaceIndex', 'tos', 'ecn']);

interface Prepared {
  st: SocketState;
  buffers: ArrayBufferView | readonly ArrayBufferView[];
  toAddress: string | null;
  toPort: number;
  source: string | null;
  ifindex: number;
  flags: number;
  /** -1: no traffic-class control message. */
  tos: number;
  /** 0: one datagram. */
  segmentSize: number;
  totalBytes: number;
  signal: AbortSignal | undefined;
  /** `signal.aborted` as read with the rest of the message. */
  aborted: boolean;
  /** What the shim refuses about this message before any I/O (the semantics table), or null. */
  refusal: WsaError | null;
  /** The argument's name, for errors found when the message is sealed. */
  name: string;
}

function socketState(sock: unknown): SocketState {
  if (!(sock instanceof Socket)) throw invalidArgType('socket', 'an instance of Socket (from openSocket)', sock);
  return sock[kState];
}

function prepare(sock: unknown, msg: unknown): Prepared {
  return seal(readMessage(socketState(sock), msg, 'msg'));
}

/**
 * Reads every field of a message once, with the checks that need nothing else. Getters
 * and Proxies may run here, and nowhere later: what the native side sees is only what this
 * returned, sealed by {@link seal} once every message of the call has been read.
 */
function readMessage(st: SocketState, msg: unknown, name: string): Prepared {
  validateObject(msg, name);
  validateKeys(msg, name, MSG_KEYS);
  const buffers = readBuffers(msg.buffers, `${name}.buffers`);
  let toAddress: string | null = null;
  let toPort = 0;
  const to = msg.to;
  if (to !== undefined && to !== null) {
    validateObject(to, `${name}.to`);
    validateKeys(to, `${name}.to`, TO_KEYS);
    const address = to.address;
    const port = to.port;
    validateIpLiteral(address, `${name}.to.address`);
    if (!(st.isRaw && port === undefined)) {
      validateInteger(port, `${name}.to.port`, st.isRaw ? 0 : 1, 65535);
      toPort = port;
    }
    toAddress = address;
  }
  let source: string | null = null;
  let ifindex = 0;
  let tos = -1;
  const control = msg.control;
  if (control !== undefined && control !== null) {
    validateObject(control, `${name}.control`);
    validateKeys(control, `${name}.control`, CONTROL_KEYS);
    const sourceAddress = control.sourceAddress;
    const interfaceIndex = control.interfaceIndex;
    if (sourceAddress !== undefined) {
      validateIpLiteral(sourceAddress, `${name}.control.sourceAddress`);
      source = sourceAddress;
    }
    if (interfaceIndex !== undefined) {
      validateInteger(interfaceIndex, `${name}.control.interfaceIndex`, 0, 0xffffffff);
      ifindex = interfaceIndex;
    }
    const tosByte = control.tos;
    const ecn = control.ecn;
    if (tosByte !== undefined) validateInteger(tosByte, `${name}.control.tos`, 0, 255);
    if (ecn !== undefined) validateInteger(ecn, `${name}.control.ecn`, 0, 3);
    if (tosByte !== undefined || ecn !== undefined) tos = ((tosByte ?? 0) & ~3) | (ecn ?? ((tosByte ?? 0) & 3));
  }
  const flags = msg.flags ?? 0;
  validateInteger(flags, `${name}.flags`, 0, 0xffffffff);
  const signal = msg.signal;
  let aborted = false;
  if (signal !== undefined) {
    validateAbortSignal(signal, `${name}.signal`);
    aborted = signal.aborted === true;
  }
  let segmentSize = 0;
  const segment = msg.segmentSize;
  if (segment !== undefined) {
    validateInteger(segment, `${name}.segmentSize`, 1, 65527);
    segmentSize = segment;
  }
  return { st, buffers, toAddress, toPort, source, ifindex, flags, tos, segmentSize, totalBytes: 0, signal, aborted, refusal: null, name };
}

/**
 * The checks that must see the buffers as they will be sent: their real lengths (now that
 * no user code can change them any more), the segment count, the source refusals.
 */
function seal(p: Prepared): Prepared {
  p.totalBytes = measureBuffers(p.buffers, `${p.name}.buffers`);
  // Past what one batch can carry the pieces could not go as one call: an argument
  // error, thrown here like every other one, before anything is sent.
  if (p.segmentSize && p.totalBytes > p.segmentSize * MAX_BATCH) {
    throw outOfRange(`${p.name}.buffers byte length`, `<= ${p.name}.segmentSize * ${MAX_BATCH} (${p.segmentSize * MAX_BATCH})`, p.totalBytes);
  }
  p.refusal = refusal(p.st, p.toAddress, p.toPort, p.source);
  return p;
}

/**
 * What the shim refuses about a source address before anything is sent (WSAEINVAL), with
 * a message that names it:
 * - a source of the other family than the destination (the dual-stack rule: a v4 or
 *   v4-mapped destination takes an IPv4 source);
 * - a loopback source for a destination that is not loopback: Linux refuses it for IPv4
 *   (EINVAL) but sends it for IPv6, so a `::1` source would leave the host.
 */
function refusal(st: SocketState, toAddress: string | null, toPort: number, source: string | null): WsaError | null {
  if (source === null) return null;
  const destination = toAddress ?? st.peer;
  if (destination === null) return null;
  let reason: string;
  if (isV4Literal(source) !== isV4Literal(destination)) {
    const [src, dst] = isV4Literal(source) ? ['IPv4', 'IPv6'] : ['IPv6', 'IPv4'];
    reason = `source address ${source} is ${src} but the destination is ${dst}: the source must be of the destination's ` +
      'family, v4-mapped counting as IPv4; nothing was sent';
  } else if (isLoopbackLiteral(source) && !isLoopbackLiteral(destination)) {
    reason = `source address ${source} is a loopback address and the destination is not; nothing was sent`;
  } else {
    return null;
  }
  return new WsaError(WSA.EINVAL, {
    ...(toAddress === null ? { address: destination } : { address: toAddress, port: toPort }),
    sourceAddress: source,
    reason,
  });
}

/** The destination (and source) of a message, for the error that names it. */
function where(p: Prepared): { address?: string; port?: number; sourceAddress?: string } {
  const out: { address?: string; port?: number; sourceAddress?: string } = p.toAddress === null ? {} : { address: p.toAddress, port: p.toPort };
  if (p.source !== null) out.sourceAddress = p.source;
  return out;
}

function failure(p: Prepared): WsaError {
  const { address, port, sourceAddress } = where(p);
  return lastError(p.st.native, address, port, sourceAddress);
}

/** How many datagrams a message is on the wire. */
function datagrams(p: Prepared): number {
  return p.segmentSize ? Math.max(1, Math.ceil(p.totalBytes / p.segmentSize)) : 1;
}

/** The overlapped-queue bound (maxPendingSends / maxPendingBytes) is reached. */
function queueFull(st: SocketState, w: { address?: string; port?: number; sourceAddress?: string }): WsaError {
  return new WsaError(WSA.EWOULDBLOCK, {
    ...w,
    reason: `${st.pendingDatagrams} datagrams (${st.pendingBytes} bytes) already queued on this socket, the most maxPendingSends / ` +
      'maxPendingBytes allow: await socket.drained() before sending more',
  });
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
  const p = prepare(sock, msg);
  // Nothing is queued that a signal could abort; accepting one would suggest otherwise.
  if (p.signal !== undefined) throw invalidArgValue('msg.signal', p.signal, 'is for sendMsg only (sendMsgSync never queues)');
  if (p.st.closed) throw new WsaError(WSA.ENOTSOCK, where(p));
  if (p.refusal) throw p.refusal;
  if (p.segmentSize && !offloadable(p)) return sendSegmentsSync(p);
  const r = p.st.native.sendSync(p.buffers, p.toAddress, p.toPort, p.source, p.ifindex, p.flags, p.tos, p.segmentSize);
  if (r >= 0) return r;
  if (refusedOffload(p)) return sendSegmentsSync(p);
  throw failure(p);
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
    const entry = st.pending.get(token);
    if (!entry || !st.native.cancel(token)) return;
    takePending(st, token);
    unlisten(entry.link);
    entry.done(new WsaError(WSA.OPERATION_ABORTED, { address: entry.address, port: entry.port, sourceAddress: entry.sourceAddress }), 0);
    notifyIfDrained(st);
  });
}

/** Records a send the OS has not taken yet; a signal that fired meanwhile cancels it now. */
function park(st: SocketState, token: number, entry: PendingEntry, link: Listener | undefined): void {
  entry.link = link;
  addPending(st, token, entry);
  if (link?.fired) link.onAbort();
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
  const p = readMessage(st, msg, 'msg');
  if (callback !== undefined) validateFunction(callback, 'callback');
  const token = nextToken++;
  // The signal's listener goes on with the other reads, before the message is sealed; a
  // getter read after `signal` may have aborted it already, which no listener would see.
  const link = p.signal ? listenForAbort(st, token, p.signal) : undefined;
  if (link && link.signal.aborted === true) link.fired = true;
  try {
    seal(p);
  } catch (err) {
    unlisten(link);
    throw err;
  }

  let promise: Promise<number> | undefined;
  let settle: (err: WsaError | null, bytes: number) => void;
  if (callback) {
    // Deferred even from the event loop: a completion may be delivered while a blocking
    // sendMsgSync on the same socket flushes the queue, and user code must not run there.
    settle = (err, bytes) => process.nextTick(callback, err, bytes);
  } else {
    let resolve!: (n: number) => void;
    let reject!: (e: WsaError) => void;
    promise = new Promise<number>((res, rej) => { resolve = res; reject = rej; });
    settle = (err, bytes) => (err ? reject(err) : resolve(bytes));
  }
  // Done without being parked: the listener has nothing left to cancel.
  const done = (err: WsaError | null, bytes: number) => {
    unlisten(link);
    settle(err, bytes);
  };
  const w = where(p);

  if (st.closed) {
    done(new WsaError(WSA.ENOTSOCK, w), 0);
  } else if (p.refusal) {
    done(p.refusal, 0);
  } else if (p.aborted || link?.fired) {
    done(new WsaError(WSA.OPERATION_ABORTED, w), 0);
  } else if (!hasRoom(st, datagrams(p), p.totalBytes)) {
    done(queueFull(st, w), 0);
  } else if (p.segmentSize && !offloadable(p)) {
    sendSegments(p, token, link, settle);
  } else {
    const r = st.native.sendAsync(p.buffers, p.toAddress, p.toPort, p.source, p.ifindex, p.flags, p.tos, p.segmentSize, token);
    if (r >= 0) done(null, r);
    else if (r === SEND_FAILED && refusedOffload(p)) sendSegments(p, token, link, settle);
    else if (r === SEND_FAILED) done(failure(p), 0);
    // The native side copied what it queued: nothing of the caller's needs to stay alive.
    else if (r === SEND_PENDING) park(st, token, { done: settle, ...w, datagrams: datagrams(p), bytes: p.totalBytes }, link);
  }
  return promise;
}

/** Arguments per message in a native batch (native/addon.cc's kSendArgs). */
const SEND_ARGS = 8;

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
  for (let i = 0; i < n; i++) {
    const p = readMessage(st, msgs[i], `msgs[${i}]`);
    if (p.signal !== undefined) throw invalidArgValue(`msgs[${i}].signal`, p.signal, 'is not supported in a batch');
    prepared[i] = p;
  }
  // Only now: a getter of a later message may have changed the buffers of an earlier one.
  for (const p of prepared) seal(p);
  return { st, prepared };
}

/** The native batch's argument list: SEND_ARGS values per message. */
function flatten(prepared: readonly Prepared[]): unknown[] {
  const flat: unknown[] = new Array(prepared.length * SEND_ARGS);
  for (let i = 0; i < prepared.length; i++) {
    const p = prepared[i]!;
    const k = i * SEND_ARGS;
    flat[k] = p.buffers;
    flat[k + 1] = p.toAddress;
    flat[k + 2] = p.toPort;
    flat[k + 3] = p.source;
    flat[k + 4] = p.ifindex;
    flat[k + 5] = p.flags;
    flat[k + 6] = p.tos;
    flat[k + 7] = p.segmentSize;
  }
  return flat;
}

/** The first message the shim refuses by itself: the batch fails there before any I/O. */
function batchRefusal(prepared: readonly Prepared[]): BatchResult | null {
  for (let i = 0; i < prepared.length; i++) {
    const refused = prepared[i]!.refusal;
    if (refused) return { sent: 0, failedIndex: i, error: refused };
  }
  return null;
}

function batchFailure(st: SocketState, prepared: Prepared[]): BatchResult {
  const [sent, failedIndex] = st.native.lastBatch();
  const p = prepared[failedIndex];
  return { sent, failedIndex, error: p ? failure(p) : lastError(st.native) };
}

function runBatchSync(st: SocketState, prepared: Prepared[]): BatchResult {
  if (st.closed) return { sent: 0, failedIndex: 0, error: new WsaError(WSA.ENOTSOCK) };
  const refused = batchRefusal(prepared);
  if (refused) return refused;
  const r = st.native.sendBatch(flatten(prepared), prepared.length, false, 0);
  return r >= 0 ? { sent: r } : batchFailure(st, prepared);
}

/**
 * The overlapped batch behind sendMsgBatch and the segmentation fallback. `link` (the
 * fallback's message's signal, listened to before any I/O) fails the batch with
 * WSA_OPERATION_ABORTED while it is queued.
 */
function runBatch(st: SocketState, prepared: Prepared[], token: number, link: Listener | undefined,
  done: (r: BatchResult) => void): void {
  const first = prepared[0];
  const w = first ? where(first) : {};
  const now = (r: BatchResult) => {
    unlisten(link);
    done(r);
  };
  if (st.closed) return now({ sent: 0, failedIndex: 0, error: new WsaError(WSA.ENOTSOCK) });
  const refused = batchRefusal(prepared);
  if (refused) return now(refused);
  if (link?.fired) return now({ sent: 0, failedIndex: 0, error: new WsaError(WSA.OPERATION_ABORTED, w) });
  let bytes = 0;
  for (const p of prepared) bytes += p.totalBytes;
  if (!hasRoom(st, prepared.length, bytes)) return now({ sent: 0, failedIndex: 0, error: queueFull(st, w) });
  const r = st.native.sendBatch(flatten(prepared), prepared.length, true, token);
  if (r >= 0) return now({ sent: r });
  if (r === SEND_FAILED) return now(batchFailure(st, prepared));
  park(st, token, {
    ...w,
    // The completion knows the index: its error names that message's destination.
    failedAt: (count) => (prepared[count] ? where(prepared[count]!) : w),
    datagrams: prepared.length,
    bytes,
    done: (err, _bytes, count = 0) => done(err ? { sent: count, failedIndex: count, error: err } : { sent: count }),
  }, link);
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
  return new Promise((resolve) => runBatch(st, prepared, nextToken++, undefined, resolve));
}

// --- segmentation ---------------------------------------------------------------------

/** The largest payload one offloaded send may carry (one IPv4 packet; also safe for IPv6). */
const OFFLOAD_MAX_BYTES = 65507;
const OFFLOAD_MAX_SEGMENTS = 64;

function offloadable(p: Prepared): boolean {
  return p.st.native.segmentationOffload && p.totalBytes <= OFFLOAD_MAX_BYTES &&
    Math.ceil(p.totalBytes / p.segmentSize) <= OFFLOAD_MAX_SEGMENTS;
}

/** The kernel refused to cut this send (nothing went): send the pieces as a batch instead. */
function refusedOffload(p: Prepared): boolean {
  return p.segmentSize > 0 && p.st.native.lastError()[0] === WSA.EOPNOTSUPP;
}

/** The buffers cut into segmentSize pieces: views over the same memory, no copy. */
function segments(p: Prepared): Array<Uint8Array[]> {
  const views = Array.isArray(p.buffers) ? p.buffers : [p.buffers as ArrayBufferView];
  const out: Array<Uint8Array[]> = [];
  let current: Uint8Array[] = [];
  let room = p.segmentSize;
  for (const view of views) {
    const v = viewBytes(view);
    let offset = 0;
    while (offset < v.byteLength) {
      const take = Math.min(room, v.byteLength - offset);
      current.push(v.subarray(offset, offset + take));
      offset += take;
      room -= take;
      if (room === 0) {
        out.push(current);
        current = [];
        room = p.segmentSize;
      }
    }
  }
  if (current.length || out.length === 0) out.push(current);
  return out;
}

/**
 * The message as one already-validated message per segment, with its destination and
 * control data: nothing of the caller's is read again.
 */
function segmentBatch(p: Prepared): Prepared[] {
  return segments(p).map((buffers) => {
    let bytes = 0;
    for (const b of buffers) bytes += b.byteLength;
    return { ...p, buffers, segmentSize: 0, totalBytes: bytes, signal: undefined };
  });
}

// The pieces before a failure went; the error says which piece failed (failedIndex).
function segmentResult(p: Prepared, r: BatchResult): number {
  if (!r.error) return p.totalBytes;
  throw r.error;
}

function sendSegmentsSync(p: Prepared): number {
  return segmentResult(p, runBatchSync(p.st, segmentBatch(p)));
}

function sendSegments(p: Prepared, token: number, link: Listener | undefined, done: (err: WsaError | null, bytes: number) => void): void {
  runBatch(p.st, segmentBatch(p), token, link, (r) => (r.error ? done(r.error, 0) : done(null, p.totalBytes)));
}
