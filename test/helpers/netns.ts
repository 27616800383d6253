// Network namespaces the tests create for themselves: unique names per run, always
// deleted afterwards. Only addresses inside them (and loopback) are ever used.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';

function probe(): { ok: boolean; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: 'not Linux' };
  if (process.getuid?.() !== 0) return { ok: false, why: 'not root (namespaces, veth and tc need CAP_NET_ADMIN)' };
  const name = `smsprobe${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (add.status !== 0) return { ok: false, why: `ip netns add failed: ${(add.stderr || add.error?.message || '').trim()}` };
  spawnSync('ip', ['netns', 'del', name]);
  const tc = spawnSync('tc', ['-V'], { encoding: 'utf8' });
  if (tc.status !== 0) return { ok: false, why: 'tc (iproute2) is missing' };
  return { ok: true, why: '' };
}

const result = probe();
/** True when this run can create namespaces (root, iproute2). */
export const netnsAvailable = result.ok;
/** Why namespace tests are skipped, for the visible skip message. */
export const netnsSkipReason = result.why;
if (!result.ok) console.warn(`[sendmsg-shim tests] SKIPPING namespace tests: ${result.why}`);

let counter = 0;

export class NetnsLab {
  readonly names: string[] = [];
  private readonly tag = `sms${process.pid % 100000}${Date.now() % 10000}${counter++}`;

  /** Creates a namespace with lo up; returns its name. */
  ns(suffix: string): string {
    const name = `${this.tag}${suffix}`;
    this.ip('netns', 'add', name);
    this.names.push(name);
    this.ip('-n', name, 'link', 'set', 'lo', 'up');
    return name;
  }

  ip(...args: string[]): string {
    return execFileSync('ip', args, { encoding: 'utf8' });
  }

  tc(ns: string, ...args: string[]): string {
    return execFileSync('tc', ['-n', ns, ...args], { encoding: 'utf8' });
  }

  /**
   * veth pair a(10.77.N.1/24, in nsA) <-> b(10.77.N.2/24, in nsB), both up. 10.77.N.99 is
   * a silent sink: a permanent neighbour whose MAC nobody owns, so frames sent there
   * leave nsA (through any qdisc) and vanish without an ICMP answer.
   */
  veth(nsA: string, nsB: string, n: number): { a: string; b: string; addrA: string; addrB: string; sink: string } {
    const a = `va${n}`;
    const b = `vb${n}`;
    this.ip('-n', nsA, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', nsB);
    this.ip('-n', nsA, 'addr', 'add', `10.77.${n}.1/24`, 'dev', a);
    this.ip('-n', nsB, 'addr', 'add', `10.77.${n}.2/24`, 'dev', b);
    this.ip('-n', nsA, 'link', 'set', a, 'up');
    this.ip('-n', nsB, 'link', 'set', b, 'up');
    this.ip('-n', nsA, 'neigh', 'replace', `10.77.${n}.99`, 'lladdr', '02:00:00:00:00:99', 'dev', a, 'nud', 'permanent');
    return { a, b, addrA: `10.77.${n}.1`, addrB: `10.77.${n}.2`, sink: `10.77.${n}.99` };
  }

  /**
   * Starts test/netns/<script> with node inside ns. `ready` resolves when it prints a
   * line "ready"; `result` with the JSON of its last line when it exits.
   */
  start<T = unknown>(ns: string, script: string, args: unknown, timeoutMs = 20_000, nodeArgs: string[] = []): { ready: Promise<void>; result: Promise<T> } {
    const file = join(__dirname, '..', 'netns', script);
    let onReady!: () => void;
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    const result = new Promise<T>((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs, file, JSON.stringify(args)], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, SHIM_ROOT: join(__dirname, '..', '..') },
      });
      let out = '';
      let err = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stdout.on('data', (d) => {
        out += d;
        if (/^ready$/m.test(out)) onReady();
      });
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => {
        clearTimeout(timer);
        onReady();
        const last = out.trim().split('\n').pop() ?? '';
        try {
          if (code !== 0) throw new Error(`exit ${code}`);
          resolve(JSON.parse(last) as T);
        } catch (e) {
          reject(new Error(`${script} in ${ns} failed (${(e as Error).message}): ${err}${out}`));
        }
      });
    });
    return { ready, result };
  }

  run<T = unknown>(ns: string, script: string, args: unknown, timeoutMs?: number, nodeArgs?: string[]): Promise<T> {
    return this.start<T>(ns, script, args, timeoutMs, nodeArgs).result;
  }

  destroy(): void {
    for (const name of this.names.splice(0).reverse()) spawnSync('ip', ['netns', 'del', name]);
  }
}

/**
 * What the receiver saw is exactly what was sent, in the order sent, up to the kernel's own
 * local reordering. CI (2 CPUs, other suites running) saw a veth deliver 341 before 340,
 * and 15,16 before 0 in a burst of fragmented datagrams, while the sender's sendmsg and
 * sendmmsg calls went in order; the same bursts alone, with or without RPS steering to one
 * CPU, came in order 60 times out of 60. So: nothing lost, nothing duplicated, nothing
 * foreign, and no datagram more than `window` places from where it was sent. The orders
 * the shim could get wrong (a new send overtaking a queue of hundreds, a parked batch
 * resumed from the wrong index) move datagrams much further than that.
 */
export function expectSentOrder(arrived: readonly number[], sent: readonly number[], window = 20): void {
  const sorted = (xs: readonly number[]) => [...xs].sort((x, y) => x - y);
  expect(sorted(arrived)).toEqual(sorted(sent));
  const place = new Map(sent.map((s, i) => [s, i]));
  const far = arrived.map((s, i) => ({ s, by: i - place.get(s)! })).filter(({ by }) => Math.abs(by) > window);
  expect(far, `arrived more than ${window} places from where sent`).toEqual([]);
}
