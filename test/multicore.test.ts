// examples/multicore-echo.ts: two worker threads, one reusePort socket each on one port.
// node:dgram clients from many source ports ask two local addresses; every reply must come
// back from the address it asked (rinfo.address), with its bytes, and both workers must
// have answered some (the kernel spread the senders over the sockets).
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { startMulticoreEcho } from '../examples/multicore-echo';
import { isWindows } from './helpers/platform';

describe.skipIf(isWindows)(`multicore echo example${isWindows ? ' (skipped: Windows has no SO_REUSEPORT; openSocket refuses reusePort there, see reuseport.test.ts)' : ''}`, () => {
  it('2 workers on one port answer every client from the address it asked, and both take a share', async () => {
    const server = await startMulticoreEcho({ workers: 2 });
    const clients: dgram.Socket[] = [];
    try {
      const replies: Array<{ text: string; from: string; client: number }> = [];
      for (let i = 0; i < 32; i++) {
        const c = dgram.createSocket('udp4');
        await new Promise<void>((r) => c.bind(0, '127.0.0.1', r));
        c.on('message', (m, rinfo) => replies.push({ text: m.toString(), from: rinfo.address, client: i }));
        clients.push(c);
      }
      const asked = ['127.0.0.2', '127.0.0.3'];
      clients.forEach((c, i) => c.send(`hello ${i}`, server.port, asked[i % 2]));
      const deadline = Date.now() + 5000;
      while (replies.length < clients.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(replies.length).toBe(clients.length);
      for (const r of replies) {
        expect(r.text).toBe(`hello ${r.client}`);
        expect(r.from).toBe(asked[r.client % 2]);
      }
      const counts = await server.counts();
      expect(counts.reduce((a, b) => a + b, 0)).toBe(clients.length);
      // 32 senders hashed over 2 sockets: both get some (all on one: 2 x 2^-32).
      expect(Math.min(...counts)).toBeGreaterThan(0);
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });
});
