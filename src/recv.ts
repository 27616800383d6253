import { isIP } from 'node:net';
import { RAW_BATCH_FIELDS, type RawBatch } from './binding';
import { WSA, WsaError, invalidArgType, outOfRange } from './errors';
import {
  Socket, kState, lastError, listen, notifyIfDrained, unlisten, type RawReceived, type ReceivingEntry, type SocketAddress,
  type SocketState,
} from './socket';
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

/** Options of {@link recvMsgBatch}. */
export interface RecvBatchOptions extends RecvOptions {
  /** Most datagrams one call returns: 1 to 1024, default 64. */
  maxMessages?: number | undefined;
}

/** Options of {@link messages}: the batches it receives underneath. */
export interface MessagesOptions {
  /** Room for each datagram (see {@link RecvOptions.bufferSize}). */
  bufferSize?: number | undefined;
  /** Most datagrams per receive underneath (see {@link RecvBatchOptions.maxMessages}). */
  maxMessages?: number | undefined;
}

const RECV_KEYS = new Set(['bufferSize', 'signal']);
const BATCH_KEYS = new Set(['bufferSize', 'signal', 'maxMessages']);
const MESSAGES_KEYS = new Set(['bufferSize', 'maxMessages']);
const DEFAULT_BUFFER = 65536;
const DEFAULT_BATCH = 64;
const MAX_BATCH = 1024;
/** A batch's slots are the backend's memory, kept by the socket: bounded. */
const MAX_BATCH_MEMORY = 64 << 20;
/** With receive offload a slot must hold a whole coalesced receive (at most 64 KiB). */
const OFFLOAD_SLOT = 65536;
let nextToken = 1;

/**
 * Node's own Buffer constructor (FastBuffer, which Buffer gives as its species), taken at
 * load: a view made with it is a Buffer in every respect, its prototype Buffer.prototype
 * itself (assert.deepStrictEqual compares prototypes), for a third of what
 * `buffer.subarray()` costs (~25 ns against ~80 on Node 20: subarray looks the species up
 * on every call), and a batch makes one per datagram. Where the species is not that
 * constructor (a runtime or a caller that changed it first), Buffer.from makes the same view.
 */
type ViewMaker = new (memory: ArrayBuffer, offset: number, length: number) => Buffer;
const FastBuffer: ViewMaker | null = (() => {
  const species = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species];
  if (typeof species !== 'function') return null;
  try {
    const probe = new (species as ViewMaker)(new ArrayBuffer(2), 1, 1);
    return Object.getPrototypeOf(probe) === Buffer.prototype && probe.byteOffset === 1 && probe.length === 1 ? (species as ViewMaker) : null;
  } catch {
    return null;
  }
})();

function view(memory: ArrayBuffer, offset: number, length: number): Buffer {
  return FastBuffer !== null ? new FastBuffer(memory, offset, length) : Buffer.from(memory, offset, length);
}

function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function toMessage(buffer: Buffer, r: RawReceived): ReceivedMessage {
  const [bytes, truncated, address, port, destination, ifindex, tos] = r;
  const control: ReceivedControl = {};
  if (destination !== null) {
    control.destinationAddress = unmapped(destination);
    control.interfaceIndex = ifindex;
  }
  if (tos >= 0) control.tos = tos;
  return {
    buffer: view(buffer.buffer as ArrayBuffer, buffer.byteOffset, bytes),
    bytes,
    truncated,
    from: { address, family: isIP(address) === 6 ? 'IPv6' : 'IPv4', port },
    control,
  };
}

/**
 * A RawBatch's datagrams as messages, appended to `out`. A coalesced receive (segment > 0)
 * becomes its datagrams, each a view of the one buffer, whole: which call a datagram goes
 * to, and so how much room it has, is decided after (take, cut).
 */
function decodeBatch(raw: RawBatch, out: ReceivedMessage[]): void {
  const data = raw[0];
  const n = raw[1];
  const memory = data.buffer as ArrayBuffer;
  const base = data.byteOffset;
  const table = new Int32Array(memory, base, n * RAW_BATCH_FIELDS);
  // Per address string of the batch (the addon sends each once): its family, and the
  // destination without its v4-mapped prefix, worked out once rather than per datagram.
  const families: Array<'IPv4' | 'IPv6' | undefined> = [];
  const destinations: Array<string | undefined> = [];
  let at = n * RAW_BATCH_FIELDS * 4;
  for (let i = 0, f = 0; i < n; i++, f += RAW_BATCH_FIELDS) {
    const bytes = table[f]!;
    const fromAt = table[f + 2]!;
    const address = raw[fromAt] as string;
    const family = families[fromAt] ?? (families[fromAt] = isIP(address) === 6 ? 'IPv6' : 'IPv4');
    const port = table[f + 3]!;
    const destAt = table[f + 4]!;
    const destination = destAt >= 0 ? destinations[destAt] ?? (destinations[destAt] = unmapped(raw[destAt] as string)) : undefined;
    const ifindex = table[f + 5]! >>> 0;
    const tos = table[f + 6]!;
    const segment = table[f + 7]! > 0 ? table[f + 7]! : bytes;
    const truncated = table[f + 1] === 1;
    const end = at + bytes;
    // A plain datagram is one segment of its own length (a zero-length one too).
    for (let off = at; off < end || off === at; off += segment) {
      const len = Math.min(segment, end - off);
      const control: ReceivedControl = {};
      if (destination !== undefined) {
        control.destinationAddress = destination;
        control.interfaceIndex = ifindex;
      }
      if (tos >= 0) control.tos = tos;
      out.push({
        buffer: view(memory, base + off, len),
        bytes: len,
        truncated: truncated && off + segment >= end,
        from: { address, family, port },
        control,
      });
      if (segment === 0) break;
    }
    at = end;
  }
}

/**
 * A datagram as a receive with room for `size` bytes gets it: cut to it and flagged, as the
 * kernel cuts a datagram longer than the buffer. Only a datagram that reached the receive
 * through st.leftover (a coalesced receive's rest, a loop's rest) can be longer: it was
 * received for another call, with room for a whole coalesced receive.
 */
function cut(m: ReceivedMessage, size: number): ReceivedMessage {
  if (m.bytes <= size) return m;
  return { ...m, buffer: view(m.buffer.buffer as ArrayBuffer, m.buffer.byteOffset, size), bytes: size, truncated: true };
}

/** The first `max` datagrams of st.leftover, for a call with room for `size` bytes each. */
function fromLeftover(st: SocketState, size: number, max: number): ReceivedMessage[] {
  return st.leftover.splice(0, max).map((m) => cut(m, size));
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

interface Validated {
  st: SocketState;
  size: number;
  signal: AbortSignal | undefined;
}

function validateReceive(sock: Socket, options: RecvBatchOptions, keys: Set<string>): Validated {
  if (!(sock instanceof Socket)) throw invalidArgType('socket', 'an instance of Socket (from openSocket)', sock);
  validateObject(options, 'options');
  validateKeys(options as Record<string, unknown>, 'options', keys);
  const size = options.bufferSize ?? DEFAULT_BUFFER;
  validateInteger(size, 'options.bufferSize', 1, 1 << 20);
  const signal = options.signal;
  if (signal !== undefined) validateAbortSignal(signal, 'options.signal');
  return { st: sock[kState], size, signal };
}

function validateMaxMessages(value: unknown, size: number): number {
  const max = value ?? DEFAULT_BATCH;
  validateInteger(max, 'options.maxMessages', 1, MAX_BATCH);
  if ((max as number) * size > MAX_BATCH_MEMORY) {
    throw outOfRange('options.maxMessages', `<= ${Math.floor(MAX_BATCH_MEMORY / size)} with a bufferSize of ${size} (64 MiB of slots)`, max);
  }
  return max as number;
}

/**
 * Queues a receive the backend could not complete at once: settles through onreceive
 * (src/socket.ts), or fails with WSA_OPERATION_ABORTED when its signal fires first.
 */
function wait<T>(st: SocketState, token: number, buffer: Uint8Array | null, signal: AbortSignal | undefined, syscall: string,
  settle: (result: RawReceived | RawBatch) => T, serve: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const entry: ReceivingEntry = {
      buffer,
      done: (err, result) => {
        // Taken back by serveLeftover on Windows (a cancelled WSARecvMsg): its completion
        // says WSA_OPERATION_ABORTED, which nobody asked for. Served from the leftover
        // instead; still a failure if the caller aborted it too, or closed the socket.
        if (err && entry.reclaiming && err.errno === WSA.OPERATION_ABORTED && !entry.link?.fired && !st.closed &&
            st.leftover.length !== 0) resolve(serve());
        else if (err) reject(err);
        else resolve(settle(result!));
        serveLeftover(st);
      },
      serve: () => resolve(serve()),
    };
    // In the map first: a duck-typed signal may fire from inside addEventListener.
    st.receiving.set(token, entry);
    if (signal) {
      try {
        entry.link = listen(signal, () => {
          if (!st.receiving.has(token) || !st.native.cancelRecv(token)) return;
          st.receiving.delete(token);
          unlisten(entry.link);
          reject(new WsaError(WSA.OPERATION_ABORTED, { syscall }));
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
 * Datagrams a completion brought beyond what its call takes, and the rest of a batch a
 * messages() loop left, wait in st.leftover; receives queued behind them would otherwise
 * wait for the network while they sit there. Each one the backend can take back
 * (cancelRecv) is served from them instead, in call order. One it cannot take back now
 * stops the rest (order: none may overtake it): on Linux it is completing in this very
 * wake and takes from the leftover first (take, settleOne); on Windows cancelRecv cancels
 * the WSARecvMsg in flight and answers false, and the cancelled completion, when it comes,
 * serves it (wait's `reclaiming`).
 */
function serveLeftover(st: SocketState): void {
  for (const [token, entry] of st.receiving) {
    if (st.leftover.length === 0 || entry.reclaiming) return;
    if (!st.native.cancelRecv(token)) {
      entry.reclaiming = true;
      return;
    }
    st.receiving.delete(token);
    unlisten(entry.link);
    entry.serve();
  }
}

/**
 * The first `max` of the leftover and the batch's own datagrams, with room for `size` bytes
 * each; the rest stays leftover, whole, for the calls it goes to.
 */
function take(st: SocketState, raw: RawBatch, size: number, max: number): ReceivedMessage[] {
  const got = st.leftover;
  st.leftover = [];
  decodeBatch(raw, got);
  // Only a coalesced receive (or leftovers) can bring more than asked for.
  if (got.length > max) st.leftover = got.splice(max);
  for (let i = 0; i < got.length; i++) got[i] = cut(got[i]!, size);
  return got;
}

/**
 * A single receive's datagram: behind the leftover, if there is one (it came from the
 * network after them), and the caller gets the leftover's first instead.
 */
function settleOne(st: SocketState, m: ReceivedMessage, size: number): ReceivedMessage {
  if (st.leftover.length === 0) return m;
  st.leftover.push(m);
  return cut(st.leftover.shift()!, size);
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
  const { st, size, signal } = validateReceive(sock, options, RECV_KEYS);
  if (st.closed) return Promise.reject(new WsaError(WSA.ENOTSOCK, { syscall: 'recvmsg' }));
  if (signal?.aborted) return Promise.reject(new WsaError(WSA.OPERATION_ABORTED, { syscall: 'recvmsg' }));
  if (st.leftover.length !== 0 && st.receiving.size === 0) return Promise.resolve(cut(st.leftover.shift()!, size));
  const token = nextToken++;
  const serve = () => cut(st.leftover.shift()!, size);
  if (st.receiveOffload) {
    // A receive may hold several datagrams: through the batch path, keeping the rest.
    const r = st.native.recvBatch(Math.max(size, OFFLOAD_SLOT), 1, token);
    if (Array.isArray(r)) return Promise.resolve(take(st, r as RawBatch, size, 1)[0]!);
    if (r !== -2) return Promise.reject(lastError(st.native));
    return wait(st, token, null, signal, 'recvmsg', (result) => take(st, result as RawBatch, size, 1)[0]!, serve);
  }
  const buffer = Buffer.allocUnsafe(size);
  const r = st.native.recv(buffer, token);
  if (Array.isArray(r)) return Promise.resolve(toMessage(buffer, r));
  if (r !== -2) return Promise.reject(lastError(st.native));
  return wait(st, token, buffer, signal, 'recvmsg', (result) => settleOne(st, toMessage(buffer, result as RawReceived), size), serve);
}

/**
 * Waits until at least one datagram is there, then returns every datagram available, up to
 * `maxMessages` (default 64), in one system call where the OS has one: recvmmsg on Linux
 * (also on ffi-rs), consecutive WSARecvMsg calls while more are queued on Windows. Each is
 * the same object {@link recvMsg} returns; datagrams from several senders keep their own
 * `from` and `control`. The bytes of one batch are copied into one new buffer (the slots
 * they were received into are the socket's, reused by the next batch), so a message keeps
 * only its own bytes alive. The socket keeps `maxMessages` x `bufferSize` bytes of slots
 * (at most 64 MiB), 4 MiB at the defaults: ask for a smaller `bufferSize` when the protocol
 * bounds its datagrams (DNS, QUIC: 1500). Receives complete in the order they were made,
 * single and batch alike.
 *
 * @example
 * ```ts
 * for (const m of await recvMsgBatch(sock, { maxMessages: 32, bufferSize: 1500 })) {
 *   await sendMsg(sock, { buffers: m.buffer, ...replyTo(m) });
 * }
 * ```
 */
export function recvMsgBatch(sock: Socket, options: RecvBatchOptions = {}): Promise<ReceivedMessage[]> {
  const { st, size, signal } = validateReceive(sock, options, BATCH_KEYS);
  const max = validateMaxMessages(options.maxMessages, size);
  if (st.closed) return Promise.reject(new WsaError(WSA.ENOTSOCK, { syscall: 'recvmmsg' }));
  if (signal?.aborted) return Promise.reject(new WsaError(WSA.OPERATION_ABORTED, { syscall: 'recvmmsg' }));
  if (st.leftover.length !== 0 && st.receiving.size === 0) return Promise.resolve(fromLeftover(st, size, max));
  const slot = st.receiveOffload ? Math.max(size, OFFLOAD_SLOT) : size;
  const token = nextToken++;
  const r = st.native.recvBatch(slot, Math.min(max, Math.floor(MAX_BATCH_MEMORY / slot)), token);
  if (Array.isArray(r)) return Promise.resolve(take(st, r as RawBatch, size, max));
  if (r !== -2) return Promise.reject(lastError(st.native));
  return wait(st, token, null, signal, 'recvmmsg', (result) => take(st, result as RawBatch, size, max), () => fromLeftover(st, size, max));
}

/**
 * The datagrams a socket receives, as an async iterator. Underneath it receives a batch at a
 * time ({@link recvMsgBatch}) and asks for the next only when the loop has taken the last
 * one, so the kernel's buffer holds what the loop has not asked for yet: backpressure, with
 * at most one batch in hand. Leaving the loop early keeps the rest of that batch for the
 * socket's next receive; nothing received is dropped. It ends when the socket is closed.
 *
 * @example
 * ```ts
 * for await (const m of messages(sock)) console.log(m.from, m.control.destinationAddress);
 * ```
 */
export function messages(sock: Socket, options: MessagesOptions = {}): AsyncGenerator<ReceivedMessage> {
  const { size } = validateReceive(sock, options, MESSAGES_KEYS);
  const max = validateMaxMessages(options.maxMessages, size);
  return iterate(sock, { bufferSize: size, maxMessages: max });
}

async function* iterate(sock: Socket, options: RecvBatchOptions): AsyncGenerator<ReceivedMessage> {
  const st = sock[kState];
  for (;;) {
    let batch: ReceivedMessage[];
    try {
      batch = await recvMsgBatch(sock, options);
    } catch (err) {
      if (err instanceof WsaError && (err.errno === WSA.OPERATION_ABORTED || err.errno === WSA.ENOTSOCK)) return;
      throw err;
    }
    let i = 0;
    try {
      // Closed (from the loop's body, say): the loop ends here, as it did when each
      // iteration was a receive, rather than yield the rest of a batch of a closed socket.
      while (i < batch.length && !st.closed) yield batch[i++]!;
      if (st.closed) return;
    } finally {
      // Left early (break, return, throw): what the loop never saw is the socket's again,
      // and receives already waiting get it now rather than wait for the network.
      if (i < batch.length && !st.closed) {
        st.leftover = batch.slice(i).concat(st.leftover);
        serveLeftover(st);
      }
    }
  }
}
