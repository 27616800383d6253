/**
 * sendmsg-shim: one WSASendMsg-style `sendMsg` for datagram sockets on Linux and Windows.
 * @packageDocumentation
 */
export { openSocket, Socket } from './socket';
export type { OpenSocketOptions, SocketAddress, SocketCapabilities, SocketType } from './socket';
export { sendMsg, sendMsgSync, sendMsgBatch, sendMsgBatchSync, MSG, MAX_BATCH } from './send';
export type { BatchResult, Message, SendCallback, SendControl, SendTarget } from './send';
export { recvMsg, recvMsgBatch, messages, replyTo } from './recv';
export type {
  MessagesOptions, ReceivedControl, ReceivedMessage, RecvBatchOptions, RecvOptions, ReplyControl, ReplyTarget,
} from './recv';
export { WsaError, WSA } from './errors';
export type { WsaCode, WsaErrorDetails, ArgumentError, IcmpReport } from './errors';
export { MAX_BUFFERS } from './validate';
import { binding, implementation as chosenImplementation, type Implementation } from './binding';
export type { Implementation } from './binding';

/** Which backend is in use: `'posix'` (sendmsg) or `'win32'` (WSASendMsg). */
export const backend: 'posix' | 'win32' = binding.platform;

/**
 * How sockets reach the OS by default: `'addon'` (the compiled native addon) or `'ffi'`
 * (libc through ffi-rs, Linux only). The addon when it is built; otherwise ffi-rs, with a
 * one-time `SENDMSG_SHIM_FFI_FALLBACK` warning. `SENDMSG_SHIM_IMPLEMENTATION=addon|ffi`
 * forces one; `openSocket({ implementation })` picks per socket.
 */
export const implementation: Implementation = chosenImplementation;
