import { isIP } from 'node:net';
import { WSA, WsaError } from './errors';
import {
  Socket, kState, lastError, listen, notifyIfDrained, unlisten, type RawReceived, type ReceivingEntry, type SocketAddress,
} from './socket';
import { invalidArgType } from './errors';
import { validateAbortSignal, validateInteger, validateKeys, validateObject } from './validate';

/** Options of {@link recvMsg}. */
export interface RecvOptions {
  /** Room for the datagram, in bytes (default 65536, enough for any UDP datagram). */
  bufferSize?: number | undefined;
  /** Aborting fails a receive still waiting with WSA_OPERATION_ABORTED. */
  signal?: AbortSignal | undefined;
}

/** What came with a received datagram (needs `recvPktinfo: true` on the socket). */
export interface ReceivedControl {
  /** The local address the datagram was sent to: answer from it (`control.sourceAddress`). */
  destinationAddress?: string | undefined;
  /** The interface it arrived on. */
  interfaceIndex?: number | undefined;
  /** Its TOS / traffic-class byte. */
  tos?: number | undefined;
}

/** One received datagram. */
export interface ReceivedMessage {
  /** The datagram's bytes (a view of exactly `bytes` bytes). */
  buffer: Buffer;
  /** Its length (the bytes that fit, when `truncated`). */
  bytes: number;
  /**
   * The datagram was longer than the buffer and was cut to it. Both OSes report this the
   * same way, as a flag with the data that fit (Windows' WSAEMSGSIZE becomes this flag).
   */
  truncated: boolean;
  /** The sender. Pass it back as `to` to answer. */
  from: SocketAddress;
  /** With `recvPktinfo`: destination address, interface and TOS (Linux: all; Windows: address and interface, TOS from 1903; Wine: no TOS). */
  control: ReceivedControl;
}

const RECV_KEYS = new Set(['bufferSize', 'signal']);
let nextToken = 1;

function toMessage(buffer: Buffer, r: RawReceived): ReceivedMessage {
  const [bytes, truncated, address, port, destination, ifindex, tos] = r;
  const control: ReceivedControl = {};
  if (destination !== null) {
    control.destinationAddress = destination.startsWith('::ffff:') && isIP(destination.slice(7)) === 4 ? destination.slice(7) : destination;
    control.interfaceIndex = ifindex;
  }
  if (tos >= 0) control.tos = tos;
  return {
    buffer: buffer.subarray(0, bytes),
    bytes,
    truncated,
    from: { address, family: isIP(address) === 6 ? 'IPv6' : 'IPv4', port },
    control,
  };
}

/** What {@link replyTo} gives: spread it into a message (`{ buffers, ...replyTo(m) }`). */
export interface ReplyTarget {
  /** The sender of the received datagram. */
  to: SocketAddress;
  /** The address (and interface) the datagram arrived on; absent where the OS did not say. */
  control?: ReplyControl;
}

/** The control data of a {@link ReplyTarget}. */
export interface ReplyControl {
  /** The address the datagram was sent to: the reply's source. */
  sourceAddress: string;
  /** The interface it arrived on. */
  interfaceIndex?: number;
}

/**
 * The destination and control data that answer a received datagram from the address it was
 * sent to, the reason this package exists: `sendMsg(sock, { buffers, ...replyTo(m) })`. The
 * source is the datagram's destination address (the socket needs `recvPktinfo: true`) and
 * the interface it arrived on. Where the OS gave no destination (no `recvPktinfo`; Windows,
 * for some traffic from the local machine), no control data is given, and the OS sends from
 * the socket's bound address, the best answer left.
 *
 * @example
 * ```ts
 * for await (const m of sock.messages()) await sendMsg(sock, { buffers: m.buffer, ...replyTo(m) });
 * ```
 */
export function replyTo(received: ReceivedMessage): ReplyTarget {
  validateObject(received, 'received');
  const from = received.from;
  validateObject(from, 'received.from');
  const to: SocketAddress = { address: from.address, family: from.family, port: from.port };
  const control = received.control;
  if (control === undefined || control === null) return { to };
  validateObject(control, 'received.control');
  const source = control.destinationAddress;
  if (source === undefined) return { to };
  if (typeof source !== 'string') throw invalidArgType('received.control.destinationAddress', 'of type string', source);
  const interfaceIndex = control.interfaceIndex;
  if (interfaceIndex === undefined) return { to, control: { sourceAddress: source } };
  validateInteger(interfaceIndex, 'received.control.interfaceIndex', 0, 0xffffffff);
  return { to, control: { sourceAddress: source, interfaceIndex } };
}

/**
 * Receives one datagram, with the address it was sent to when the socket was opened with
 * `recvPktinfo: true` (recvmsg with IP_PKTINFO / IPV6_PKTINFO on Linux). Receives on one
 * socket complete in the order they were made; `close()` fails waiting ones with
 * WSA_OPERATION_ABORTED.
 *
 * @example
 * ```ts
 * const m = await recvMsg(sock);
 * await sendMsg(sock, { buffers: m.buffer, to: m.from, control: { sourceAddress: m.control.destinationAddress } });
 * ```
 */
export function recvMsg(sock: Socket, options: RecvOptions = {}): Promise<ReceivedMessage> {
  if (!(sock instanceof Socket)) throw invalidArgType('socket', 'an instance of Socket (from openSocket)', sock);
  validateObject(options, 'options');
  validateKeys(options as Record<string, unknown>, 'options', RECV_KEYS);
  const size = options.bufferSize ?? 65536;
  validateInteger(size, 'options.bufferSize', 1, 1 << 20);
  const signal = options.signal;
  if (signal !== undefined) validateAbortSignal(signal, 'options.signal');
  const st = sock[kState];
  if (st.closed) return Promise.reject(new WsaError(WSA.ENOTSOCK, { syscall: 'recvmsg' }));
  if (signal?.aborted) return Promise.reject(new WsaError(WSA.OPERATION_ABORTED, { syscall: 'recvmsg' }));
  const buffer = Buffer.allocUnsafe(size);
  const token = nextToken++;
  const r = st.native.recv(buffer, token);
  if (Array.isArray(r)) return Promise.resolve(toMessage(buffer, r));
  if (r !== -2) return Promise.reject(lastError(st.native));
  return new Promise((resolve, reject) => {
    const entry: ReceivingEntry = {
      buffer,
      done: (err: WsaError | null, result: RawReceived | null) => (err ? reject(err) : resolve(toMessage(buffer, result!))),
    };
    // In the map first: a duck-typed signal may fire from inside addEventListener.
    st.receiving.set(token, entry);
    if (signal) {
      try {
        entry.link = listen(signal, () => {
          if (!st.receiving.has(token) || !st.native.cancelRecv(token)) return;
          st.receiving.delete(token);
          unlisten(entry.link);
          reject(new WsaError(WSA.OPERATION_ABORTED, { syscall: 'recvmsg' }));
          notifyIfDrained(st);
        });
      } catch (err) {
        // A signal whose addEventListener throws: the receive must not stay queued unseen.
        if (st.native.cancelRecv(token)) st.receiving.delete(token);
        notifyIfDrained(st);
        throw err;
      }
    }
  });
}

/**
 * The datagrams a socket receives, as an async iterator, one receive at a time (so the
 * kernel's buffer holds what the loop has not asked for yet: backpressure). It ends when
 * the socket is closed.
 *
 * @example
 * ```ts
 * for await (const m of messages(sock)) console.log(m.from, m.control.destinationAddress);
 * ```
 */
export async function* messages(sock: Socket, options: Omit<RecvOptions, 'signal'> = {}): AsyncGenerator<ReceivedMessage> {
  for (;;) {
    try {
      yield await recvMsg(sock, options);
    } catch (err) {
      if (err instanceof WsaError && (err.errno === WSA.OPERATION_ABORTED || err.errno === WSA.ENOTSOCK)) return;
      throw err;
    }
  }
}
