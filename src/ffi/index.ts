// The ffi-rs backend as a Binding: the same object the addon exports, built from libc
// calls. Loading it checks the struct layout first (src/ffi/abi.ts) and refuses to run
// on a target it does not know.
import type { Binding } from '../binding';
import { MAX_BUFFERS } from '../validate';
import { WSA_TABLE } from '../wsa.generated';
import { LINUX_LP64, abiFor } from './abi';
import { freeArena, init, nameToIndex } from './libc';
import { FfiSocket, MAX_BATCH, closeAll, live } from './socket';
import { isMainThread } from 'node:worker_threads';

/** @internal The ffi-rs binding; `addonLayout`: the addon's abiLayout() when one could be loaded. */
export function loadFfiBinding(addonLayout: Record<string, number> | null): Binding {
  abiFor(`${process.platform}-${process.arch}`, addonLayout);
  init();
  // A worker thread's sockets would outlive it (fds are process-wide): close them, and
  // free the thread's arena, when the thread ends. The main thread leaves that to exit.
  // worker.terminate() emits no 'exit': there each fd closes as the OS thread exits
  // (libc.ts's guardFd), and the arena stays, since a poll may still write into it.
  process.once('exit', () => {
    // A poll still running off-thread writes its results into the arena when it returns.
    const pollRunning = closeAll();
    if (!isMainThread && !pollRunning) freeArena();
  });
  return {
    NativeSocket: FfiSocket,
    errorTable: () => WSA_TABLE.map((row) => [...row]),
    liveCounts: () => ({ ...live }),
    abiLayout: () => ({ ...LINUX_LP64 }),
    nameToIndex,
    platform: 'posix',
    maxBuffers: MAX_BUFFERS,
    maxBatch: MAX_BATCH,
    maxOffloadSegments: 64,  // UDP_MAX_SEGMENTS
    sendSyscall: 'sendmsg',
    wineVersion: null,
  };
}
