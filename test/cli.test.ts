// The sendmsg-shim command (dist/cli.js, package.json "bin").
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSocket, sendMsg } from '../src/index';
import { isWindows, itControlData } from './helpers/platform';
import { receiver } from './helpers/receiver';

// CLI_UNDER_TEST runs these tests against another build, e.g. the previous release's, to see them fail.
const cli = process.env.CLI_UNDER_TEST ?? join(__dirname, '..', 'dist', 'cli.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 10_000 });

// For commands whose peer lives in this process: spawnSync would stop it from answering.
function runAsync(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Server {
  port: number;
  first: string;
  lines: string[];
  /** SIGTERM, then the whole output once it has exited (SIGKILL after 5 s). */
  stop(): Promise<{ status: number | null; lines: string[]; stderr: string }>;
}

/** A CLI `listen` or `echo` child, running once it has said where it listens. */
async function serve(...args: string[]): Promise<Server> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [cli, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const kill = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
  cleanup.push(kill);
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no first line from ${args.join(' ')}: ${stderr}`)), 10_000);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    });
    void exited.then(() => reject(new Error(`${args.join(' ')} exited: ${stderr}`)));
  });
  const port = Number(/:(\d+)$/.exec(first)?.[1] ?? JSON.parse(first).listening.port);
  return {
    port,
    first,
    get lines() { return out.trim().split('\n'); },
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(kill, 5000);
      const status = await exited;
      clearTimeout(timer);
      return { status, lines: out.trim().split('\n'), stderr };
    },
  };
}

interface EchoCounts { answered: number; lines: number; dropped: { rate: number; lowPort: number; self: number } }
/**
 * Stops an `echo --json` server: `lines` counts the datagrams it logged as answered (one
 * line each, what any version prints), the rest is its exit summary (NaN when it has none).
 */
async function counts(server: Server): Promise<EchoCounts> {
  const { lines } = await server.stop();
  const objects = lines.map((l) => JSON.parse(l));
  const summary = objects.find((o) => o.stopped)?.stopped ?? { answered: NaN, dropped: { rate: NaN, lowPort: NaN, self: NaN } };
  return { answered: summary.answered, lines: objects.filter((o) => o.from).length, dropped: summary.dropped };
}

// A child on a loaded 2-core machine can take a while to say what it saw.
const POLL = { timeout: 5000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A datagram whose source is someone else's address and port (IP_PKTINFO picks the address). */
async function forge(from: { address: string; port: number }, to: { address: string; port: number }, spareAddress: string) {
  const s = await openSocket({ type: 'udp4', bind: { address: spareAddress, port: from.port } });
  try {
    await sendMsg(s, { buffers: Buffer.from('loop?'), to, control: { sourceAddress: from.address } });
  } finally {
    await s.close();
  }
}

/** A node:dgram socket, with what it received. */
async function client(port = 0, address = '127.0.0.1') {
  const c = dgram.createSocket('udp4');
  const got: Array<{ data: string; port: number }> = [];
  c.on('message', (m, ri) => got.push({ data: m.toString(), port: ri.port }));
  await new Promise<void>((resolve, reject) => {
    c.once('error', reject);
    c.bind(port, address, () => { c.off('error', reject); resolve(); });
  });
  cleanup.push(() => new Promise<void>((r) => c.close(() => r())));
  return { c, got, port: c.address().port };
}

// Binding a port below 1024 needs root (or a lowered ip_unprivileged_port_start) on Linux.
const lowPortsBindable = isWindows || process.getuid?.() === 0 || (() => {
  try { return Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')) < 1000; } catch { return false; }
})();
if (!lowPortsBindable) console.warn('[sendmsg-shim tests] SKIPPING the CLI low-port test: binding a port below 1024 needs root');

async function lowPortClient() {
  // Any free one of these is a "well-known service" port to the echo server.
  for (let port = 1000; port > 900; port--) {
    try { return await client(port); } catch { /* in use: the next */ }
  }
  throw new Error('no free port in 901..1000 on 127.0.0.1');
}

describe('sendmsg-shim CLI', () => {
  it('--help and unknown commands', () => {
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/send --to HOST:PORT/);
    expect(help.stdout).toMatch(/--rate N/);
    expect(help.stdout).toMatch(/--allow-low-ports/);
    expect(help.stdout).toMatch(/below 1024/);
    expect(run('frobnicate').status).toBe(2);
  });

  it('capabilities --json', () => {
    const r = run('capabilities', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: isWindows ? 'win32' : 'posix', sourceAddress: true });
  });

  it('an OS error prints the WSAE name and a one-line explanation, exit 1', () => {
    const r = run('send', '--to', '127.255.255.255:9', '--wait', '0', 'x');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error WSAEACCES \(10013\): .*SO_BROADCAST/);
    const j = run('send', '--to', '127.255.255.255:9', '--wait', '0', '--json', 'x');
    expect(JSON.parse(j.stdout.trim().split('\n').pop()!)).toMatchObject({ error: 'WSAEACCES', errno: 10013 });
    expect(run('send', '--to', 'localhost:9').status).toBe(2);  // host names are refused, as a bad argument
  });

  itControlData('echo + send: the answer comes from the address that was asked', async () => {
    const server = spawn(process.execPath, [cli, 'echo', '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((resolve) => {
        server.stdout.once('data', (d) => resolve(JSON.parse(String(d).split('\n')[0]).listening.port));
      });
      for (const address of ['127.0.0.2', '127.0.0.3']) {
        const r = run('send', '--to', `${address}:${port}`, '--json', 'hello');
        const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
        expect(lines[0]).toMatchObject({ sent: 5 });
        expect(lines[1]).toMatchObject({ reply: 'hello', from: { address, port } });
      }
      const from = run('send', '--to', `127.0.0.1:${port}`, '--from', '127.0.0.2', '--json', 'hi');
      expect(from.status).toBe(0);
    } finally {
      server.kill('SIGTERM');
    }
  });

  describe('bad arguments: one line, a pointer to --help, exit 2, nothing sent', () => {
    const bad: Array<[string[], RegExp]> = [
      [['--count', '1e12'], /'--count' must be an integer from 1 to 1000000\. Received '1e12'/],
      [['--count', '1000001'], /'--count' must be an integer from 1 to 1000000/],
      [['--count=-5'], /'--count' must be an integer.*Received '-5'/],
      [['--count=abc'], /'--count' must be an integer.*Received 'abc'/],
      [['--count='], /'--count' must be an integer/],
      [['--count', '0'], /'--count' must be an integer from 1/],
      [['--count', '-5'], /'--count'.*ambiguous/],
      [['--count'], /'--count <value>' argument missing/],
      [['--wait', '1e12'], /'--wait' must be an integer from 0 to 3600000\. Received '1e12'/],
      [['--wait', '3600001'], /'--wait' must be an integer from 0 to 3600000/],
      [['--wait', '1.5'], /'--wait' must be an integer/],
      [['--size', '100000000000'], /'--size' must be an integer from 0 to 65527\. Received '100000000000'/],
      [['--size', '65528'], /'--size' must be an integer from 0 to 65527/],
      [['--size', '0x10'], /'--size' must be an integer/],
      [['--size', '5', 'DATA'], /--size B or DATA, not both/],
      [['--ifindex', '-1'], /Unknown option|ambiguous/],
      [['--ifindex=-1'], /'--ifindex' must be an integer from 0 to 4294967295/],
      [['--ifindex', '4294967296'], /'--ifindex' must be an integer from 0 to 4294967295/],
      [['--frm', '127.0.0.2'], /Unknown option '--frm'\. Did you mean '--from'\?/],
      [['--from', 'localhost'], /'--from' must be an IP literal/],
      [['--bogus'], /Unknown option '--bogus'/],
      [['--json=yes'], /'--json' does not take an argument/],
      [['--rate', '5'], /'--rate' is not an option of 'send'/],
      [['--port', '9'], /'--port' is not an option of 'send'/],
    ];
    it.each(bad)('send %j', async (args, message) => {
      const sink = await receiver();
      cleanup.push(() => sink.close());
      const r = await runAsync('send', '--to', `127.0.0.1:${sink.port}`, '--wait', '0', ...args);
      expect(r.stderr).toMatch(/^sendmsg-shim: [^\n]+\nTry 'sendmsg-shim --help' for more information\.\n$/);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
      expect(r.status).toBe(2);
      expect(await sink.settle(50)).toHaveLength(0);
    });

    it.each(([
      ['send'],
      ['send', '--to', '127.0.0.1'],
      ['send', '--to', '127.0.0.1:0'],
      ['send', '--to', '127.0.0.1:65536'],
      ['send', '--to', '::1:9'],
      ['listen', '--port', '65536'],
      ['listen', '--port', 'abc'],
      ['listen', '--port=-1'],
      ['listen', '--address', 'localhost'],
      ['listen', '--rate', '5'],
      ['listen', '9000'],
      ['echo', '--rate', '0'],
      ['echo', '--rate', '1000001'],
      ['echo', '--rate', '2.5'],
      ['echo', '--prot', '9'],
      ['capabilities', '--count', '1'],
      ['frobnicate'],
      ['constructor'],
      [],
    ] as string[][]).map((args) => [args.join(' ') || '(no arguments)', args] as const))('%s', async (_name, args) => {
      const r = await runAsync(...args);
      expect(r.stderr).toMatch(/^sendmsg-shim: [^\n]+\nTry 'sendmsg-shim --help' for more information\.\n$/);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.status).toBe(2);
    });

    it('a misspelt option names the likely one', async () => {
      expect((await runAsync('echo', '--prot', '9')).stderr).toMatch(/Did you mean '--port'\?/);
      expect((await runAsync('send', '--cuont', '3')).stderr).toMatch(/Did you mean '--count'\?/);
    });

    it('the bounds themselves are accepted', async () => {
      const sink = await receiver();
      cleanup.push(() => sink.close());
      const r = await runAsync('send', '--to', `127.0.0.1:${sink.port}`, '--count', '2', '--size', '0', '--wait', '0', '--ifindex', '0');
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect((await sink.waitFor(2)).map((m) => m.data.length)).toEqual([0, 0]);
    });
  });

  describe('listen says where it listens', () => {
    it('without --port: the free port it was given, and it receives there', async () => {
      const server = await serve('listen');
      expect(server.first).toMatch(/^listening on 0\.0\.0\.0:\d+$/);
      expect(server.port).toBeGreaterThan(0);
      const c = await client();
      c.c.send('hello', server.port, '127.0.0.1');
      await expect.poll(() => server.lines.length, POLL).toBe(2);
      expect(server.lines[1]).toMatch(new RegExp(`^127\\.0\\.0\\.1:${c.port} -> 127\\.0\\.0\\.1\\s+5 bytes$`));
      await server.stop();
    });

    it('--json: {"listening":{"address","port"}}', async () => {
      const server = await serve('listen', '--json');
      const first = JSON.parse(server.first);
      expect(first).toMatchObject({ listening: { address: '0.0.0.0', port: server.port } });
      const c = await client();
      c.c.send('hello', server.port, '127.0.0.1');
      await expect.poll(() => server.lines.length, POLL).toBe(2);
      expect(JSON.parse(server.lines[1])).toMatchObject({ from: { port: c.port }, to: '127.0.0.1', bytes: 5 });
      await server.stop();
    });
  });

  describe('send shows replies as one line of text', () => {
    async function dgramEcho() {
      const e = await client();
      e.c.on('message', (m, ri) => e.c.send(m, ri.port, ri.address));
      return e.port;
    }

    it('a long reply is cut to 60 characters, with its size', async () => {
      const port = await dgramEcho();
      const r = await runAsync('send', '--to', `127.0.0.1:${port}`, '--size', '1200', '--wait', '1000');
      expect(r.status).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toEqual([`sent 1200 bytes to 127.0.0.1:${port}`, `reply from 127.0.0.1:${port}: ${'x'.repeat(60)}… (1200 bytes)`]);
      const j = await runAsync('send', '--to', `127.0.0.1:${port}`, '--size', '1200', '--wait', '1000', '--json');
      const reply = JSON.parse(j.stdout.trim().split('\n')[1]);
      expect(reply).toMatchObject({ reply: 'x'.repeat(1200), bytes: 1200 });  // machines get all of it
      const short = await runAsync('send', '--to', `127.0.0.1:${port}`, '--wait', '1000', 'x'.repeat(60));
      expect(short.stdout).toContain(`: ${'x'.repeat(60)}\n`);
    });

    it('control characters in a reply reach the terminal as escapes', async () => {
      const port = await dgramEcho();
      const r = await runAsync('send', '--to', `127.0.0.1:${port}`, '--wait', '1000', '\x1b[2Jred\n\u202egreen');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`reply from 127.0.0.1:${port}: \\x1b[2Jred\\x0a\\u202egreen\n`);
      expect(r.stdout).not.toMatch(/[\x1b\u202e]/);
    });
  });

  describe('echo cannot be made to loop (CVE-2024-2169)', () => {
    // A at 127.0.0.1, B at 127.0.0.2; one datagram to A forged from B's address and port:
    // A answers B, B answers A, and so on, as long as both keep answering.
    async function loop(...options: string[]) {
      const a = await serve('echo', '--address', '127.0.0.1', '--json', ...options);
      const b = await serve('echo', '--address', '127.0.0.2', '--json', ...options);
      const start = performance.now();
      await forge({ address: '127.0.0.2', port: b.port }, { address: '127.0.0.1', port: a.port }, '127.0.0.3');
      await sleep(1000);
      const ca = await counts(a);
      const cb = await counts(b);
      return { a: ca, b: cb, seconds: (performance.now() - start) / 1000 };
    }

    itControlData('two echo servers and one forged datagram: the default rate bounds the exchange', async () => {
      const { a, b, seconds } = await loop();
      expect(a.lines).toBeGreaterThan(0);  // the loop did start: A answered B,
      expect(b.lines).toBeGreaterThan(0);  // and B answered A
      // A bucket of 1000 and a refill of 1000/s: no server answers more than that.
      expect(a.lines).toBeLessThanOrEqual(Math.ceil(1000 + 1000 * seconds));
      expect(b.lines).toBeLessThanOrEqual(Math.ceil(1000 + 1000 * seconds));
      expect(a.answered).toBe(a.lines);
      expect(b.answered).toBe(b.lines);
    });

    itControlData('with --rate 20 the loop ends: one datagram dropped, and nothing after it', async () => {
      const { a, b, seconds } = await loop('--rate', '20');
      // It bounces far faster than 20/s, so it runs until one bucket is empty, and that
      // server's drop is the end of it: the one datagram in flight is gone.
      expect(a.lines + b.lines).toBeGreaterThanOrEqual(20);
      expect(a.lines + b.lines).toBeLessThanOrEqual(2 * Math.ceil(20 + 20 * seconds));
      expect(a.dropped.rate + b.dropped.rate).toBe(1);
      expect(a.answered + b.answered).toBe(a.lines + b.lines);
    });

    itControlData('a datagram forged from its own address and port gets no answer', async () => {
      const a = await serve('echo', '--address', '127.0.0.1', '--json');
      await forge({ address: '127.0.0.1', port: a.port }, { address: '127.0.0.1', port: a.port }, '127.0.0.3');
      const c = await client();
      await sleep(200);
      c.c.send('hi', a.port, '127.0.0.1');  // and it still answers others
      await expect.poll(() => c.got.length, POLL).toBe(1);
      const r = await counts(a);
      expect(r.lines).toBe(1);
      expect(r.dropped).toEqual({ rate: 0, lowPort: 0, self: 1 });
      expect(r.answered).toBe(1);
    });

    (lowPortsBindable ? itControlData : it.skip)(`a source port below 1024 gets no answer, unless --allow-low-ports${lowPortsBindable ? '' : ' [needs root]'}`, async () => {
      const low = await lowPortClient();
      const high = await client();
      const a = await serve('echo', '--json');
      low.c.send('from a service port', a.port, '127.0.0.1');
      high.c.send('from a client port', a.port, '127.0.0.1');
      await expect.poll(() => high.got.length, POLL).toBe(1);
      await sleep(300);
      expect(low.got).toHaveLength(0);
      const r = await counts(a);
      expect(r.dropped).toEqual({ rate: 0, lowPort: 1, self: 0 });
      expect(r.answered).toBe(1);

      const allowing = await serve('echo', '--json', '--allow-low-ports');
      low.c.send('from a service port', allowing.port, '127.0.0.1');
      await expect.poll(() => low.got.length, POLL).toBe(1);
      expect((await counts(allowing)).answered).toBe(1);
    });

    itControlData('drops are counted, not logged one by one, and reported at most once a second', async () => {
      const a = await serve('echo', '--address', '127.0.0.1', '--rate', '1');
      const c = await client();
      for (let i = 0; i < 20; i++) c.c.send(`n${i}`, a.port, '127.0.0.1');
      await expect.poll(() => c.got.length, POLL).toBe(1);
      await sleep(1300);
      const { status, lines, stderr } = await a.stop();
      expect(status).toBe(0);
      expect(c.got).toHaveLength(1);
      expect(lines.filter((l) => / bytes$/.test(l))).toHaveLength(1);
      const reports = [...stderr.matchAll(/^(\d+) datagrams unanswered \((\d+) over --rate 1\/s, 0 from ports below 1024, 0 from itself\)$/gm)];
      expect(reports.length).toBeGreaterThanOrEqual(1);
      expect(reports.length).toBeLessThanOrEqual(2);
      expect(reports.reduce((n, m) => n + Number(m[1]), 0)).toBe(19);
      expect(lines.at(-1)).toBe('stopped: 1 answered, 19 datagrams unanswered (19 over --rate 1/s, 0 from ports below 1024, 0 from itself)');
    });
  });
});
