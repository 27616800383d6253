// Compiled by test/types.test.ts with strict, exactOptionalPropertyTypes and
// noUncheckedIndexedAccess against the published declarations (dist/), as a user's
// project would see them. Every line must compile except those marked @ts-expect-error,
// which must fail.
import {
  MSG, openSocket, recvMsg, recvMsgBatch, replyTo, sendMsg, sendMsgBatch, sendMsgSync, Socket, WsaError, WSA,
  type Message, type OpenSocketOptions, type ReceivedMessage, type SendControl,
} from 'sendmsg-shim';

declare const maybeNumber: number | undefined;
declare const maybeBoolean: boolean | undefined;
declare const maybeAddress: string | undefined;

// Options forwarded from a caller's own optional settings: the run time takes undefined
// for every optional field, and so do the types.
const options: OpenSocketOptions = {
  type: 'udp4',
  bind: { address: maybeAddress, port: maybeNumber },
  ttl: maybeNumber,
  sendTimeout: maybeNumber,
  sendBufferSize: maybeNumber,
  nonBlocking: maybeBoolean,
  broadcast: maybeBoolean,
  dontFragment: maybeBoolean,
  icmpErrors: maybeBoolean,
  recvPktinfo: true,
  reusePort: maybeBoolean,
  maxPendingSends: maybeNumber,
  maxPendingBytes: maybeNumber,
  implementation: undefined,
};
const sock = await openSocket(options);

// The receive example from README and the API reference.
const m = await recvMsg(sock, { bufferSize: maybeNumber, signal: undefined });
await sendMsg(sock, { buffers: m.buffer, to: m.from, control: { sourceAddress: m.control.destinationAddress } });
await sendMsg(sock, { buffers: m.buffer, ...replyTo(m) });
await sendMsg(sock, {
  buffers: [Buffer.from('a'), new Uint8Array(2), new DataView(new ArrayBuffer(3))],
  to: { address: '127.0.0.1', port: 9000, family: undefined },
  control: { sourceAddress: maybeAddress, interfaceIndex: m.control.interfaceIndex, tos: m.control.tos, ecn: maybeNumber },
  flags: maybeNumber,
  signal: undefined,
  segmentSize: maybeNumber,
});
const control: SendControl = { sourceAddress: undefined };
sendMsgSync(sock, { buffers: Buffer.alloc(1), to: null, control: null, flags: MSG.DONTROUTE });
sendMsgSync(sock, { buffers: Buffer.alloc(1), to: undefined, control });

// noUncheckedIndexedAccess: a batch's messages are read as the user's own array elements.
const batch: Message[] = [{ buffers: Buffer.alloc(1), to: { address: '::1', port: 1 } }];
const first = batch[0];
if (first) await sendMsg(sock, first);
const result = await sendMsgBatch(sock, batch);
const sent: number = result.sent;
const failedIndex: number | undefined = result.failedIndex;
void sent; void failedIndex;

// What comes back is typed as narrowly as it is.
const destination: string | undefined = m.control.destinationAddress;
const fromFamily: 'IPv4' | 'IPv6' = m.from.family;
void destination; void fromFamily;
const received: ReceivedMessage[] = await recvMsgBatch(sock, { maxMessages: maybeNumber, bufferSize: maybeNumber });
void received;
// @ts-expect-error maxMessages is a number
void recvMsgBatch(sock, { maxMessages: '4' });
const offloadOptions: OpenSocketOptions = { type: 'udp4', receiveOffload: maybeBoolean, reusePort: maybeBoolean };
void offloadOptions;
for await (const r of sock.messages({ bufferSize: maybeNumber, maxMessages: maybeNumber })) {
  const received: ReceivedMessage = r;
  void received;
  break;
}

try {
  sendMsgSync(sock, { buffers: Buffer.alloc(70_000), to: { address: '127.0.0.1', port: 9 } });
} catch (err) {
  if (err instanceof WsaError && err.errno === WSA.EMSGSIZE) {
    const sysErrno: number | undefined = err.sysErrno;
    void sysErrno;
  }
}
new WsaError(WSA.EINVAL, { address: maybeAddress, port: maybeNumber, reason: undefined });

// Wrong uses fail to compile.
// @ts-expect-error a misspelt option is not one (the run time refuses it too)
await openSocket({ type: 'udp4', sourceAdress: '127.0.0.2' });
// @ts-expect-error no such socket type
await openSocket({ type: 'tcp' });
// @ts-expect-error ttl is a number
await openSocket({ type: 'udp4', ttl: '64' });
// @ts-expect-error a Buffer is the payload, not the message: { buffers: buf, to }
sendMsgSync(sock, Buffer.from('x'));
// @ts-expect-error control.sourceAddress is an IP literal string
sendMsgSync(sock, { buffers: Buffer.alloc(1), control: { sourceAddress: 0x7f000002 } });
// @ts-expect-error a misspelt control field
sendMsgSync(sock, { buffers: Buffer.alloc(1), control: { sourceAdress: '127.0.0.2' } });
// @ts-expect-error buffers are views, not strings
sendMsgSync(sock, { buffers: 'hello' });
// @ts-expect-error the port is a number
sendMsgSync(sock, { buffers: Buffer.alloc(1), to: { address: '127.0.0.1', port: '9000' } });
// @ts-expect-error sockets come from openSocket: the constructor is private
new Socket();
// @ts-expect-error shutdown takes 'send' only
sock.shutdown('both');
// @ts-expect-error under noUncheckedIndexedAccess an element may be absent
await sendMsg(sock, batch[0]);

await sock.close();
