// What the ICMP tests share: a port that draws ICMP port unreachable, and how a promise ended.
import dgram from 'node:dgram';

/** A port on addr that nobody listens on (bound once, then closed): sending there draws ICMP port unreachable. */
export async function closedPort(type: 'udp4' | 'udp6', addr: string): Promise<number> {
  const gone = dgram.createSocket(type);
  await new Promise<void>((resolve) => gone.bind(0, addr, resolve));
  const port = gone.address().port;
  await new Promise<void>((resolve) => gone.close(() => resolve()));
  return port;
}

/** How a promise ended, with when (ms after the call), or 'pending' if not within ms. */
export async function settleWithin<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; at: number } | 'pending'> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), ms)));
  const r = await Promise.race([p.then((value) => ({ value, at: performance.now() - t0 }), (error: unknown) => ({ error, at: performance.now() - t0 })), timeout]);
  clearTimeout(timer);
  return r;
}
