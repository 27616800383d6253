// libc through ffi-rs: the calls the backend makes, each with one reusable parameter
// block, and the memory they read and write. One instance per thread (a worker loads
// this module anew), so the arena and errno below belong to the calling thread.
import type * as FfiRs from 'ffi-rs';
import { coded } from '../errors';
import { I32, SafeDataView, taBuffer, taByteLength, taByteOffset, taFill, tamperedArrays } from '../intrinsics';

function loadFfiRs(): typeof FfiRs {
  try {
    return require('ffi-rs') as typeof FfiRs;
  } catch (cause) {
    throw coded(new Error('sendmsg-shim: the ffi-rs backend needs the optional dependency ffi-rs ' +
      '(npm install ffi-rs@1.3.7; it ships binaries for Linux x64/arm64, glibc and musl)', { cause }), 'ERR_SENDMSG_SHIM_NO_FFI');
  }
}

// The process's own symbols: Node links libc, so dlopen(NULL) finds every call below.
//
// ffi-rs 1.3.x keeps its table of opened libraries, and in each library the symbols looked
// up so far, in one process-wide HashMap with no lock (`static mut LIBRARY_MAP`, src/lib.rs):
// every load() looks the library and the function up in it, and open() and the first call of
// a function insert into it. One thread inserting while another looks up reads a table being
// rehashed: SIGSEGV inside load(), or "Before calling load, you need to open the file ...".
// Measured with test/netns/ffi-worker-fds.cjs (26 workers starting at once, each opening its
// own library name, as this file did until then): 6 crashes in 20 runs, and 3 in a row in CI.
// So every thread shares one library name, and the first one opens it and calls every
// function once (warm(), below) under a lock that threads created afterwards share; after
// that the table is only read.
const { isMainThread, getEnvironmentData, setEnvironmentData } =
  require('node:worker_threads') as typeof import('node:worker_threads');
const LIB = 'sendmsg-shim:libc';

/**
 * The lock, and whether the table is warm: [0] 0 free, else its holder's ticket; [1] 1 once
 * warm; [2] the last ticket handed out. Shared through worker environment data, which a new
 * worker inherits from the thread creating it, so it reaches every worker created after this
 * module loaded in an ancestor thread. Two threads with no common ancestor that loaded the
 * shim (workers started by a main thread that never loaded it) have a lock each: their first
 * initialisations can still collide, which is why docs/implementations.md says to load
 * sendmsg-shim before starting workers.
 */
const TABLE_KEY = 'sendmsg-shim:ffi-rs-table';
const TABLE_BYTES = 12;
function tableState(): Int32Array {
  let shared = getEnvironmentData(TABLE_KEY);
  if (!(shared instanceof SharedArrayBuffer) || shared.byteLength < TABLE_BYTES) {
    shared = new SharedArrayBuffer(TABLE_BYTES);
    setEnvironmentData(TABLE_KEY, shared);
  }
  return new Int32Array(shared as SharedArrayBuffer, 0, TABLE_BYTES / 4);
}
const table = tableState();

/**
 * A holder has 2 s: initialisation takes milliseconds, and a worker terminated while holding
 * the lock never releases it (termination runs no `finally`). A waiter that has seen the same
 * ticket hold it that long takes it over, by compare-and-swap, so only one waiter can; and a
 * holder releases only its own ticket, so one taken over is not released under the new holder.
 */
const LOCK_PATIENCE_MS = 2000;

function withTableLock<T>(run: () => T): T {
  const mine = (Atomics.add(table, 2, 1) & 0x3fffffff) + 1;  // never 0
  let seen = 0;
  let since = 0;
  for (;;) {
    const holder = Atomics.compareExchange(table, 0, 0, mine);
    if (holder === 0) break;
    const now = performance.now();
    if (holder !== seen) {
      seen = holder;
      since = now;
    } else if (now - since >= LOCK_PATIENCE_MS && Atomics.compareExchange(table, 0, holder, mine) === holder) {
      break;
    }
    Atomics.wait(table, 0, holder, 50);
  }
  try {
    return run();
  } finally {
    if (Atomics.compareExchange(table, 0, mine, 0) === mine) Atomics.notify(table, 0);
  }
}

type Arg = number;
type Call = (...args: Arg[]) => number;

/**
 * errno for a call the shim would not make (tamperedArrays): ENOTRECOVERABLE, which no libc
 * call here returns, so it surfaces as WSASYSCALLFAILURE and nothing was sent or received.
 */
export const ENOTRECOVERABLE = 131;

function refused(): number {
  errnoCell[0] = ENOTRECOVERABLE;
  return -1;
}

// No prototype: ffi-rs reads options it may find missing (errno, runInNewThread, ...), and
// a caller's getter on Object.prototype must not answer for them.
function fn(ffi: typeof FfiRs, funcName: string, retType: FfiRs.DataType, paramsType: FfiRs.DataType[]): Call {
  const params = { __proto__: null, library: LIB, funcName, retType, paramsType, paramsValue: [] as Arg[], freeResultMemory: false };
  return (...args: Arg[]) => {
    if (tamperedArrays() !== null) return refused();
    if (closesLater.n !== 0) closeNow();
    params.paramsValue = args;
    return ffi.load(params as never) as unknown as number;
  };
}

// A socket closed while the builtins were replaced: its close(2) would be refused like every
// call, and the fd kept for good (third review). Its fd and the key that guards it are kept
// instead, both as they are (were the thread to end first, the key's destructor closes the
// fd, which is still ours), and released by the next call made once the builtins are back:
// the key deleted first, then the fd closed (a key left behind would close a reused fd
// number at thread exit). No array: nothing of the caller's sees them.
const closesLater: { n: number; [i: number]: number } = { __proto__: null, n: 0 } as never;

/** @internal Closes fd and deletes the key guarding it (guardFd), or keeps both for later (above). */
export function closeGuarded(fd: number, key: number): void {
  if (tamperedArrays() !== null) {
    closesLater[closesLater.n++] = fd;
    closesLater[closesLater.n++] = key;
    return;
  }
  if (closesLater.n !== 0) closeNow();
  unguardFd(key);
  libc.close(fd);
}

function closeNow(): void {
  const n = closesLater.n;
  closesLater.n = 0;  // first: the calls below come back through fn()
  for (let i = 0; i < n; i += 2) {
    unguardFd(closesLater[i + 1]!);
    libc.close(closesLater[i]!);
  }
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
      const params = { __proto__: null, library: LIB, funcName: 'poll', retType: T.I32, paramsType: [P, T.I64, T.I32], paramsValue: [] as Arg[],
        freeResultMemory: false, runInNewThread: true };
      return (fds: number, n: number, timeoutMs: number): Promise<number> => {
        if (tamperedArrays() !== null) return Promise.resolve(refused());
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
    errno: new I32(taBuffer(errnoBytes), taByteOffset(errnoBytes), 1),
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

/**
 * Calls every function of `calls` once, harmlessly (a bad fd, a NULL pointer, a key made for
 * the purpose), so that ffi-rs has looked each symbol up before any other thread can call:
 * see LIB above. The type makes leaving one out a compile error.
 */
function warm(ffi: typeof FfiRs, c: ReturnType<typeof calls>, scratch: number): void {
  // free() runs only when a worker's arena goes, at its exit: free(NULL) now.
  ffi.load({ library: LIB, funcName: 'free', retType: ffi.DataType.Void, paramsType: [ffi.DataType.I64], paramsValue: [0], freeResultMemory: false });
  const each: { [K in keyof typeof c]: () => unknown } = {
    socket: () => c.socket(-1, -1, -1),
    setsockopt: () => c.setsockopt(-1, 0, 0, 0, 0),
    getsockopt: () => c.getsockopt(-1, 0, 0, 0, 0),
    bind: () => c.bind(-1, 0, 0),
    connect: () => c.connect(-1, 0, 0),
    shutdown: () => c.shutdown(-1, 0),
    getsockname: () => c.getsockname(-1, 0, 0),
    close: () => c.close(-1),
    sendmsg: () => c.sendmsg(-1, 0, 0),
    sendmmsg: () => c.sendmmsg(-1, 0, 0, 0),
    recvmsg: () => c.recvmsg(-1, 0, 0),
    recvmmsg: () => c.recvmmsg(-1, 0, 0, 0, 0),
    poll: () => c.poll(0, 0, 0),
    if_nametoindex: () => c.if_nametoindex(scratch),  // "" : 0
    eventfd: () => c.eventfd(0, -1),  // EINVAL: no flag bits that wide
    read: () => c.read(-1, 0, 0),
    write: () => c.write(-1, 0, 0),
    dlsym: () => c.dlsym(0, scratch),
    pthread_key_create: () => undefined,  // with the next two, on a key of its own
    pthread_setspecific: () => undefined,
    pthread_key_delete: () => {
      if (c.pthread_key_create(scratch, 0) !== 0) return;
      const key = view.getUint32(scratch - base, true);
      c.pthread_setspecific(key, 0);
      c.pthread_key_delete(key);
    },
    pollOffThread: () => undefined,  // the same symbol as poll, looked up on this thread
  };
  for (const call of Object.values(each)) call();
}

/** @internal Loads ffi-rs, opens libc and allocates this thread's arena. */
export function init(): void {
  if (libc) return;
  const ffi = loadFfiRs();
  withTableLock(() => {
    ffi.open({ library: LIB, path: '' });
    pinFfiRs(ffi);
    const arena = allocate(ffi);
    libc = calls(ffi);
    base = arena.base;
    mem = arena.bytes;
    view = new SafeDataView(taBuffer(mem), taByteOffset(mem), taByteLength(mem));
    freeArena = arena.free;
    errnoCell = arena.errno;
    if (Atomics.load(table, 1) === 0) {
      const scratch = base + ARENA_SIZE - 128;
      taFill(mem, 0, ARENA_SIZE - 128, ARENA_SIZE - 120);
      warm(ffi, libc, scratch);
      Atomics.store(table, 1, 1);
    }
    if (!isMainThread) {
      const at = ARENA_SIZE - 128;
      mem.write('close\0', at, 'latin1');
      closeAt = libc.dlsym(0, base + at);  // RTLD_DEFAULT is 0 on glibc and musl
    }
  });
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
