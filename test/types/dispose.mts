// `await using` closes the socket when the block is left (lib esnext.disposable). There is
// no synchronous `using`: closing is asynchronous.
import { openSocket, sendMsg, type Socket } from 'sendmsg-shim';

export async function sendOnce(port: number): Promise<Socket> {
  await using sock = await openSocket({ type: 'udp4' });
  await sendMsg(sock, { buffers: Buffer.from('once'), to: { address: '127.0.0.1', port } });
  return sock;  // closed by the time the caller has it
}

export async function notSync(): Promise<void> {
  // @ts-expect-error Socket is AsyncDisposable, not Disposable
  using sock = await openSocket({ type: 'udp4' });
  void sock;
}

const disposer: AsyncDisposable = await openSocket({ type: 'udp6' });
await disposer[Symbol.asyncDispose]();
