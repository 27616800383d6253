// An echo server on several cores: one socket per worker thread, all bound to the same
// address and port with reusePort, so the kernel spreads the clients over the threads (Linux
// hashes each sender's address and port to one socket). Every worker answers each datagram
// from the address it was sent to, as examples/echo-server.ts does on one thread.
// Windows has no SO_REUSEPORT: there openSocket refuses reusePort (WSAEOPNOTSUPP) and this
// example fails to start; one socket, drained by recvMsgBatch, is the way there.
import { Worker } from 'node:worker_threads';

export interface MulticoreEcho {
  /** The port every worker's socket is bound to. */
  port: number;
  /** Datagrams each worker has answered so far. */
  counts(): Promise<number[]>;
  /** Closes every worker's socket and ends the workers. */
  close(): Promise<void>;
}

export interface MulticoreEchoOptions {
  /** Worker threads, one socket each (default: 2). */
  workers?: number;
  /** Local address (default the wildcard, 0.0.0.0). */
  address?: string;
  /** Port (default: the one the OS gives the first worker). */
  port?: number;
  /** How a worker loads the package (default 'sendmsg-shim'). */
  shim?: string;
}

// The workers' code, plain JavaScript: a worker thread cannot load TypeScript.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSocket, messages, replyTo, sendMsg } = require(workerData.shim);
(async () => {
  const socket = await openSocket({
    type: 'udp4',
    bind: { address: workerData.address, port: workerData.port },
    reusePort: true,    // several sockets on one port; the kernel picks one per sender
    recvPktinfo: true,  // each datagram's destination address: the reply's source
  });
  let answered = 0;
  parentPort.on('message', (m) => {
    if (m === 'count') parentPort.postMessage({ answered });
    else if (m === 'close') socket.close();
  });
  parentPort.postMessage({ port: socket.address().port });
  // Batches underneath (recvMsgBatch): one system call for every datagram waiting.
  for await (const m of messages(socket, { bufferSize: 2048 })) {
    answered++;
    sendMsg(socket, { buffers: m.buffer, ...replyTo(m) }).catch(() => {});  // one lost client must not stop it
  }
  parentPort.close();
})().catch((err) => parentPort.postMessage({ error: String(err && err.stack || err) }));
`;

/** Starts the workers; resolves once every one of them is bound. */
export async function startMulticoreEcho(options: MulticoreEchoOptions = {}): Promise<MulticoreEcho> {
  const n = options.workers ?? 2;
  const address = options.address ?? '0.0.0.0';
  const shim = options.shim ?? 'sendmsg-shim';
  const workers: Worker[] = [];
  const start = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const worker = new Worker(WORKER, { eval: true, workerData: { shim, address, port } });
      workers.push(worker);
      worker.once('error', reject);
      worker.once('message', (m: { port?: number; error?: string }) => (m.error ? reject(new Error(m.error)) : resolve(m.port!)));
    });
  try {
    // The first binds (port 0: the OS chooses); the others join it on that port.
    const port = await start(options.port ?? 0);
    for (let i = 1; i < n; i++) await start(port);
    return {
      port,
      counts: () =>
        Promise.all(workers.map((w) => new Promise<number>((resolve) => {
          w.once('message', (m: { answered: number }) => resolve(m.answered));
          w.postMessage('count');
        }))),
      close: async () => {
        await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
          w.once('exit', () => resolve());
          w.postMessage('close');
        })));
      },
    };
  } catch (err) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw err;
  }
}
