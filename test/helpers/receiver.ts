// The independent witness: a node:dgram socket that records what really arrived.
import dgram from 'node:dgram';

export interface Received {
  data: Buffer;
  address: string;
  port: number;
}

export interface Receiver {
  port: number;
  messages: Received[];
  /** Resolves once n datagrams arrived, or after ms with what is there. */
  waitFor(n: number, ms?: number): Promise<Received[]>;
  /** Waits ms and returns everything (for "nothing arrived" checks). */
  settle(ms?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function receiver(type: 'udp4' | 'udp6' = 'udp4', address?: string, ipv6Only = false): Promise<Receiver> {
  const sock = dgram.createSocket({ type, ipv6Only, recvBufferSize: 1 << 22 });
  const messages: Received[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  sock.on('message', (data, rinfo) => {
    messages.push({ data, address: rinfo.address, port: rinfo.port });
    if (waiter && messages.length >= waiter.n) waiter.resolve();
  });
  await new Promise<void>((resolve) => sock.bind(0, address ?? (type === 'udp4' ? '127.0.0.1' : '::1'), resolve));
  return {
    port: sock.address().port,
    messages,
    waitFor(n, ms = 2000) {
      if (messages.length >= n) return Promise.resolve(messages);
      return new Promise((resolve) => {
        const t = setTimeout(() => resolve(messages), ms);
        waiter = { n, resolve: () => { clearTimeout(t); resolve(messages); } };
      });
    },
    settle(ms = 100) {
      return new Promise((resolve) => setTimeout(() => resolve(messages), ms));
    },
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}
