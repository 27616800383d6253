// Loads the native addon built by cmake-js (npm install runs it).
import { join } from 'node:path';

/** @internal The addon's per-socket object; see native/addon.cc for the argument order. */
export interface NativeSocket {
  open(kind: number, protocol: number, ipv6Only: boolean, broadcast: boolean, nonBlocking: boolean,
    sendTimeoutMs: number, sendBufferSize: number, bindAddress: string | null, bindPort: number,
    icmpErrors: boolean, ttl: number, dontFragment: boolean, recvPktinfo: boolean): boolean | number;
  recv(buffer: Uint8Array, token: number): [number, boolean, string, number, string | null, number, number] | number;
  cancelRecv(token: number): boolean;
  onreceive?: (token: number, result: [number, boolean, string, number, string | null, number, number] | null,
    wsa: number, sysErrno: number, syscall: string) => void;
  sendSync(buffers: ArrayBufferView | readonly ArrayBufferView[], toAddress: string | null, toPort: number,
    source: string | null, ifindex: number, flags: number, tos: number, segmentSize: number): number;
  sendAsync(buffers: ArrayBufferView | readonly ArrayBufferView[], toAddress: string | null, toPort: number,
    source: string | null, ifindex: number, flags: number, tos: number, segmentSize: number, token: number): number;
  sendBatch(flat: readonly unknown[], n: number, overlapped: boolean, token: number): number;
  lastBatch(): [number, number];
  cancel(token: number): boolean;
  connect(address: string, port: number): boolean | number;
  shutdownSend(): boolean | number;
  address(): [string, number, 4 | 6, number] | number;
  close(): void;
  lastError(): [number, number, string];
  readonly pendingCount: number;
  readonly segmentationOffload: boolean;
  readonly fd: number;
}

/** @internal */
export interface Binding {
  NativeSocket: new (oncomplete: (token: number, bytes: number, wsa: number, sysErrno: number, syscall: string, count: number) => void) => NativeSocket;
  errorTable(): Array<[string, number, string, boolean]>;
  liveCounts(): { sockets: number; pollHandles: number; queuedSends: number };
  platform: 'posix' | 'win32';
  maxBuffers: number;
  maxBatch: number;
  /** 'sendmsg' or 'WSASendMsg': the call errors of a send name. */
  sendSyscall: string;
  /** Wine's version when running under Wine, else null. */
  wineVersion: string | null;
}

/** @internal Return values of sendSync/sendAsync besides a byte count. */
export const SEND_FAILED = -1;
/** @internal */
export const SEND_PENDING = -2;

function load(): Binding {
  const root = join(__dirname, '..');
  // SENDMSG_SHIM_ADDON: another build of the addon (the sanitizer build uses it).
  const override = process.env.SENDMSG_SHIM_ADDON;
  const candidates = override ? [override] : [join(root, 'build', 'Release', 'sendmsg_shim.node'), join(root, 'build', 'Debug', 'sendmsg_shim.node')];
  let firstError: unknown;
  for (const file of candidates) {
    try {
      return require(file) as Binding;
    } catch (err) {
      firstError ??= err;
    }
  }
  const err = new Error(
    `sendmsg-shim: the native addon is not built (${candidates[0]}). Run "npm rebuild sendmsg-shim" ` +
      '(needs cmake, a C++17 compiler and Node\'s headers).',
    { cause: firstError },
  );
  (err as Error & { code: string }).code = 'ERR_SENDMSG_SHIM_NO_ADDON';
  throw err;
}

/** @internal */
export const binding: Binding = load();
