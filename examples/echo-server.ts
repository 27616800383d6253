// A UDP echo server bound to the wildcard address that answers each datagram from the
// exact local address it arrived on. A wildcard-bound node:dgram server cannot: its
// replies leave from whatever address routing picks, and clients that asked another
// address of a multihomed host drop them.
import { messages, openSocket, replyTo, sendMsg, type Socket } from 'sendmsg-shim';

export interface EchoServer {
  port: number;
  socket: Socket;
  /** Stops the server; resolves when its loop has ended. */
  close(): Promise<void>;
}

export async function startEchoServer(options: { port?: number; type?: 'udp4' | 'udp6' } = {}): Promise<EchoServer> {
  const type = options.type ?? 'udp4';
  const socket = await openSocket({
    type,
    bind: { address: type === 'udp4' ? '0.0.0.0' : '::', port: options.port ?? 0 },
    recvPktinfo: true,  // tells each datagram's destination address
    // No icmpErrors: by default an unconnected socket ignores ICMP errors of earlier
    // replies, so a client gone away (or a forged ICMP message) cannot fail the next reply.
  });
  const loop = (async () => {
    for await (const m of messages(socket)) {
      // Answer from the address the client asked, whatever the routing table would pick.
      // Where the OS did not say it (Windows, for some local traffic), replyTo gives no
      // source and the OS sends from the socket's bound address.
      await sendMsg(socket, { buffers: m.buffer, ...replyTo(m) })
        .catch(() => {});  // one unreachable client must not stop the server
    }
  })();
  return {
    port: socket.address().port,
    socket,
    close: async () => {
      await socket.close();
      await loop;
    },
  };
}
