#!/usr/bin/env node
// sendmsg-shim command line: send from a chosen source address, listen and show where
// datagrams were sent to, run the multihomed echo server, report capabilities.
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { backend, messages, openSocket, recvMsg, sendMsg, WsaError, type Socket } from './index';

const HELP = `sendmsg-shim <command> [options]

  send --to HOST:PORT [--from ADDR] [--ifindex N] [--count N] [--size B | DATA] [--wait MS]
        send DATA (or B bytes) COUNT times from source ADDR, then print the replies
        that arrive within MS milliseconds (default 1000; 0 = do not wait)
  listen --port P [--address A]
        print the sender and the destination address of each datagram
  echo --port P [--address A]
        answer each datagram from the address it was sent to (examples/echo-server.ts)
  capabilities
        what this OS and backend can do

  --json   one JSON object per line instead of text
  --help   this text

HOST is an IP literal; IPv6 in brackets: [::1]:9000. Errors print the WSAE name and exit 1.`;

// One line per error a user of these commands is likely to meet.
const HINTS: Record<string, string> = {
  WSAEACCES: 'refused: a broadcast address needs SO_BROADCAST, or a route or firewall forbids this destination',
  WSAEADDRNOTAVAIL: 'that address is not one of this host\'s addresses',
  WSAEADDRINUSE: 'another socket already uses that port',
  WSAENETUNREACH: 'no route to that network (or a source address of the wrong family)',
  WSAEHOSTUNREACH: 'no route to that host',
  WSAEINVAL: 'the source and destination addresses are of different families, or the source is not local',
  WSAEMSGSIZE: 'the datagram is larger than the transport allows (65507 bytes over IPv4, 65527 over IPv6)',
  WSAECONNRESET: 'the destination port answered "port unreachable" to an earlier datagram',
  WSAENETDOWN: 'no interface with that index',
};

function fail(err: unknown, json: boolean): never {
  if (err instanceof WsaError) {
    const hint = HINTS[err.code] ?? err.message;
    if (json) console.log(JSON.stringify({ error: err.code, errno: err.errno, message: err.message, hint }));
    else console.error(`error ${err.code} (${err.errno}): ${hint}\n  ${err.message}`);
  } else {
    const e = err as Error & { code?: string };
    if (json) console.log(JSON.stringify({ error: e.code ?? 'ERROR', message: e.message }));
    else console.error(`error ${e.code ?? ''}: ${e.message}`);
  }
  process.exit(1);
}

function hostPort(text: string): { address: string; port: number } {
  const m = /^\[(.+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m || isIP(m[1]) === 0) throw Object.assign(new Error(`--to takes HOST:PORT with an IP literal, e.g. 127.0.0.1:9000 or [::1]:9000 (got ${text})`), { code: 'ERR_INVALID_ARG_VALUE' });
  return { address: m[1], port: Number(m[2]) };
}

function typeFor(address: string): 'udp4' | 'udp6' {
  return isIP(address) === 6 ? 'udp6' : 'udp4';
}

async function send(values: Record<string, string | boolean | undefined>, rest: string[], json: boolean) {
  if (!values.to) throw Object.assign(new Error('send needs --to HOST:PORT'), { code: 'ERR_MISSING_OPTION' });
  const to = hostPort(values.to as string);
  const from = values.from as string | undefined;
  const count = Number(values.count ?? 1);
  const wait = Number(values.wait ?? 1000);
  const payload = values.size !== undefined ? Buffer.alloc(Number(values.size), 0x78) : Buffer.from(rest.join(' ') || 'hello');
  const sock = await openSocket({ type: typeFor(to.address), recvPktinfo: true });
  const control = from !== undefined || values.ifindex !== undefined
    ? { ...(from !== undefined ? { sourceAddress: from } : {}), ...(values.ifindex !== undefined ? { interfaceIndex: Number(values.ifindex) } : {}) }
    : undefined;
  for (let i = 0; i < count; i++) {
    const bytes = await sendMsg(sock, { buffers: payload, to, control });
    if (json) console.log(JSON.stringify({ sent: bytes, to, from: from ?? null }));
    else console.log(`sent ${bytes} bytes to ${to.address}:${to.port}${from ? ` from ${from}` : ''}`);
  }
  if (wait > 0) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), wait);
    try {
      for (;;) {
        const m = await recvMsg(sock, { signal: ac.signal });
        if (json) console.log(JSON.stringify({ reply: m.buffer.toString(), from: m.from, to: m.control.destinationAddress ?? null }));
        else console.log(`reply from ${m.from.address}:${m.from.port}: ${m.buffer.toString()}`);
      }
    } catch (err) {
      if (!(err instanceof WsaError && err.code === 'WSA_OPERATION_ABORTED')) throw err;
    } finally {
      clearTimeout(timer);
    }
  }
  await sock.close();
}

async function serve(values: Record<string, string | boolean | undefined>, json: boolean, echo: boolean) {
  const address = (values.address as string | undefined) ?? '0.0.0.0';
  const sock: Socket = await openSocket({
    type: typeFor(address), bind: { address, port: Number(values.port ?? 0) }, recvPktinfo: true, icmpErrors: false,
  });
  const local = sock.address();
  if (json) console.log(JSON.stringify({ listening: local }));
  else console.log(`${echo ? 'echoing' : 'listening'} on ${local.address}:${local.port}`);
  const stop = () => { void sock.close(); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  for await (const m of messages(sock)) {
    const to = m.control.destinationAddress ?? null;
    if (json) console.log(JSON.stringify({ from: m.from, to, bytes: m.bytes, truncated: m.truncated }));
    else console.log(`${m.from.address}:${m.from.port} -> ${to ?? '?'}  ${m.bytes} bytes${m.truncated ? ' (truncated)' : ''}`);
    if (echo) {
      await sendMsg(sock, { buffers: m.buffer, to: m.from, control: to ? { sourceAddress: to } : undefined }).catch((err) => {
        if (!json) console.error(`  reply failed: ${(err as Error).message}`);
      });
    }
  }
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      to: { type: 'string' }, from: { type: 'string' }, ifindex: { type: 'string' }, count: { type: 'string' },
      size: { type: 'string' }, wait: { type: 'string' }, port: { type: 'string' }, address: { type: 'string' },
      json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  const json = values.json === true;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(HELP);
    process.exit(values.help ? 0 : 2);
  }
  try {
    if (command === 'send') await send(values, rest, json);
    else if (command === 'listen') await serve(values, json, false);
    else if (command === 'echo') await serve(values, json, true);
    else if (command === 'capabilities') {
      const sock = await openSocket({ type: 'udp4' });
      const caps = { backend, platform: process.platform, ...sock.capabilities() };
      await sock.close();
      console.log(json ? JSON.stringify(caps) : Object.entries(caps).map(([k, v]) => `${k}: ${v}`).join('\n'));
    } else {
      console.error(`unknown command ${command}\n\n${HELP}`);
      process.exit(2);
    }
  } catch (err) {
    fail(err, json);
  }
}

void main();
