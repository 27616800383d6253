// Worker threads on the ffi-rs backend: the sockets (and the poller's eventfd) a worker
// opened are process-wide fds, so they must be closed when the worker ends, however it ends.
// worker.terminate() stops JavaScript at an arbitrary point and runs no 'exit' listener; the
// README promises that no fd is left behind on both implementations.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindingFor } from '../src/binding';

const root = join(__dirname, '..');
// The addon can be loaded here (the ffi lane runs without one).
const hasAddon = (() => {
  try {
    return bindingFor('addon') !== undefined;
  } catch {
    return false;
  }
})();

describe.skipIf(process.platform !== 'linux')('ffi-rs sockets of worker threads (Linux: the only place ffi-rs runs)', () => {
  it('20 terminated workers (one with a receive waiting, one with a batch receive waiting), and workers that end or exit, leave no fd behind', () => {
    // ffi-rs 1.3.7 itself crashes (SIGSEGV inside its call wrapper) when a worker is
    // terminated in the middle of one of its calls: README's known limit. Measured with this
    // script: 13 of 40 runs on 05e6296 (before issue 13) and 8-9 of 40 now. That crash is not
    // what this test is about (fds), so a run it kills is run again, at most twice more and
    // said on stderr; three crashes in a row still fail, and every count is checked on a run
    // that finished.
    const run = () => spawnSync(process.execPath, [join(__dirname, 'netns', 'ffi-worker-fds.cjs'), JSON.stringify({ terminated: 20, ended: 3, exited: 3 })],
      { encoding: 'utf8', env: { ...process.env, SHIM_ROOT: root }, timeout: 60_000 });
    // The same goes for ffi-rs's other worker-lifecycle failure, seen once in six runs here at
    // the end of this session: a worker's call fails with "Before calling load, you need to
    // open the file sendmsg-shim:libc:<thread>" (its per-thread library handle is gone), which
    // the script reports as that worker's error. Still under investigation (closing note).
    const ffiRsFlake = (x: ReturnType<typeof run>) => x.signal === 'SIGSEGV' || x.signal === 'SIGABRT' ||
      (x.status === 0 && x.stdout.includes('Before calling load, you need to open the file'));
    let r = run();
    for (let again = 0; again < 2 && ffiRsFlake(r); again++) {
      console.warn(`ffi-worker-fds: the run hit ffi-rs's known worker failure (${r.signal ?? 'a worker error'}); running it again`);
      r = run();
    }
    expect(r.signal).toBe(null);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      before: { sockets: number; eventfds: number }; after: { sockets: number; eventfds: number }; codes: Array<number | string>; text: string;
    };
    expect(out.codes).toEqual([...Array(6).fill(0), ...Array(20).fill(1)]);  // terminate() gives exit code 1
    expect(out.after.sockets).toBe(out.before.sockets);
    expect(out.after.eventfds).toBe(out.before.eventfds);
    expect(out.text).toBe('still here and batching');
  });
});

const addonSkip = process.platform !== 'linux' ? ' (skipped: counts fds in /proc, Linux only)' : hasAddon ? '' : ' (skipped: no addon here)';
describe.skipIf(addonSkip !== '')(`addon sockets of worker threads${addonSkip}`, () => {
  it('20 terminated workers (one with a receive waiting, one with a batch receive waiting), and workers that end or exit, leave no fd behind', () => {
    const r = spawnSync(process.execPath, [join(__dirname, 'netns', 'ffi-worker-fds.cjs'),
      JSON.stringify({ terminated: 20, ended: 3, exited: 3, implementation: 'addon' })],
    { encoding: 'utf8', env: { ...process.env, SHIM_ROOT: root }, timeout: 60_000 });
    expect(r.signal).toBe(null);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      before: { sockets: number }; after: { sockets: number }; codes: Array<number | string>; text: string;
    };
    expect(out.codes).toEqual([...Array(6).fill(0), ...Array(20).fill(1)]);
    expect(out.after.sockets).toBe(out.before.sockets);
    expect(out.text).toBe('still here and batching');
  });
});
