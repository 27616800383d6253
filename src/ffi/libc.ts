// libc through ffi-rs: the calls the backend makes, each with one reusable parameter
// block, and the memory they read and write. One instance per thread (a worker loads
// this module anew), so the arena and errno below belong to the calling thread.
import type * as FfiRs from 'ffi-rs';
import { coded } from '../errors';

function loadFfiRs(): typeof FfiRs {
  try {
    return require('ffi-rs') as typeof FfiRs;
  } catch (cause) {
    throw coded(new Error('sendmsg-shim: the ffi-rs backend needs the optional dependency ffi-rs ' +
      '(npm install ffi-rs@1.3.7; it ships binaries for Linux x64/arm64, glibc and musl)', { cause }), 'ERR_SENDMSG_SHIM_NO_FFI');
  }
}

// The process's own symbols: Node links libc, so dlopen(NULL) finds every call below.
// ffi-rs keeps opened libraries in one process-wide table by name: a name per thread keeps
// one thread's teardown away from another's handle.
const { threadId, isMainThread } = require('node:worker_threads') as typeof import('node:worker_threads');
const LIB = `sendmsg-shim:libc:${threadId}`;

type Arg = number;
type Call = (...args: Arg[]) => number;

function fn(ffi: typeof FfiRs, funcName: string, retType: FfiRs.DataType, paramsType: FfiRs.DataType[]): Call {
  const params = { library: LIB, funcName, retType, paramsType, paramsValue: [] as Arg[], freeResultMemory: false };
  return (...args: Arg[]) => {
    params.paramsValue = args;
    return ffi.load(params as never) as unknown as number;
  };
}

function calls(ffi: typeof FfiRs) {
  const T = ffi.DataType;
  // Pointers travel as 64-bit integers (user-space addresses fit a double exactly), so that
  // structures in the arena can point at each other and at payload bytes.
  const P = T.I64;
  return {
    socket: fn(ffi, 'socket', T.I32, [T.I32, T.I32, T.I32]),
    setsockopt: fn(ffi, 'setsockopt', T.I32, [T.I32, T.I32, T.I32, P, T.I32]),
    getsockopt: fn(ffi, 'getsockopt', T.I32, [T.I32, T.I32, T.I32, P, P]),
    bind: fn(ffi, 'bind', T.I32, [T.I32, P, T.I32]),
    connect: fn(ffi, 'connect', T.I32, [T.I32, P, T.I32]),
    shutdown: fn(ffi, 'shutdown', T.I32, [T.I32, T.I32]),
    getsockname: fn(ffi, 'getsockname', T.I32, [T.I32, P, P]),
    close: fn(ffi, 'close', T.I32, [T.I32]),
    sendmsg: fn(ffi, 'sendmsg', T.I64, [T.I32, P, T.I32]),
    sendmmsg: fn(ffi, 'sendmmsg', T.I32, [T.I32, P, T.I32, T.I32]),
    recvmsg: fn(ffi, 'recvmsg', T.I64, [T.I32, P, T.I32]),
    recvmmsg: fn(ffi, 'recvmmsg', T.I32, [T.I32, P, T.U32, T.I32, P]),
    poll: fn(ffi, 'poll', T.I32, [P, T.I64, T.I32]),
    if_nametoindex: fn(ffi, 'if_nametoindex', T.U32, [P]),
    eventfd: fn(ffi, 'eventfd', T.I32, [T.I32, T.I32]),
    read: fn(ffi, 'read', T.I64, [T.I32, P, T.I64]),
    write: fn(ffi, 'write', T.I64, [T.I32, P, T.I64]),
    dlsym: fn(ffi, 'dlsym', P, [P, P]),
    pthread_key_create: fn(ffi, 'pthread_key_create', T.I32, [P, P]),
    pthread_key_delete: fn(ffi, 'pthread_key_delete', T.I32, [T.U32]),
    pthread_setspecific: fn(ffi, 'pthread_setspecific', T.I32, [T.U32, P]),
    /** poll(2) on a libuv threadpool thread: resolves with its result on this thread's loop. */
    pollOffThread: (() => {
      const params = { library: LIB, funcName: 'poll', retType: T.I32, paramsType: [P, T.I64, T.I32], paramsValue: [] as Arg[],
        freeResultMemory: false, runInNewThread: true };
      return (fds: number, n: number, timeoutMs: number): Promise<number> => {
        params.paramsValue = [fds, n, timeoutMs];
        return ffi.load(params as never) as unknown as Promise<number>;
      };
    })(),
  };
}

/**
 * @internal What the arena is made of: one malloc per thread, never moved. Large enough for
 * a batch receive of 64 slots of 64 KiB (recvMsgBatch's defaults); malloc maps it lazily, so
 * only the pages a call touches cost memory.
 */
export const ARENA_SIZE = 8 << 20;

function allocate(ffi: typeof FfiRs): { base: number; bytes: Buffer; errno: Int32Array; free: () => void } {
  const T = ffi.DataType;
  const params = { library: LIB, paramsValue: [] as unknown[], freeResultMemory: false };
  const mem = ffi.load({ ...params, funcName: 'malloc', retType: T.External, paramsType: [T.I64], paramsValue: [ARENA_SIZE] });
  if (ffi.isNullPointer(mem)) throw new Error('sendmsg-shim: malloc failed');
  // memcpy(p, p, 0) returns p: its address as a number.
  const base = ffi.load({ ...params, funcName: 'memcpy', retType: T.I64, paramsType: [T.External, T.External, T.I64], paramsValue: [mem, mem, 0] }) as unknown as number;
  const errnoAt = ffi.load({ ...params, funcName: '__errno_location', retType: T.External, paramsType: [] });
  const errnoBytes = ffi.createExternalBuffer(errnoAt, 4);
  return {
    base,
    bytes: ffi.createExternalBuffer(mem, ARENA_SIZE),
    errno: new Int32Array(errnoBytes.buffer, errnoBytes.byteOffset, 1),
    free: () => ffi.load({ ...params, funcName: 'free', retType: T.Void, paramsType: [T.External], paramsValue: [mem] }),
  };
}

// Set by init(); the backend is loaded only when chosen, and only after its ABI check.
/** @internal */
export let libc: ReturnType<typeof calls>;
/** @internal The arena's address, for pointers written into it. */
export let base = 0;
/** @internal The arena's bytes (zero-copy over the malloc'd memory). */
export let mem: Buffer;
/** @internal */
export let view: DataView;
/** @internal Frees the arena; nothing may use it afterwards (thread exit only). */
export let freeArena: () => void;
let errnoCell: Int32Array;
// close(2)'s address, as a thread-specific data destructor (see guardFd); 0 on the main thread.
let closeAt = 0;

/**
 * ffi-rs crashes the process when a worker thread that loaded it ends while no other
 * thread has it loaded (Node unloads the addon with its last environment, under threads
 * ffi-rs left running). Loading its binary once more with RTLD_NODELETE keeps it mapped
 * for the life of the process. Best effort: without dlopen or the file, nothing changes.
 */
function pinFfiRs(ffi: typeof FfiRs): void {
  const file = Object.keys(require.cache).find((f) => /ffi-rs[^/]*\.node$/.test(f));
  if (!file) return;
  const RTLD_LAZY = 0x1;
  const RTLD_NODELETE = 0x1000;  // glibc and musl
  ffi.load({ library: LIB, funcName: 'dlopen', retType: ffi.DataType.I64, paramsType: [ffi.DataType.String, ffi.DataType.I32],
    paramsValue: [file, RTLD_LAZY | RTLD_NODELETE], freeResultMemory: false });
}

/** @internal Loads ffi-rs, opens libc and allocates this thread's arena. */
export function init(): void {
  if (libc) return;
  const ffi = loadFfiRs();
  ffi.open({ library: LIB, path: '' });
  pinFfiRs(ffi);
  const arena = allocate(ffi);
  libc = calls(ffi);
  base = arena.base;
  mem = arena.bytes;
  view = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  freeArena = arena.free;
  errnoCell = arena.errno;
  if (!isMainThread) {
    const at = ARENA_SIZE - 128;
    mem.write('close\0', at, 'latin1');
    closeAt = libc.dlsym(0, base + at);  // RTLD_DEFAULT is 0 on glibc and musl
  }
}

/** @internal errno of this thread, as the last failed call left it. */
export function errno(): number {
  return errnoCell[0];
}

/**
 * @internal Makes fd close when this thread ends, however it ends: worker.terminate() stops
 * JavaScript at an arbitrary point and runs no 'exit' listener, but the OS thread still
 * exits, and its thread-specific data destructors run then. One key per fd, with close(2) as
 * the destructor and the fd as the value (a void * argument and an int parameter travel in
 * the same register on x86-64 and arm64; a NULL value, fd 0, is never destroyed). Returns the
 * key for unguardFd, or -1: the main thread (its fds end with the process), or no key left
 * (PTHREAD_KEYS_MAX, 1024 on glibc, 128 on musl: then only terminate() leaks that fd).
 */
export function guardFd(fd: number): number {
  if (!closeAt || fd <= 0) return -1;
  const at = ARENA_SIZE - 128;
  if (libc.pthread_key_create(base + at, closeAt) !== 0) return -1;
  const key = view.getUint32(at, true);
  if (libc.pthread_setspecific(key, fd) !== 0) {
    libc.pthread_key_delete(key);
    return -1;
  }
  return key;
}

/** @internal Before fd is closed (its number may be reused at once): the thread's end must not close it. */
export function unguardFd(key: number): void {
  // A deleted key's destructor is not called (POSIX), whatever value it held.
  if (key >= 0) libc.pthread_key_delete(key);
}

/** @internal if_nametoindex(name); 0 when no interface has that name. */
export function nameToIndex(name: string): number {
  const at = ARENA_SIZE - 64;
  const n = mem.write(name, at, 63, 'utf8');
  if (n !== Buffer.byteLength(name)) return 0;
  mem[at + n] = 0;
  return libc.if_nametoindex(base + at);
}
