import { isIP } from 'node:net';
import { type Implementation, type NativeSocket, binding, bindingFor, implementation as defaultImplementation } from './binding';
import { messages, type ReceivedMessage } from './recv';
import { WSA, WsaError, invalidArgValue, setDefaultSyscall } from './errors';

setDefaultSyscall(binding.sendSyscall);
import {
  validateBoolean, validateInteger, validateIpLiteral, validateKeys, validateObject,
} from './validate';

/** Socket types: UDP over IPv4/IPv6, or raw IP (needs CAP_NET_RAW / Administrator). */
export type SocketType = 'udp4' | 'udp6' | 'raw4' | 'raw6';

/** Options of {@link openSocket}. */
export interface OpenSocketOptions {
  /** `'udp4' | 'udp6' | 'raw4' | 'raw6'`. */
  type: SocketType;
  /** IP protocol number for raw sockets (e.g. 17 for UDP, 253 for experiments). Raw only; default 255. */
  protocol?: number;
  /** Local address and port; without it the OS picks them at the first send. */
  bind?: {
    /** IP literal; default the wildcard (`0.0.0.0` or `::`). */
    address?: string;
    /** 0 (default) lets the OS choose. */
    port?: number;
  };
  /** udp6 only. `false` (default) is dual stack, so IPv4 destinations work as v4-mapped; set explicitly on every OS, since Windows and Linux default differently. */
  ipv6Only?: boolean;
  /** SO_BROADCAST: without it a send to a broadcast address fails with WSAEACCES. */
  broadcast?: boolean;
  /** Milliseconds a blocking `sendMsgSync` may wait for send-buffer room before WSAETIMEDOUT (SO_SNDTIMEO semantics). 0 or absent: wait as long as it takes. */
  sendTimeout?: number;
  /** `sendMsgSync` then fails with WSAEWOULDBLOCK instead of waiting. `sendMsg` is overlapped either way. */
  nonBlocking?: boolean;
  /** SO_SNDBUF in bytes (the OS may round or double it). */
  sendBufferSize?: number;
  /**
   * UDP only; default `true`, as on Windows. ICMP errors caused by earlier sends fail a
   * later send: port unreachable as WSAECONNRESET, TTL expiry as WSAENETRESET, host or
   * network unreachable as WSAEHOSTUNREACH / WSAENETUNREACH, and a full qdisc as
   * WSAENOBUFS. Each ICMP error fails exactly one later call, on any destination (this
   * is Windows' behaviour, and why many Windows servers turn it off: `false` here is
   * SIO_UDP_CONNRESET + SIO_UDP_NETRESET off there). Linux: IP_RECVERR / IPV6_RECVERR.
   */
  icmpErrors?: boolean;
  /** Time to live / hop limit of outgoing datagrams, 1–255 (IP_TTL / IPV6_UNICAST_HOPS). */
  ttl?: number;
  /** Never fragment: a datagram above the path MTU fails with WSAEMSGSIZE (IP_DONTFRAGMENT on Windows, IP_PMTUDISC_DO / IPV6_DONTFRAG on Linux). */
  dontFragment?: boolean;
  /**
   * Report, for each received datagram, the local address it was sent to, the interface
   * and the TOS byte (`recvMsg`'s `control`): IP_PKTINFO / IPV6_RECVPKTINFO and
   * IP_RECVTOS / IPV6_RECVTCLASS. Off by default: a socket that does not ask pays nothing.
   */
  recvPktinfo?: boolean;
  /**
   * How this socket reaches the OS: `'addon'`, the compiled native addon, or `'ffi'`, libc
   * called through ffi-rs (Linux x64/arm64 only; no compiler needed; about half as fast for single sends, see README's benchmark).
   * Default: the process's {@link implementation} (the addon if it is built, else ffi-rs;
   * the `SENDMSG_SHIM_IMPLEMENTATION` environment variable forces one). Both give the same
   * results: the same bytes, the same WsaError codes.
   */
  implementation?: Implementation;
}

/** What {@link Socket.capabilities} reports. */
export interface SocketCapabilities {
  /** `segmentSize` sends go to the kernel in one call. Linux: UDP_SEGMENT (4.18+); Windows: UDP_SEND_MSG_SIZE (10 2004+); never under Wine. */
  segmentationOffload: boolean;
  /** How a batch reaches the OS: `sendmmsg` (Linux) or a native loop of overlapped WSASendMsg (Windows). */
  batchSend: 'sendmmsg' | 'WSASendMsg loop';
  /** The whole TOS byte per datagram (Linux); false: ECN bits only (Windows). */
  perDatagramTos: boolean;
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

const KIND: Record<SocketType, number> = { udp4: 0, udp6: 1, raw4: 2, raw6: 3 };
const OPEN_KEYS = new Set(['type', 'protocol', 'bind', 'ipv6Only', 'broadcast', 'sendTimeout', 'nonBlocking', 'sendBufferSize',
  'icmpErrors', 'ttl', 'dontFragment', 'recvPktinfo', 'implementation']);
const BIND_KEYS = new Set(['address', 'port']);

/** @internal A send that the OS has not completed yet. */
export interface PendingEntry {
  /** `count`: for a batch, how many messages went. */
  done: (err: WsaError | null, bytes: number, count?: number) => void;
  /** Keeps the payload alive until completion: the native queue points into it. */
  buffers: unknown;
  address?: string;
  port?: number;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** @internal */
export const kState = Symbol('sendmsg-shim.state');

/** @internal */
/** @internal A receive the OS has not completed yet. */
export interface ReceivingEntry {
  done: (err: WsaError | null, result: RawReceived | null) => void;
  /** The buffer the OS writes into: kept alive until completion. */
  buffer: Uint8Array;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** @internal [bytes, truncated, fromAddress, fromPort, destination | null, ifindex, tos] */
export type RawReceived = [number, boolean, string, number, string | null, number, number];

/** @internal */
export interface SocketState {
  native: NativeSocket;
  closed: boolean;
  isRaw: boolean;
  pending: Map<number, PendingEntry>;
  receiving: Map<number, ReceivingEntry>;
  /** close() callers waiting for `pending` to empty. */
  drained: Array<() => void>;
  /** The public object, for code that starts from the state. */
  self: Socket;
}

/** Wakes close() callers once no send is in flight. @internal */
export function notifyIfDrained(st: SocketState): void {
  if (st.pending.size === 0 && st.receiving.size === 0 && st.drained.length) for (const resolve of st.drained.splice(0)) resolve();
}

/** Turns the addon's last error into a WsaError. @internal */
export function lastError(native: NativeSocket, address?: string, port?: number): WsaError {
  const [wsa, sysErrno, syscall] = native.lastError();
  return new WsaError(wsa, { sysErrno, syscall, address, port });
}

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

  /** @internal Use {@link openSocket}. */
  constructor(type: SocketType, native: NativeSocket, implementation: Implementation = defaultImplementation) {
    this.type = type;
    this.implementation = implementation;
    this[kState] = { native, closed: false, isRaw: type === 'raw4' || type === 'raw6', pending: new Map(), receiving: new Map(), drained: [], self: this };
  }

  /** Local address (after bind, connect or the first send), like `dgram.Socket#address()`. Throws WsaError. */
  address(): SocketAddress {
    const st = this[kState];
    if (st.closed) throw new WsaError(WSA.ENOTSOCK, { syscall: 'getsockname' });
    const r = st.native.address();
    if (typeof r === 'number') throw lastError(st.native);
    return { address: r[0], family: r[2] === 4 ? 'IPv4' : 'IPv6', port: r[1] };
  }

  /**
   * Sets the default destination, so that messages may omit `to`; ICMP port-unreachable
   * from an earlier send then fails a later one with WSAECONNRESET (on both OSes).
   * @throws WsaError
   */
  connect(address: string, port: number): void {
    validateIpLiteral(address, 'address');
    validateInteger(port, 'port', this[kState].isRaw ? 0 : 1, 65535);
    const st = this[kState];
    if (st.closed) throw new WsaError(WSA.ENOTSOCK, { syscall: 'connect', address, port });
    if (st.native.connect(address, port) !== true) throw lastError(st.native, address, port);
  }

  /** `shutdown('send')`: every later send fails with WSAESHUTDOWN. */
  shutdown(how: 'send'): void {
    if (how !== 'send') throw invalidArgValue('how', how, "must be 'send'");
    const st = this[kState];
    if (st.closed) throw new WsaError(WSA.ENOTSOCK, { syscall: 'shutdown' });
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
      st.closed = true;
      st.native.close();
    }
    if (st.pending.size === 0 && st.receiving.size === 0) return Promise.resolve();
    return new Promise((resolve) => st.drained.push(resolve));
  }

  /** Sends accepted by `sendMsg` that the OS has not taken yet (waiting for send-buffer room). */
  get pendingSends(): number {
    return this[kState].pending.size;
  }

  /** The OS handle (fd on Linux), -1 once closed. Owned by the shim: do not close it. */
  get fd(): number {
    return this[kState].native.fd;
  }

  /**
   * What this socket can do on this OS, as data: `segmentationOffload` is true while sends
   * with `segmentSize` go to the kernel in one call (UDP_SEGMENT / UDP_SEND_MSG_SIZE); it
   * turns false for good if the kernel refuses one, and the shim then sends the segments
   * as a batch. `perDatagramTos`: the whole TOS byte can be set per datagram (Linux), or
   * only ECN (Windows).
   */
  capabilities(): SocketCapabilities {
    const st = this[kState];
    const win = binding.platform === 'win32';
    return {
      segmentationOffload: st.native.segmentationOffload,
      batchSend: win ? 'WSASendMsg loop' : 'sendmmsg',
      perDatagramTos: !win,
      sourceAddress: true,
    };
  }

  /**
   * The datagrams this socket receives, as an async iterator (see {@link messages}); ends
   * when the socket closes. `for await (const m of sock.messages()) ...`
   */
  messages(options?: { bufferSize?: number }): AsyncGenerator<ReceivedMessage> {
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
  const impl = options.implementation ?? defaultImplementation;
  if (impl !== 'addon' && impl !== 'ffi') throw invalidArgValue('options.implementation', impl, "must be 'addon' or 'ffi'");
  let bindAddress: string | null = null;
  let bindPort = 0;
  if (options.bind !== undefined) {
    validateObject(options.bind, 'options.bind');
    validateKeys(options.bind, 'options.bind', BIND_KEYS);
    if (options.bind.address !== undefined) {
      validateIpLiteral(options.bind.address, 'options.bind.address');
      if (!is6 && isIP(options.bind.address) === 6) {
        throw invalidArgValue('options.bind.address', options.bind.address, `must be an IPv4 address for ${type}`);
      }
      bindAddress = options.bind.address;
    } else {
      bindAddress = is6 ? '::' : '0.0.0.0';
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
  const native = new Native((token, bytes, wsa, sysErrno, syscall, count) => {
    const st = sock![kState];
    const entry = st.pending.get(token);
    if (!entry) return;
    st.pending.delete(token);
    if (entry.onAbort) entry.signal!.removeEventListener('abort', entry.onAbort);
    if (bytes >= 0) entry.done(null, bytes, count);
    else entry.done(new WsaError(wsa, { sysErrno, syscall, address: entry.address, port: entry.port }), 0, count);
    notifyIfDrained(st);
  });
  const ok = native.open(KIND[type], protocol, options.ipv6Only ?? false, options.broadcast ?? false,
    options.nonBlocking ?? false, options.sendTimeout ?? 0, options.sendBufferSize ?? 0, bindAddress, bindPort,
    !isRaw && (options.icmpErrors ?? true), options.ttl ?? 0, options.dontFragment ?? false, options.recvPktinfo ?? false);
  native.onreceive = (token, result, wsa, sysErrno, syscall) => {
    const st = sock![kState];
    const entry = st.receiving.get(token);
    if (!entry) return;
    st.receiving.delete(token);
    if (entry.onAbort) entry.signal!.removeEventListener('abort', entry.onAbort);
    if (result) entry.done(null, result);
    else entry.done(new WsaError(wsa, { sysErrno, syscall }), null);
    notifyIfDrained(st);
  };
  if (ok !== true) {
    return Promise.reject(lastError(native, bindAddress ?? undefined, bindAddress ? bindPort : undefined));
  }
  sock = new Socket(type, native, impl);
  return Promise.resolve(sock);
}
