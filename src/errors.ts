import { constants } from 'node:os';
import { WSA, WSA_TABLE, type WsaCode } from './wsa.generated';

export { WSA, type WsaCode };

const byNumber = new Map<number, readonly [WsaCode, number, string, boolean]>();
for (const row of WSA_TABLE) byNumber.set(row[1], row);

let defaultSyscall = 'sendmsg';
/** @internal The backend's name for a send, for errors the shim raises itself. */
export function setDefaultSyscall(name: string): void {
  defaultSyscall = name;
}

const errnoNames = new Map<number, string>();
for (const [name, num] of Object.entries(constants.errno)) {
  if (!errnoNames.has(num)) errnoNames.set(num, name);
}

/**
 * The earlier datagram an ICMP error is about ({@link WsaError.icmp}): the OS tells a later
 * call that some earlier datagram was refused, and this says which. Linux reads it from the
 * socket's error queue (`icmpErrors: true`); Windows does not say, so there it is absent.
 */
export interface IcmpReport {
  /** Destination address of the earlier datagram that the ICMP message answered. */
  address: string;
  /** Its destination port. */
  port: number;
  /** ICMP (or ICMPv6) type, e.g. 3 (destination unreachable) or 11 (time exceeded). */
  type: number;
  /** ICMP code, e.g. 3 (port unreachable). */
  code: number;
  /** Who sent the ICMP message (the refusing host or a router), where the OS says. */
  reporter?: string;
}

/** Details that locate an error; all optional. */
export interface WsaErrorDetails {
  /** What the OS said: errno on Linux, the Win32/NTSTATUS value on Windows. 0 or absent when the shim itself refused. */
  sysErrno?: number | undefined;
  /** The call that failed: `'sendmsg'` (Linux), `'WSASendMsg'` (Windows), `'bind'`, `'connect'`... */
  syscall?: string | undefined;
  /** Destination (or bind) address the failed call used, where known. */
  address?: string | undefined;
  /** Destination (or bind) port the failed call used, where known. */
  port?: number | undefined;
  /** The source address the failed send asked for (`control.sourceAddress`). */
  sourceAddress?: string | undefined;
  /** The earlier datagram an ICMP error is about. */
  icmp?: IcmpReport | undefined;
  /** Why, in words, when the shim knows more than the code says; added to the message. */
  reason?: string | undefined;
  /** A `segmentSize` send that failed: how many of its datagrams had been sent. */
  segmentsSent?: number | undefined;
}

/**
 * The one error type for OS-level failures, with the same `code` and `errno` on every
 * platform. `errno` is always the Winsock number (`WSAEMSGSIZE` is 10040 on Linux too);
 * `sysErrno` / `sysCode` keep what the OS itself said.
 *
 * @example
 * ```ts
 * try { sendMsgSync(sock, { buffers: big, to }); }
 * catch (err) { if (err instanceof WsaError && err.errno === WSA.EMSGSIZE) shrink(); }
 * ```
 */
export class WsaError extends Error {
  /** Full Winsock name, e.g. `'WSAEMSGSIZE'`, `'WSA_OPERATION_ABORTED'`. */
  readonly code: WsaCode;
  /** Winsock number on every OS, e.g. 10040. */
  readonly errno: number;
  /** The call that failed, e.g. `'sendmsg'`. */
  readonly syscall: string;
  /** What the OS said (errno on Linux); undefined when the shim refused by itself. */
  readonly sysErrno?: number;
  /** Name of `sysErrno`, e.g. `'EMSGSIZE'`. */
  readonly sysCode?: string;
  /** The destination (or bind) address of the failed call, where known. */
  readonly address?: string;
  /** Its port, where known. */
  readonly port?: number;
  /** The source address the failed send asked for, where it had one (`control.sourceAddress`). */
  readonly sourceAddress?: string;
  /**
   * Set when this error stands for an ICMP error that an EARLIER datagram caused (the OS
   * reports those on a later call): which destination refused, and how. `address`/`port`
   * stay the destination of the call that failed. Linux only (the error queue says);
   * absent on Windows, which does not tell.
   */
  readonly icmp?: IcmpReport;
  /**
   * Set on the failure of a send with `segmentSize`: how many of its datagrams had gone
   * before it failed. Offloaded (one kernel call), that is 0; sent as a batch of its segments
   * (no offload, or the kernel refused it), a failure part way leaves the first ones sent,
   * as a batch's `sent` says for its messages.
   */
  readonly segmentsSent?: number;

  constructor(wsa: number, details: WsaErrorDetails = {}) {
    const row = byNumber.get(wsa) ?? byNumber.get(WSA.SYSCALLFAILURE)!;
    const syscall = details.syscall || defaultSyscall;
    let where = '';
    if (details.address !== undefined) where = details.port !== undefined ? ` ${endpoint(details.address, details.port)}` : ` ${details.address}`;
    let why = details.reason ? ` (${details.reason})` : '';
    const icmp = details.icmp;
    if (icmp) why += ` (reported by ICMP for an earlier datagram to ${endpoint(icmp.address, icmp.port)}${icmp.reporter ? `, from ${icmp.reporter}` : ''})`;
    super(`${syscall} ${row[0]}: ${row[2]}${where}${why}`);
    this.name = 'WsaError';
    this.code = row[0];
    this.errno = row[1];
    this.syscall = syscall;
    if (details.sysErrno) {
      this.sysErrno = details.sysErrno;
      // Windows completions carry an NTSTATUS, shown the way Windows documents it.
      this.sysCode = details.sysErrno < 0
        ? `0x${(details.sysErrno >>> 0).toString(16).toUpperCase().padStart(8, '0')}`
        : errnoNames.get(details.sysErrno);
    }
    if (details.address !== undefined) this.address = details.address;
    if (details.port !== undefined) this.port = details.port;
    if (details.sourceAddress !== undefined) this.sourceAddress = details.sourceAddress;
    if (icmp) this.icmp = icmp;
    if (details.segmentsSent !== undefined) this.segmentsSent = details.segmentsSent;
  }
}

/** `address:port`, as Node's errors print it (IPv6 without brackets too). */
function endpoint(address: string, port: number): string {
  return `${address}:${port}`;
}

/** @internal The native layer's ICMP detail as an {@link IcmpReport}. */
export function icmpReport(raw: readonly [string, number, number, number, string] | null | undefined): IcmpReport | undefined {
  if (!raw) return undefined;
  const [address, port, type, code, reporter] = raw;
  return reporter ? { address, port, type, code, reporter } : { address, port, type, code };
}

/** Node-style argument error (`ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE`, `ERR_OUT_OF_RANGE`). */
export type ArgumentError = (TypeError | RangeError) & {
  /** `'ERR_INVALID_ARG_TYPE'`, `'ERR_INVALID_ARG_VALUE'` or `'ERR_OUT_OF_RANGE'`. */
  code: string;
};

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const ctor = (value as object).constructor?.name;
    return ctor ? `an instance of ${ctor}` : 'an object';
  }
  let shown = String(value);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  if (typeof value === 'string') shown = `'${shown}'`;
  return `type ${typeof value} (${shown})`;
}

/** @internal Gives err a Node-style `code` (shown as `Name [CODE]` in its stack). */
export function coded<T extends Error>(err: T, code: string): T & { code: string } {
  Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  // Node's shape: "TypeError [ERR_X]: ..." in stacks.
  err.name = `${err.name} [${code}]`;
  void err.stack;
  err.name = err.constructor.name;
  return err as T & { code: string };
}

export function invalidArgType(name: string, expected: string, actual: unknown): ArgumentError {
  return coded(new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`), 'ERR_INVALID_ARG_TYPE');
}

export function invalidArgValue(name: string, value: unknown, reason: string): ArgumentError {
  return coded(new TypeError(`The argument '${name}' ${reason}. Received ${describe(value)}`), 'ERR_INVALID_ARG_VALUE');
}

export function outOfRange(name: string, range: string, value: unknown): ArgumentError {
  return coded(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${describe(value)}`), 'ERR_OUT_OF_RANGE');
}
