import { type IpLiteral } from './address';
import {
  ICMP_DEFAULT, ICMP_OFF, ICMP_ON, type Implementation, type NativeSocket, type RawBatch, type RawIcmp, binding, bindingFor,
  implementation as defaultImplementation,
} from './binding';
import { messages, type MessagesOptions, type ReceivedMessage } from './recv';
import { WSA, WsaError, icmpReport, invalidArgValue, setDefaultSyscall } from './errors';
import { Kind } from './kind';
import { PlanMemory, endpointRecord, planMessage, validateIpLiteral, type PlanInput, type Refusal } from './plan';
import { validateBoolean, validateInteger, validateKeys, validateObject } from './validate';

// Errors the shim raises itself name the backend's send call.
setDefaultSyscall(binding.sendSyscall);

/** Socket types: UDP over IPv4/IPv6, or raw IP (needs CAP_NET_RAW / Administrator). */
export type SocketType = 'udp4' | 'udp6' | 'raw4' | 'raw6';

/** Options of {@link openSocket}. */
export interface OpenSocketOptions {
  /** `'udp4' | 'udp6' | 'raw4' | 'raw6'`. */
  type: SocketType;
  /** IP protocol number for raw sockets (e.g. 17 for UDP, 253 for experiments). Raw only; default 255. */
  protocol?: number | undefined;
  /** Local address and port; without it the OS picks them at the first send. */
  bind?: {
    /** IP literal; default the wildcard (`0.0.0.0` or `::`). */
    address?: string | undefined;
    /** 0 (default) lets the OS choose. */
    port?: number | undefined;
  } | undefined;
  /** udp6 only. `false` (default) is dual stack, so IPv4 destinations work as v4-mapped; set explicitly on every OS, since Windows and Linux default differently. */
  ipv6Only?: boolean | undefined;
  /** SO_BROADCAST: without it a send to a broadcast address fails with WSAEACCES. */
  broadcast?: boolean | undefined;
  /**
   * UDP, Linux: SO_REUSEPORT, so that several sockets (one per worker thread, say) bind the
   * same address and port and the kernel spreads the datagrams over them. Windows has no
   * such option (SO_REUSEADDR means something else there: any socket could take the port),
   * so there it fails at open with WSAEOPNOTSUPP.
   */
  reusePort?: boolean | undefined;
  /**
   * UDP: let the OS coalesce datagrams of one sender into one receive (Linux: UDP_GRO, 5.0+;
   * Windows: UDP_RECV_MAX_COALESCED_SIZE, URO, 10 2004+), which saves most of the per-datagram
   * cost of a fast flow. The shim splits every coalesced receive back into its datagrams, each
   * a view of one buffer with its own `bytes`: callers never see the coalesced whole. Best
   * effort: where the OS refuses, receives stay one datagram each;
   * {@link Socket.capabilities}'s `receiveOffload` says which. Off by default (some Windows
   * drivers coalesce without reporting the segment size: quinn #2041, msquic #4955).
   */
  receiveOffload?: boolean | undefined;
  /** Milliseconds a blocking `sendMsgSync` may wait for send-buffer room before WSAETIMEDOUT (SO_SNDTIMEO semantics). 0 or absent: wait as long as it takes. */
  sendTimeout?: number | undefined;
  /** `sendMsgSync` then fails with WSAEWOULDBLOCK instead of waiting. `sendMsg` is overlapped either way. */
  nonBlocking?: boolean | undefined;
  /** SO_SNDBUF in bytes (the OS may round or double it). */
  sendBufferSize?: number | undefined;
  /**
   * UDP only: whether ICMP errors caused by EARLIER sends fail later calls.
   *
   * Default (absent): an unconnected socket reports none, because one ICMP port
   * unreachable — from a client that went away, or forged by anyone who knows the
   * server's address — would otherwise fail the next send to an unrelated, healthy peer
   * (SIO_UDP_CONNRESET and SIO_UDP_NETRESET off on Windows, as msquic and .NET servers set
   * them; no IP_RECVERR on Linux). A connected socket reports port unreachable from its
   * peer as WSAECONNRESET on the next send or receive, as both OSes do by default.
   *
   * `true`: every ICMP error fails exactly one later send or receive, on any destination:
   * port unreachable as WSAECONNRESET, TTL expiry as WSAENETRESET, host or network
   * unreachable as WSAEHOSTUNREACH / WSAENETUNREACH, and a full qdisc as WSAENOBUFS
   * (Linux: IP_RECVERR / IPV6_RECVERR; Windows: both ioctls on). On Linux the error's
   * {@link WsaError.icmp} then says which earlier destination it is about.
   *
   * `false`: none, connected or not.
   */
  icmpErrors?: boolean | undefined;
  /**
   * Most datagrams `sendMsg` / `sendMsgBatch` may keep queued (waiting for send-buffer
   * room, or in flight on Windows) before further overlapped sends fail at once with
   * WSAEWOULDBLOCK, Winsock's "too many outstanding overlapped I/O requests". Default
   * 1024. {@link Socket.drained} resolves when there is room again.
   */
  maxPendingSends?: number | undefined;
  /** The same bound in payload bytes; default 4 MiB. */
  maxPendingBytes?: number | undefined;
  /** Time to live / hop limit of outgoing datagrams, 1–255 (IP_TTL / IPV6_UNICAST_HOPS). */
  ttl?: number | undefined;
  /** Never fragment: a datagram above the path MTU fails with WSAEMSGSIZE (IP_DONTFRAGMENT on Windows, IP_PMTUDISC_DO / IPV6_DONTFRAG on Linux). */
  dontFragment?: boolean | undefined;
  /**
   * Report, for each received datagram, the local address it was sent to, the interface
   * and the TOS byte (`recvMsg`'s `control`): IP_PKTINFO / IPV6_RECVPKTINFO and
   * IP_RECVTOS / IPV6_RECVTCLASS. Off by default: a socket that does not ask pays nothing.
   */
  recvPktinfo?: boolean | undefined;
  /**
   * How this socket reaches the OS: `'addon'`, the compiled native addon, or `'ffi'`, libc
   * called through ffi-rs (Linux x64/arm64 only; no compiler needed; about a third of the addon's rate for single sends, see README's benchmark).
   * Default: the process's {@link implementation} (the addon if it is built, else ffi-rs;
   * the `SENDMSG_SHIM_IMPLEMENTATION` environment variable forces one). Both give the same
   * results: the same bytes, the same WsaError codes.
   */
  implementation?: Implementation | undefined;
}

/** What {@link Socket.capabilities} reports. */
export interface SocketCapabilities {
  /** `segmentSize` sends go to the kernel in one call. Linux: UDP_SEGMENT (4.18+); Windows: UDP_SEND_MSG_SIZE (10 2004+); never under Wine. */
  segmentationOffload: boolean;
  /** How a batch reaches the OS: `sendmmsg` (Linux) or a native loop of overlapped WSASendMsg (Windows). */
  batchSend: 'sendmmsg' | 'WSASendMsg loop';
  /**
   * The whole TOS byte (DSCP and ECN) per datagram: Linux always; Windows where the stack
   * takes an IP_TOS control message (probed once per process). false: only the ECN bits,
   * and DSCP bits are WSAEOPNOTSUPP.
   */
  perDatagramTos: boolean;
  /**
   * Most segments one offloaded `segmentSize` send carries before the shim cuts it into a
   * batch instead: 64 on Linux (UDP_MAX_SEGMENTS), 512 on Windows (what USO accepts on
   * Windows 11, as quinn-udp measured).
   */
  maxOffloadSegments: number;
  /**
   * Receives may coalesce datagrams (receiveOffload asked for and taken by the OS: Linux
   * 5.0+, Windows 10 2004+; never under Wine). They reach the caller split, either way.
   */
  receiveOffload: boolean;
  /** `control.sourceAddress` is honoured (both OSes; Wine drops it, see docs/windows-notes.md). */
  sourceAddress: boolean;
}

/** Local address of a socket, in `node:dgram`'s shape. */
export interface SocketAddress {
  /** IP literal (v4-mapped IPv6 for IPv4 peers of a dual-stack socket). */
  address: string;
  /** `'IPv4'` or `'IPv6'`, as in `node:dgram`. */
  family: 'IPv4' | 'IPv6';
  /** UDP port (0 for raw sockets). */
  port: number;
}

const KIND: Record<SocketType, Kind> = { udp4: Kind.Udp4, udp6: Kind.Udp6, raw4: Kind.Raw4, raw6: Kind.Raw6 };
const OPEN_KEYS = new Set(['type', 'protocol', 'bind', 'ipv6Only', 'broadcast', 'reusePort', 'receiveOffload', 'sendTimeout', 'nonBlocking', 'sendBufferSize',
  'icmpErrors', 'ttl', 'dontFragment', 'recvPktinfo', 'implementation', 'maxPendingSends', 'maxPendingBytes']);
/** openSocket's defaults for the bound on queued overlapped sends. */
const DEFAULT_MAX_PENDING_SENDS = 1024;
const DEFAULT_MAX_PENDING_BYTES = 4 << 20;
const BIND_KEYS = new Set(['address', 'port']);

/** @internal A send that the OS has not completed yet. */
export interface PendingEntry {
  /** `count`: for a batch, how many messages went. */
  done: (err: WsaError | null, bytes: number, count?: number) => void;
  address?: string;
  port?: number;
  sourceAddress?: string;
  /** Its signal's listener, if it has one. */
  link?: Listener;
  /** A batch: the destination of the message at `count`, which the completion says failed. */
  failedAt?: (count: number) => { address?: string; port?: number; sourceAddress?: string; segmentsSent?: number };
  /** What it counts against the socket's bound (maxPendingSends / maxPendingBytes). */
  datagrams: number;
  bytes: number;
}

/** @internal */
export const kState = Symbol('sendmsg-shim.state');

/** @internal A receive the OS has not completed yet. */
export interface ReceivingEntry {
  done: (err: WsaError | null, result: RawReceived | RawBatch | null) => void;
  /** The buffer the OS writes into: kept alive until completion (a batch's is the backend's). */
  buffer: Uint8Array | null;
  link?: Listener;
  /** Settles it from st.leftover instead, once the backend has given it back (src/recv.ts). */
  serve: () => void;
  /** serveLeftover asked the backend for it back and was told to wait for its completion (Windows). */
  reclaiming?: boolean;
}

/** @internal An AbortSignal's 'abort' listener, added once and removed once. */
export interface Listener {
  signal: AbortSignal;
  onAbort: () => void;
  /** The signal fired (possibly before the operation was handed to the OS). */
  fired: boolean;
}

/**
 * @internal Listens to a signal for one operation. addEventListener is the caller's code
 * (a duck-typed signal may throw, or fire at once): callers do this before any I/O.
 */
export function listen(signal: AbortSignal, onAbort: () => void): Listener {
  const link: Listener = { signal, fired: false, onAbort: () => { link.fired = true; onAbort(); } };
  signal.addEventListener('abort', link.onAbort, { once: true });
  return link;
}

/**
 * @internal Stops listening; the one place a listener is removed. removeEventListener is
 * the caller's code too, so it runs on a later tick: never inside a native call (a
 * completion delivered while sendMsgSync flushes the queue), never between settling an
 * operation and its bookkeeping; if it throws, that is reported as any throwing callback is.
 */
export function unlisten(link: Listener | undefined): void {
  if (!link) return;
  process.nextTick(() => link.signal.removeEventListener('abort', link.onAbort));
}

/** @internal [bytes, truncated, fromAddress, fromPort, destination | null, ifindex, tos] */
export type RawReceived = [number, boolean, string, number, string | null, number, number];

/**
 * @internal The sendMsg calls this socket got in the current turn of the event loop, copied
 * and planned but not yet handed to the OS (src/send.ts coalesces them into one call).
 */
export interface StagedSends {
  readonly n: number;
  /** Hands them to the OS now; each call's promise or callback settles as a lone send's would. */
  flush(): void;
}

/**
 * @internal Whatever happens next on the socket (another kind of send, connect, shutdown,
 * close) must come after the sendMsg calls made before it: they go to the OS first.
 */
export function flushStaged(st: SocketState): void {
  if (st.staged !== null && st.staged.n !== 0) st.staged.flush();
}

/** @internal */
export interface SocketState {
  native: NativeSocket;
  /**
   * native.receiveOffload, read once at open (where it is decided): every receive needs it,
   * and an accessor into native code costs ~1,000 instructions a read.
   */
  receiveOffload: boolean;
  closed: boolean;
  isRaw: boolean;
  /** bind or connect gave it a local address (a never-bound socket has none: WSAEINVAL). */
  bound: boolean;
  kind: Kind;
  /** The connected peer, for the plan of a send without `to`. */
  peer: IpLiteral | null;
  /**
   * Plans a single send into the socket's own record, which the native side reads on every
   * single send. The record itself is reachable from nothing a caller can touch (only this
   * closure and the native side hold it): a caller could otherwise detach it
   * (ArrayBuffer.prototype.transfer) under the addon's pointer.
   */
  writePlan: (m: PlanInput) => Refusal | null;
  /** What `plan` holds now (src/send.ts's planSingle): a repeated message is not planned again. */
  planKey: PlanKey;
  pending: Map<number, PendingEntry>;
  receiving: Map<number, ReceivingEntry>;
  /** close() callers waiting for `pending` to empty. */
  drained: Array<() => void>;
  /** Datagrams and payload bytes of the entries in `pending`, against the bound. */
  pendingDatagrams: number;
  pendingBytes: number;
  maxPendingSends: number;
  maxPendingBytes: number;
  /** Socket.drained() callers waiting for room under the bound. */
  roomWaiters: Array<() => void>;
  /** The public object, for code that starts from the state. */
  self: Socket;
  /** This turn's coalesced sendMsg calls (made on first use). */
  staged: StagedSends | null;
  /** A sendMsg went at once in this turn: the turn's later ones are coalesced (src/send.ts). */
  sentThisTurn: boolean;
  /**
   * Datagrams split out of a coalesced receive (receiveOffload) that the receive which got
   * them had no room for: the next receives return them first, in order (src/recv.ts).
   */
  leftover: ReceivedMessage[];
}

/** @internal The inputs of the plan a socket's record holds; `valid` false: none yet. */
export interface PlanKey extends PlanInput {
  valid: boolean;
}

/** Wakes close() callers once no send is in flight, and drained() callers once no send is queued. @internal */
export function notifyIfDrained(st: SocketState): void {
  if (st.roomWaiters.length && (st.closed || st.pending.size === 0)) for (const resolve of st.roomWaiters.splice(0)) resolve();
  if (st.pending.size === 0 && st.receiving.size === 0 && st.drained.length) for (const resolve of st.drained.splice(0)) resolve();
}

/**
 * Whether an overlapped send of `datagrams` / `bytes` may be accepted. Only a send that
 * would wait counts: while nothing is queued, a send goes to the OS at once (and a batch
 * may park its remainder), so the queue never exceeds the bound by more than one call.
 * @internal
 */
export function hasRoom(st: SocketState, datagrams: number, bytes: number): boolean {
  if (st.pending.size === 0) return true;
  return st.pendingDatagrams + datagrams <= st.maxPendingSends && st.pendingBytes + bytes <= st.maxPendingBytes;
}

/** @internal Records a queued send against the bound. */
export function addPending(st: SocketState, token: number, entry: PendingEntry): void {
  st.pending.set(token, entry);
  st.pendingDatagrams += entry.datagrams;
  st.pendingBytes += entry.bytes;
}

/** @internal Removes a queued send (completed or cancelled); undefined if it was not there. */
export function takePending(st: SocketState, token: number): PendingEntry | undefined {
  const entry = st.pending.get(token);
  if (!entry) return undefined;
  st.pending.delete(token);
  st.pendingDatagrams -= entry.datagrams;
  st.pendingBytes -= entry.bytes;
  return entry;
}

/** @internal What the OS said, as a WsaError that names the call's destination and source. */
export function toWsaError(wsa: number, sysErrno: number, syscall: string, icmp: RawIcmp | null | undefined,
  where: { address?: string | undefined; port?: number | undefined; sourceAddress?: string | undefined; segmentsSent?: number | undefined }): WsaError {
  const report = icmpReport(icmp);
  let reason: string | undefined;
  // The main feature's failures should say so: a source address the OS would not send
  // from gives only "invalid argument" or "network is unreachable" otherwise.
  if (where.sourceAddress !== undefined && !report && sysErrno && SOURCE_REFUSALS.has(wsa)) {
    reason = `source address ${where.sourceAddress} is not local, or cannot reach this destination`;
  }
  return new WsaError(wsa, {
    sysErrno, syscall, address: where.address, port: where.port, sourceAddress: where.sourceAddress, icmp: report, reason,
    segmentsSent: where.segmentsSent,
  });
}
/**
 * The codes with which Linux and Windows refuse a source address (errno lab: non-local IPv4
 * → ENETUNREACH, IPv6 → EINVAL). Not EHOSTUNREACH: that is also what a forged or real ICMP
 * error of an earlier datagram gives, which the source has nothing to do with.
 */
const SOURCE_REFUSALS = new Set<number>([WSA.EINVAL, WSA.EADDRNOTAVAIL, WSA.ENETUNREACH]);

/** Turns the addon's last error into a WsaError. @internal */
export function lastError(native: NativeSocket, address?: string, port?: number, sourceAddress?: string): WsaError {
  const [wsa, sysErrno, syscall, icmp] = native.lastError();
  return toWsaError(wsa, sysErrno, syscall, icmp, { address, port, sourceAddress });
}

/** openSocket's way past the private constructor (set by the class's static block). */
let createSocket: (type: SocketType, native: NativeSocket, implementation: Implementation, plan: PlanMemory,
  limits: SocketLimits) => Socket;
/** @internal */
interface SocketLimits { maxPendingSends: number; maxPendingBytes: number; bound: boolean }

/**
 * A datagram socket owned by sendmsg-shim (its own fd / SOCKET, not a `node:dgram` one).
 * Create it with {@link openSocket}; send with {@link sendMsg} or {@link sendMsgSync}.
 */
export class Socket {
  /** The type it was opened with. */
  readonly type: SocketType;
  /** How it reaches the OS: `'addon'` or `'ffi'` (see {@link OpenSocketOptions.implementation}). */
  readonly implementation: Implementation;
  /** @internal */
  readonly [kState]: SocketState;

  // Private rather than internal: stripInternal would drop the declaration and leave users an
  // implicit public `new Socket()` that type-checks and then throws.
  /** Use {@link openSocket}. */
  private constructor(type: SocketType, native: NativeSocket, implementation: Implementation, plan: PlanMemory,
    limits: SocketLimits) {
    if (!(plan instanceof PlanMemory)) {
      throw Object.assign(new TypeError('Socket cannot be constructed directly: use openSocket()'), { code: 'ERR_ILLEGAL_CONSTRUCTOR' });
    }
    this.type = type;
    this.implementation = implementation;
    const st: SocketState = this[kState] = {
      native, receiveOffload: native.receiveOffload, closed: false, isRaw: type === 'raw4' || type === 'raw6', bound: limits.bound, peer: null, kind: KIND[type],
      writePlan: (m) => planMessage(plan, 0, st.kind, st.peer, m),
      planKey: { valid: false, to: null, toPort: 0, source: null, ifindex: 0, flags: 0, tos: 0, segmentSize: 0, split: false },
      pending: new Map(), receiving: new Map(), drained: [],
      pendingDatagrams: 0, pendingBytes: 0, maxPendingSends: limits.maxPendingSends, maxPendingBytes: limits.maxPendingBytes,
      roomWaiters: [], self: this, staged: null, sentThisTurn: false, leftover: [],
    };
  }

  static {
    createSocket = (type, native, implementation, plan, limits) => new Socket(type, native, implementation, plan, limits);
  }

  /**
   * Local address (after bind, connect or the first send), like `dgram.Socket#address()`.
   * A socket that was never bound has none: WSAEINVAL, as Windows' getsockname says (Linux
   * would answer `0.0.0.0:0`; the shim answers as Windows does on both).
   * @throws WsaError
   */
  address(): SocketAddress {
    const st = this[kState];
    if (st.closed) throw new WsaError(WSA.ENOTSOCK, { syscall: 'getsockname' });
    const r = st.native.address();
    if (typeof r === 'number') throw lastError(st.native);
    // A UDP socket has a port from its bind, connect or first send on; a raw one only
    // the bind or connect that this object saw.
    if (st.isRaw ? !st.bound : r[1] === 0) throw new WsaError(WSA.EINVAL, { syscall: 'getsockname' });
    return { address: r[0], family: r[2] === 4 ? 'IPv4' : 'IPv6', port: r[1] };
  }

  /**
   * Sets the default destination, so that messages may omit `to`; ICMP port-unreachable
   * from an earlier send then fails a later one with WSAECONNRESET (on both OSes).
   * @throws WsaError
   */
  connect(address: string, port: number): void {
    const peer = validateIpLiteral(address, 'address');
    validateInteger(port, 'port', this[kState].isRaw ? 0 : 1, 65535);
    const st = this[kState];
    if (st.closed) throw new WsaError(WSA.ENOTSOCK, { syscall: 'connect', address, port });
    if (peer.scope === -1) throw new WsaError(WSA.EINVAL, { syscall: 'connect', address, port, reason: `the zone of ${address} names no interface` });
    flushStaged(st);  // they were addressed before the connect
    if (st.native.connect(endpointRecord(peer, port)) !== true) throw lastError(st.native, address, port);
    st.bound = true;
    st.peer = peer;
    // Sends without `to` now go to this peer: the dual-stack rule may answer differently.
    st.planKey.valid = false;
  }

  /** `shutdown('send')`: every later send fails with WSAESHUTDOWN. */
  shutdown(how: 'send'): void {
    if (how !== 'send') throw invalidArgValue('how', how, "must be 'send'");
    const st = this[kState];
    if (st.closed) throw new WsaError(WSA.ENOTSOCK, { syscall: 'shutdown' });
    flushStaged(st);
    if (st.native.shutdownSend() !== true) throw lastError(st.native);
  }

  /**
   * Closes the socket. Every send still queued fails with WSA_OPERATION_ABORTED and none
   * of them is sent afterwards. Resolves once every send made on the socket has completed
   * (on Windows the cancelled ones complete through the completion port shortly after).
   * Closing twice is harmless.
   */
  close(): Promise<void> {
    const st = this[kState];
    if (!st.closed) {
      // A sendMsg made before close() goes out, as it would have without coalescing.
      flushStaged(st);
      st.staged = null;  // its ~150 KB of staging memory goes with the socket's last send
      st.leftover = [];
      st.closed = true;
      st.native.close();
      notifyIfDrained(st);
    }
    if (st.pending.size === 0 && st.receiving.size === 0) return Promise.resolve();
    return new Promise((resolve) => st.drained.push(resolve));
  }

  /**
   * `await using sock = await openSocket(...)`: leaving the block is `await sock.close()`.
   *
   * There is deliberately no `Symbol.dispose`: closing completes asynchronously (queued
   * sends fail and, on Windows, cancelled ones come back through the completion port), so a
   * synchronous `using` would leave the block with sends still unsettled and nobody awaiting
   * them. (Node has had `Symbol.asyncDispose` since 20.4; `engines` asks for 20.17.)
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Sends accepted by `sendMsg` that the OS has not taken yet (waiting for send-buffer room). */
  get pendingSends(): number {
    const st = this[kState];
    return st.pending.size + (st.staged === null ? 0 : st.staged.n);
  }

  /**
   * Resolves once no overlapped send is queued any more (at once if none is, or when the
   * socket closes): the promise form of a stream's 'drain' event, which also waits for an
   * empty buffer. Then any send is accepted again, whatever its size. Sends past
   * `maxPendingSends` / `maxPendingBytes` fail with WSAEWOULDBLOCK instead of queueing
   * without limit.
   *
   * @example
   * ```ts
   * try { await sendMsg(sock, reply); }
   * catch (err) { if (err instanceof WsaError && err.errno === WSA.EWOULDBLOCK) await sock.drained(); }
   * ```
   */
  drained(): Promise<void> {
    const st = this[kState];
    flushStaged(st);
    if (st.closed || st.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => st.roomWaiters.push(resolve));
  }

  /** The OS handle (fd on Linux), -1 once closed. Owned by the shim: do not close it. */
  get fd(): number {
    return this[kState].native.fd;
  }

  /**
   * What this socket can do on this OS, as data: `segmentationOffload` is true while sends
   * with `segmentSize` go to the kernel in one call (UDP_SEGMENT / UDP_SEND_MSG_SIZE); it
   * turns false for good if the kernel refuses one for a reason of the socket's (not one an
   * ICMP error could fake), and the shim then sends the segments as a batch. `perDatagramTos`: the whole TOS byte can be set per datagram (Linux, and
   * Windows stacks that take IP_TOS), or only ECN.
   */
  capabilities(): SocketCapabilities {
    const st = this[kState];
    const win = binding.platform === 'win32';
    return {
      segmentationOffload: st.native.segmentationOffload,
      batchSend: win ? 'WSASendMsg loop' : 'sendmmsg',
      perDatagramTos: st.native.perDatagramTos,
      maxOffloadSegments: binding.maxOffloadSegments,
      receiveOffload: st.native.receiveOffload,
      sourceAddress: true,
    };
  }

  /**
   * The datagrams this socket receives, as an async iterator (see {@link messages}): batches
   * of {@link recvMsgBatch} underneath, one at a time. Ends when the socket closes.
   * `for await (const m of sock.messages()) ...`
   */
  messages(options?: MessagesOptions): AsyncGenerator<ReceivedMessage> {
    return messages(this, options);
  }

  /** True once {@link Socket.close} was called. */
  get closed(): boolean {
    return this[kState].closed;
  }
}

/**
 * Opens a datagram (or raw) socket.
 *
 * @example
 * ```ts
 * const sock = await openSocket({ type: 'udp4', bind: { address: '127.0.0.1' } });
 * ```
 * @throws TypeError/RangeError (`ERR_INVALID_ARG_*`, `ERR_OUT_OF_RANGE`) synchronously for bad options.
 * @returns rejects with WsaError when the OS refuses (e.g. WSAEACCES for raw without privilege, WSAEADDRINUSE).
 */
export function openSocket(options: OpenSocketOptions): Promise<Socket> {
  validateObject(options, 'options');
  validateKeys(options as unknown as Record<string, unknown>, 'options', OPEN_KEYS);
  const { type } = options;
  if (typeof type !== 'string' || !(type in KIND)) throw invalidArgValue('options.type', type, "must be one of 'udp4', 'udp6', 'raw4', 'raw6'");
  const isRaw = type === 'raw4' || type === 'raw6';
  const is6 = type === 'udp6' || type === 'raw6';
  let protocol = 255;
  if (options.protocol !== undefined) {
    if (!isRaw) throw invalidArgValue('options.protocol', options.protocol, 'applies to raw sockets only');
    validateInteger(options.protocol, 'options.protocol', 1, 255);
    protocol = options.protocol;
  }
  if (options.ipv6Only !== undefined) {
    validateBoolean(options.ipv6Only, 'options.ipv6Only');
    if (type !== 'udp6') throw invalidArgValue('options.ipv6Only', options.ipv6Only, 'applies to udp6 only');
  }
  if (options.broadcast !== undefined) validateBoolean(options.broadcast, 'options.broadcast');
  if (options.reusePort !== undefined) {
    validateBoolean(options.reusePort, 'options.reusePort');
    if (isRaw) throw invalidArgValue('options.reusePort', options.reusePort, 'applies to UDP sockets only');
  }
  if (options.receiveOffload !== undefined) {
    validateBoolean(options.receiveOffload, 'options.receiveOffload');
    if (isRaw) throw invalidArgValue('options.receiveOffload', options.receiveOffload, 'applies to UDP sockets only');
  }
  if (options.nonBlocking !== undefined) validateBoolean(options.nonBlocking, 'options.nonBlocking');
  if (options.sendTimeout !== undefined) validateInteger(options.sendTimeout, 'options.sendTimeout', 0, 2 ** 31 - 1);
  if (options.sendBufferSize !== undefined) validateInteger(options.sendBufferSize, 'options.sendBufferSize', 1, 2 ** 31 - 1);
  if (options.icmpErrors !== undefined) {
    validateBoolean(options.icmpErrors, 'options.icmpErrors');
    if (isRaw) throw invalidArgValue('options.icmpErrors', options.icmpErrors, 'applies to udp4 and udp6 only');
  }
  if (options.ttl !== undefined) validateInteger(options.ttl, 'options.ttl', 1, 255);
  if (options.dontFragment !== undefined) validateBoolean(options.dontFragment, 'options.dontFragment');
  if (options.recvPktinfo !== undefined) validateBoolean(options.recvPktinfo, 'options.recvPktinfo');
  const maxPendingSends = options.maxPendingSends ?? DEFAULT_MAX_PENDING_SENDS;
  validateInteger(maxPendingSends, 'options.maxPendingSends', 1, 2 ** 31 - 1);
  const maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
  validateInteger(maxPendingBytes, 'options.maxPendingBytes', 1, Number.MAX_SAFE_INTEGER);
  const impl = options.implementation ?? defaultImplementation;
  if (impl !== 'addon' && impl !== 'ffi') throw invalidArgValue('options.implementation', impl, "must be 'addon' or 'ffi'");
  let bindAddress: string | null = null;
  let bindPort = 0;
  let bindTo: IpLiteral | null = null;
  if (options.bind !== undefined) {
    validateObject(options.bind, 'options.bind');
    validateKeys(options.bind, 'options.bind', BIND_KEYS);
    if (options.bind.address !== undefined) {
      bindTo = validateIpLiteral(options.bind.address, 'options.bind.address');
      if (!is6 && bindTo.family === 6) {
        throw invalidArgValue('options.bind.address', options.bind.address, `must be an IPv4 address for ${type}`);
      }
      bindAddress = options.bind.address;
    } else {
      bindAddress = is6 ? '::' : '0.0.0.0';
      bindTo = validateIpLiteral(bindAddress, 'options.bind.address');
    }
    if (options.bind.port !== undefined) validateInteger(options.bind.port, 'options.bind.port', 0, 65535);
    bindPort = options.bind.port ?? 0;
  }

  let sock: Socket | undefined;
  let Native: ReturnType<typeof bindingFor>['NativeSocket'];
  try {
    Native = bindingFor(impl).NativeSocket;
  } catch (err) {
    return Promise.reject(err);
  }
  const plan = new PlanMemory(1);
  const native = new Native((token, bytes, wsa, sysErrno, syscall, count, icmp) => {
    const st = sock![kState];
    const entry = takePending(st, token);
    if (!entry) return;
    unlisten(entry.link);
    if (bytes >= 0) entry.done(null, bytes, count);
    else entry.done(toWsaError(wsa, sysErrno, syscall, icmp, entry.failedAt ? entry.failedAt(count) : entry), 0, count);
    notifyIfDrained(st);
  }, plan.u8);
  const icmpMode = isRaw || options.icmpErrors === undefined ? ICMP_DEFAULT : options.icmpErrors ? ICMP_ON : ICMP_OFF;
  if (bindTo?.scope === -1) {
    native.close();
    return Promise.reject(new WsaError(WSA.EINVAL, { syscall: 'bind', address: bindAddress!, port: bindPort,
      reason: `the zone of ${bindAddress} names no interface` }));
  }
  const ok = native.open(KIND[type], protocol, options.ipv6Only ?? false, options.broadcast ?? false,
    options.nonBlocking ?? false, options.sendTimeout ?? 0, options.sendBufferSize ?? 0, bindTo && endpointRecord(bindTo, bindPort),
    icmpMode, options.ttl ?? 0, options.dontFragment ?? false, options.recvPktinfo ?? false, options.reusePort ?? false,
    options.receiveOffload ?? false);
  native.onreceive = (token, result, wsa, sysErrno, syscall, icmp) => {
    const st = sock![kState];
    const entry = st.receiving.get(token);
    if (!entry) return;
    st.receiving.delete(token);
    unlisten(entry.link);
    if (result) entry.done(null, result);
    else entry.done(toWsaError(wsa, sysErrno, syscall, icmp, {}), null);
    notifyIfDrained(st);
  };
  if (ok !== true) {
    return Promise.reject(lastError(native, bindAddress ?? undefined, bindAddress ? bindPort : undefined));
  }
  sock = createSocket(type, native, impl, plan, { maxPendingSends, maxPendingBytes, bound: bindAddress !== null });
  return Promise.resolve(sock);
}
