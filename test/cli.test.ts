// The sendmsg-shim command (dist/cli.js, package.json "bin").
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isWindows, itControlData } from './helpers/platform';

const cli = join(__dirname, '..', 'dist', 'cli.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 10_000 });

describe('sendmsg-shim CLI', () => {
  it('--help and unknown commands', () => {
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/send --to HOST:PORT/);
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
    expect(run('send', '--to', 'localhost:9').status).toBe(1);  // host names are refused
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
});
