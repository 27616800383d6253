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

/** Details that locate an error; all optional. */
export interface WsaErrorDetails {
  /** What the OS said: errno on Linux, the Win32/NTSTATUS value on Windows. 0 or absent when the shim itself refused. */
  sysErrno?: number;
  /** The call that failed: `'sendmsg'` (Linux), `'WSASendMsg'` (Windows), `'bind'`, `'connect'`... */
  syscall?: string;
  /** Destination (or bind) address the failed call used, where known. */
  address?: string;
  /** Destination (or bind) port the failed call used, where known. */
  port?: number;
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

  constructor(wsa: number, details: WsaErrorDetails = {}) {
    const row = byNumber.get(wsa) ?? byNumber.get(WSA.SYSCALLFAILURE)!;
    const syscall = details.syscall || defaultSyscall;
    let where = '';
    if (details.address !== undefined) where = details.port !== undefined ? ` ${details.address}:${details.port}` : ` ${details.address}`;
    super(`${syscall} ${row[0]}: ${row[2]}${where}`);
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
  }
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
