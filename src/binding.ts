// Picks the backend: the native addon (a prebuild shipped in the package, or a local build by
// cmake-js), or the ffi-rs fallback that calls libc directly (Linux only, no compiler needed).
import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import { coded } from './errors';
import { loadFfiBinding } from './ffi/index';

/**
 * @internal What the OS said about the earlier datagram an ICMP error is about (Linux reads it
 * from MSG_ERRQUEUE): [its destination address, its destination port, ICMP type, ICMP code,
 * the address that sent the ICMP message ('' when unknown)]. null when the error did not come
 * from the error queue (Windows, or a connected socket without IP_RECVERR).
 */
export type RawIcmp = [string, number, number, number, string];

/**
 * @internal How a socket treats ICMP errors of earlier sends (openSocket's `icmpErrors`):
 * DEFAULT reports nothing on an unconnected socket and port unreachable (WSAECONNRESET) on a
 * connected one, as both OSes do by default; ON reports every ICMP error on later calls
 * (IP_RECVERR / SIO_UDP_CONNRESET + SIO_UDP_NETRESET); OFF reports none, connected or not.
 */
export const ICMP_DEFAULT = 0;
/** @internal */
export const ICMP_ON = 1;
/** @internal */
export const ICMP_OFF = 2;

/**
 * @internal A send that failed, returned by the call itself: [wsa, sysErrno, syscall, icmp,
 * sent, failedIndex]. `sent`: the messages (a batch) or segments (a split send) that went
 * before the failure; `failedIndex`: the message that failed (a batch).
 */
export type SendFailure = [number, number, string, RawIcmp | null, number, number];

/** @internal One message of a sendEach that failed: [index, wsa, sysErrno, syscall, icmp]. */
export type EachFailure = [number, number, number, string, RawIcmp | null];

/**
 * @internal The per-socket object both implementations provide: the TypeScript twin of the
 * boundary in native/shim.h and native/addon.cc. Sends see only plan records (native/plan.def,
 * written by src/plan.ts) and the payload views src/ read once: up to four views as direct
 * arguments, more as one array that src/ built.
 */
export interface NativeSocket {
  open(kind: number, protocol: number, ipv6Only: boolean, broadcast: boolean, nonBlocking: boolean,
    sendTimeoutMs: number, sendBufferSize: number, bind: Uint8Array | null,
    icmpErrors: number, ttl: number, dontFragment: boolean, recvPktinfo: boolean, reusePort: boolean,
    receiveOffload: boolean): boolean | number;
  recv(buffer: Uint8Array, token: number): [number, boolean, string, number, string | null, number, number] | number;
  /**
   * Up to `max` datagrams, each received into a slot of `slot` bytes the backend owns: a
   * RawBatch at once, -1 (failed: lastError) or -2 (pending: onreceive later with the RawBatch).
   */
  recvBatch(slot: number, max: number, token: number): RawBatch | number;
  cancelRecv(token: number): boolean;
  onreceive?: (token: number, result: [number, boolean, string, number, string | null, number, number] | RawBatch | null,
    wsa: number, sysErrno: number, syscall: string, icmp: RawIcmp | null) => void;
  /** One datagram as the socket's plan record (`plan`) says: bytes, or the failure. */
  sendSync(...views: ArrayBufferView[] | [ArrayBufferView[]]): number | SendFailure;
  /** The same, overlapped: bytes, SEND_PENDING (oncomplete later), or the failure. */
  sendAsync(token: number, ...views: ArrayBufferView[] | [ArrayBufferView[]]): number | SendFailure;
  /**
   * n messages: plan records 0..n-1 of `plans`, each taking its NBUFS views in turn from the
   * views that follow (direct arguments, or one array of them).
   */
  sendBatch(plans: Uint8Array, n: number, overlapped: boolean, token: number, ...views: ArrayBufferView[] | [ArrayBufferView[]]): number | SendFailure;
  /**
   * The sendMsg calls of one turn of the event loop (src/send.ts's coalescing): message i is
   * plan record i of `plans` with the payload staged[offsets[i], offsets[i + 1]), sent as the
   * overlapped send with token token0 + i. `results[i]` receives its bytes, SEND_PENDING
   * (oncomplete later, under its token) or SEND_FAILED; the failed ones are returned.
   */
  sendEach(plans: Uint8Array, n: number, staged: Uint8Array, offsets: Uint32Array, token0: number,
    results: Float64Array): EachFailure[] | null;
  /**
   * Cancels a parked send: how many of its datagrams (a batch: whole messages) went before
   * it was removed, or -1 if it was not there or (Windows) its completion will say.
   */
  cancel(token: number): number;
  /**
   * The next send call may carry 0-byte views: src/ found each of them truly empty (not
   * detached, not outside a shrunk buffer), which the addon cannot tell; without this it
   * refuses them with WSAEFAULT before any I/O. Taken by that call, used or not.
   */
  allowEmpty(): void;
  /** A plan record's destination fields. */
  connect(peer: Uint8Array): boolean | number;
  shutdownSend(): boolean | number;
  address(): [string, number, 4 | 6, number] | number;
  close(): void;
  /** The failure of the last open/connect/shutdownSend/address/recv that returned -1 or false. */
  lastError(): [number, number, string, RawIcmp | null];
  readonly pendingCount: number;
  readonly segmentationOffload: boolean;
  /** The whole TOS byte per datagram (Linux; Windows where a probe says the stack takes IP_TOS), else ECN only. */
  readonly perDatagramTos: boolean;
  /** Receives may hold several datagrams (receiveOffload asked for, and the OS took it). */
  readonly receiveOffload: boolean;
  readonly fd: number;
}

/**
 * A batch receive's datagrams, as native/addon.cc's BatchToJs lays them out: a buffer that
 * starts with RAW_BATCH_FIELDS int32 per datagram (bytes, truncated, index of the sender's
 * address string in this array, port, index of the destination's or -1, ifindex, tos,
 * segment size or 0), then their bytes in order; the count; then the address strings.
 */
export type RawBatch = [Uint8Array, number, ...string[]];
export const RAW_BATCH_FIELDS = 8;

/** @internal */
export interface Binding {
  NativeSocket: new (oncomplete: (token: number, bytes: number, wsa: number, sysErrno: number, syscall: string, count: number,
    icmp: RawIcmp | null) => void, plan: Uint8Array) => NativeSocket;
  /** if_nametoindex: an interface name to its index, 0 if there is none (the planner's %zone). */
  nameToIndex(name: string): number;
  errorTable(): Array<[string, number, string, boolean]>;
  liveCounts(): { sockets: number; pollHandles: number; queuedSends: number };
  /** posix: the struct sizes, offsets and constants the ffi-rs backend writes by hand. */
  abiLayout(): Record<string, number>;
  platform: 'posix' | 'win32';
  maxBuffers: number;
  maxBatch: number;
  /** Most segments one offloaded send carries (shim.h kMaxSegments): 64 on Linux, 512 on Windows. */
  maxOffloadSegments: number;
  /** 'sendmsg' or 'WSASendMsg': the call errors of a send name. */
  sendSyscall: string;
  /** Wine's version when running under Wine, else null. */
  wineVersion: string | null;
}

/** How the shim reaches the OS: the compiled addon, or libc through ffi-rs. */
export type Implementation = 'addon' | 'ffi';

/** @internal Return values of sendSync/sendAsync besides a byte count. */
export const SEND_FAILED = -1;
/** @internal */
export const SEND_PENDING = -2;

// The prebuilt-addon lookup (node-gyp-build's prebuilds/<platform>-<arch>/ layout), shared
// with the install script; a plain CommonJS file beside the package, loaded at run time.
const { findPrebuild, FROM_SOURCE_MARK } = require(join(__dirname, '..', 'scripts', 'find-prebuild.cjs')) as {
  findPrebuild(root: string): string | undefined;
  FROM_SOURCE_MARK: string;
};

let addon: Binding | Error | undefined;
/** @internal The addon file this process loaded (null: none loaded, or not tried yet). */
export let addonFile: string | null = null;

/**
 * @internal Where the addon is looked for, in order: SENDMSG_SHIM_ADDON alone when set (the
 * sanitizer build, tests); else the prebuild for this platform, then a local build
 * (build/Release, build/Debug) — except after a source build the user asked for
 * (scripts/install.mjs leaves build/from-source), which comes first.
 */
export function addonCandidates(root: string): string[] {
  const override = process.env.SENDMSG_SHIM_ADDON;
  if (override) return [override];
  const prebuild = findPrebuild(root);
  const local = [join(root, 'build', 'Release', 'sendmsg_shim.node'), join(root, 'build', 'Debug', 'sendmsg_shim.node')];
  if (!prebuild) return local;
  return existsSync(join(root, FROM_SOURCE_MARK)) ? [...local, prebuild] : [prebuild, ...local];
}

function loadAddon(): Binding {
  if (addon === undefined) {
    const root = join(__dirname, '..');
    const candidates = addonCandidates(root);
    let firstError: unknown;
    // A file that is there but does not load (wrong architecture, a missing host symbol, a
    // libc too old) is a different failure from no file at all, and says so.
    let present: [string, unknown] | undefined;
    for (const file of candidates) {
      try {
        addon = require(file) as Binding;
        addonFile = file;
        break;
      } catch (err) {
        firstError ??= err;
        if (!present && existsSync(file)) present = [file, err];
      }
    }
    const kind = (file: string) => (file.includes(`${sep}prebuilds${sep}`) ? 'prebuilt native addon' : 'native addon');
    if (!addon && present) {
      const reason = (present[1] as Error).message.split('\n')[0];
      addon = coded(new Error(`sendmsg-shim: the ${kind(present[0])} ${present[0]} is there but could not be loaded: ${reason}. ` +
        'Run "npm rebuild sendmsg-shim --build-from-source" to build one for this system (fetches cmake-js; needs cmake, a C++17 compiler and Node\'s headers).',
      { cause: present[1] }), 'ERR_SENDMSG_SHIM_NO_ADDON');
    }
    addon ??= coded(new Error(`sendmsg-shim: no prebuilt addon for ${process.platform}-${process.arch} and the native addon is not built ` +
      `(${candidates[0]}). Run "npm rebuild sendmsg-shim --build-from-source" (fetches cmake-js; needs cmake, a C++17 compiler and Node's headers).`,
    { cause: firstError }), 'ERR_SENDMSG_SHIM_NO_ADDON');
  }
  if (addon instanceof Error) throw addon;
  return addon;
}

let ffi: Binding | Error | undefined;
function loadFfi(): Binding {
  if (ffi === undefined) {
    try {
      if (process.platform !== 'linux') {
        throw coded(new Error(`sendmsg-shim: the ffi-rs backend runs on Linux only (this is ${process.platform})`), 'ERR_SENDMSG_SHIM_FFI_ABI');
      }
      let layout: Record<string, number> | null = null;
      try {
        layout = loadAddon().abiLayout();
      } catch {
        // No addon to compare with: the table of known targets decides alone.
      }
      ffi = loadFfiBinding(layout);
    } catch (err) {
      ffi = err as Error;
    }
  }
  if (ffi instanceof Error) throw ffi;
  return ffi;
}

/** @internal The binding of one implementation, loaded on first use. */
export function bindingFor(implementation: Implementation): Binding {
  return implementation === 'ffi' ? loadFfi() : loadAddon();
}

function choose(): [Implementation, Binding] {
  // SENDMSG_SHIM_IMPLEMENTATION=addon|ffi: this one and no other.
  const wanted = process.env.SENDMSG_SHIM_IMPLEMENTATION;
  if (wanted === 'addon' || wanted === 'ffi') return [wanted, bindingFor(wanted)];
  if (wanted !== undefined && wanted !== '') {
    throw coded(new TypeError(`sendmsg-shim: SENDMSG_SHIM_IMPLEMENTATION must be 'addon' or 'ffi', not '${wanted}'`), 'ERR_INVALID_ARG_VALUE');
  }
  try {
    return ['addon', loadAddon()];
  } catch (addonError) {
    let fallback: Binding;
    try {
      fallback = loadFfi();
    } catch (ffiError) {
      // Neither: the addon's error says how to fix it; the fallback's why it did not help.
      (addonError as Error).message += ` The ffi-rs fallback could not load either: ${(ffiError as Error).message}`;
      throw addonError;
    }
    const reason = (addonError as Error & { cause?: Error }).cause?.message.split('\n')[0] ?? (addonError as Error).message;
    process.emitWarning(`sendmsg-shim: the native addon could not be loaded (${reason}); using the ffi-rs backend ` +
      '(libc through ffi-rs; about a third of the addon\'s rate for single sends). Fix: npm rebuild sendmsg-shim --build-from-source (fetches cmake-js; needs cmake, a C++17 compiler and ' +
      "Node's headers), or set SENDMSG_SHIM_IMPLEMENTATION=ffi to choose ffi-rs and silence this warning.",
      { type: 'SendmsgShimWarning', code: 'SENDMSG_SHIM_FFI_FALLBACK' });
    return ['ffi', fallback];
  }
}

const chosen = choose();
/** @internal The default implementation of this process (sockets may pick another). */
export const implementation: Implementation = chosen[0];
/** @internal The default binding. */
export const binding: Binding = chosen[1];
