import { SEND_FAILED, SEND_PENDING } from './binding';
import { WSA, WsaError } from './errors';
import { Socket, kState, lastError, notifyIfDrained, type PendingEntry, type SocketState } from './socket';
import {
  validateAbortSignal, validateBuffers, validateFunction, validateInteger, validateIpLiteral,
  validateKeys, validateObject,
} from './validate';
import { invalidArgType } from './errors';

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
}

/** One datagram, in the terms of WSAMSG. */
export interface Message {
  /** The payload, gathered without copying from one view or up to 1024 (WSABUF[] / iovec[]). */
  buffers: ArrayBufferView | readonly ArrayBufferView[];
  /** Destination; omit on a connected socket. */
  to?: SendTarget | null;
  /** Per-datagram source address / interface. */
  control?: SendControl | null;
  /** `MSG.DONTROUTE`; `MSG.OOB` and `MSG.PARTIAL` are refused with WSAEOPNOTSUPP on datagram sockets. */
  flags?: number;
  /** `sendMsg` only: aborting fails the send with WSA_OPERATION_ABORTED if the OS has not taken it yet. */
  signal?: AbortSignal;
}

/** Completion callback of {@link sendMsg}: never called synchronously. */
export type SendCallback = (err: WsaError | null, bytes: number) => void;

const MSG_KEYS = new Set(['buffers', 'to', 'control', 'flags', 'signal']);
const TO_KEYS = new Set(['address', 'port']);
const CONTROL_KEYS = new Set(['sourceAddress', 'interfaceIndex']);

interface Prepared {
  st: SocketState;
  buffers: ArrayBufferView | readonly ArrayBufferView[];
  toAddress: string | null;
  toPort: number;
  source: string | null;
  ifindex: number;
  flags: number;
  signal: AbortSignal | undefined;
}

function prepare(sock: unknown, msg: unknown): Prepared {
  if (!(sock instanceof Socket)) throw invalidArgType('socket', 'an instance of Socket (from openSocket)', sock);
  validateObject(msg, 'msg');
  validateKeys(msg, 'msg', MSG_KEYS);
  // Each field is read once, so what is validated is what the native side sees.
  const buffers = msg.buffers as Prepared['buffers'];
  validateBuffers(buffers, 'msg.buffers');
  const st = sock[kState];
  let toAddress: string | null = null;
  let toPort = 0;
  const to = msg.to;
  if (to !== undefined && to !== null) {
    validateObject(to, 'msg.to');
    validateKeys(to, 'msg.to', TO_KEYS);
    const address = to.address;
    const port = to.port;
    validateIpLiteral(address, 'msg.to.address');
    if (!(st.isRaw && port === undefined)) {
      validateInteger(port, 'msg.to.port', st.isRaw ? 0 : 1, 65535);
      toPort = port;
    }
    toAddress = address;
  }
  let source: string | null = null;
  let ifindex = 0;
  const control = msg.control;
  if (control !== undefined && control !== null) {
    validateObject(control, 'msg.control');
    validateKeys(control, 'msg.control', CONTROL_KEYS);
    const sourceAddress = control.sourceAddress;
    const interfaceIndex = control.interfaceIndex;
    if (sourceAddress !== undefined) {
      validateIpLiteral(sourceAddress, 'msg.control.sourceAddress');
      source = sourceAddress;
    }
    if (interfaceIndex !== undefined) {
      validateInteger(interfaceIndex, 'msg.control.interfaceIndex', 0, 0xffffffff);
      ifindex = interfaceIndex;
    }
  }
  const flags = msg.flags ?? 0;
  validateInteger(flags, 'msg.flags', 0, 0xffffffff);
  const signal = msg.signal;
  if (signal !== undefined) validateAbortSignal(signal, 'msg.signal');
  return { st, buffers, toAddress, toPort, source, ifindex, flags, signal };
}

function failure(p: Prepared): WsaError {
  return lastError(p.st.native, p.toAddress ?? undefined, p.toAddress === null ? undefined : p.toPort);
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
  if (p.st.closed) throw new WsaError(WSA.ENOTSOCK, { address: p.toAddress ?? undefined, port: p.toAddress ? p.toPort : undefined });
  const r = p.st.native.sendSync(p.buffers, p.toAddress, p.toPort, p.source, p.ifindex, p.flags);
  if (r >= 0) return r;
  throw failure(p);
}

let nextToken = 1;

/**
 * Sends one datagram, overlapped: tries at once and, if the send buffer is full, queues
 * it until the socket is writable (on Node's own event loop, no thread per send). Sends on
 * one socket complete in the order they were made. `socket.close()` or `msg.signal` fail
 * queued sends with WSA_OPERATION_ABORTED.
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
  const p = prepare(sock, msg);
  const signal = p.signal;
  if (callback !== undefined) validateFunction(callback, 'callback');

  let promise: Promise<number> | undefined;
  let done: (err: WsaError | null, bytes: number) => void;
  if (callback) {
    // Deferred even from the event loop: a completion may be delivered while a blocking
    // sendMsgSync on the same socket flushes the queue, and user code must not run there.
    done = (err, bytes) => process.nextTick(callback, err, bytes);
  } else {
    let resolve!: (n: number) => void;
    let reject!: (e: WsaError) => void;
    promise = new Promise<number>((res, rej) => { resolve = res; reject = rej; });
    done = (err, bytes) => (err ? reject(err) : resolve(bytes));
  }
  const address = p.toAddress ?? undefined;
  const port = p.toAddress === null ? undefined : p.toPort;

  if (p.st.closed) {
    done(new WsaError(WSA.ENOTSOCK, { address, port }), 0);
  } else if (signal?.aborted) {
    done(new WsaError(WSA.OPERATION_ABORTED, { address, port }), 0);
  } else {
    const token = nextToken++;
    const r = p.st.native.sendAsync(p.buffers, p.toAddress, p.toPort, p.source, p.ifindex, p.flags, token);
    if (r >= 0) done(null, r);
    else if (r === SEND_FAILED) done(failure(p), 0);
    else if (r === SEND_PENDING) {
      // A copy of the list: the native queue points into these buffers until completion,
      // so they must stay reachable even if the caller edits its array.
      const buffers = Array.isArray(p.buffers) ? p.buffers.slice() : p.buffers;
      const entry: PendingEntry = { done, buffers, address, port };
      if (signal) {
        entry.signal = signal;
        entry.onAbort = () => {
          // posix removes a parked send at once; on Windows the kernel may still hold the
          // buffers, so the cancelled completion itself rejects the send, a moment later.
          if (p.st.native.cancel(token)) {
            p.st.pending.delete(token);
            done(new WsaError(WSA.OPERATION_ABORTED, { address, port }), 0);
            notifyIfDrained(p.st);
          }
        };
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      p.st.pending.set(token, entry);
    }
  }
  return promise;
}
