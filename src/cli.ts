#!/usr/bin/env node
// sendmsg-shim command line: send from a chosen source address, listen and show where
// datagrams were sent to, run the multihomed echo server, report capabilities.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';
import { backend, messages, openSocket, recvMsg, replyTo, sendMsg, WsaError, type Socket } from './index';

const LIMITS = {
  count: [1, 1_000_000],
  wait: [0, 3_600_000],
  size: [0, 65527],  // IPv6's limit; IPv4's lower one (65507) is the shim's WSAEMSGSIZE to report
  port: [0, 65535],
  ifindex: [0, 0xffffffff],
  rate: [1, 1_000_000],
} as const;
const DEFAULT_RATE = 1000;
const LOW_PORTS = 1024;
const REPLY_PREVIEW = 60;

const HELP = `sendmsg-shim <command> [options]

  send --to HOST:PORT [--from ADDR] [--ifindex N] [--count N] [--size B | DATA] [--wait MS]
        send DATA (or B bytes, 0-65527) N times (1-1000000, default 1) from source ADDR,
        then print the replies that arrive within MS milliseconds (0-3600000, default
        1000; 0 = do not wait); a reply longer than ${REPLY_PREVIEW} characters is shown cut,
        with its size, and control characters as escapes (\\x1b)
  listen [--port P] [--address A]
        print the address and port it listens on (no --port: a free port), then the
        sender and the destination address of each datagram
  echo [--port P] [--address A] [--rate N] [--allow-low-ports]
        answer each datagram from the address it was sent to (examples/echo-server.ts);
        so that it cannot be made to bounce datagrams with another UDP service forever
        (a "loop DoS", CVE-2024-2169), it does not answer:
          - datagrams from ports below ${LOW_PORTS} (echo, daytime, chargen, DNS, NTP, SNMP...),
            unless --allow-low-ports
          - datagrams that claim to come from its own address and port
          - more than N datagrams a second (1-1000000, default ${DEFAULT_RATE}; bursts of up
            to N): the rest are dropped, and counted once a second and on exit
  capabilities
        what this OS and backend can do

  --json   one JSON object per line instead of text
  --help   this text

HOST is an IP literal; IPv6 in brackets: [::1]:9000. Errors print the WSAE name and exit 1;
a bad argument prints one line and exits 2.`;

const OPTIONS = {
  to: { type: 'string' }, from: { type: 'string' }, ifindex: { type: 'string' }, count: { type: 'string' },
  size: { type: 'string' }, wait: { type: 'string' }, port: { type: 'string' }, address: { type: 'string' },
  rate: { type: 'string' }, 'allow-low-ports': { type: 'boolean' },
  json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;
type OptionName = keyof typeof OPTIONS;
type Values = Partial<Record<OptionName, string | boolean>>;

const COMMANDS: Record<string, readonly OptionName[]> = {
  send: ['to', 'from', 'ifindex', 'count', 'size', 'wait'],
  listen: ['port', 'address'],
  echo: ['port', 'address', 'rate', 'allow-low-ports'],
  capabilities: [],
};
const COMMON: readonly OptionName[] = ['json', 'help'];

// A mistyped argument is the user's to fix: it gets a line and exit 2, never a stack
// trace, and is caught before any socket is opened or buffer allocated.
class UsageError extends Error {}

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

function usage(message: string): never {
  console.error(`sendmsg-shim: ${message}\nTry 'sendmsg-shim --help' for more information.`);
  process.exit(2);
}

// Optimal string alignment: a swap of two neighbours ('--prot') is one typo, not two.
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

function didYouMean(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;  // further than two edits away is a different word, not a typo
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best === undefined ? '' : ` Did you mean '${best}'?`;
}

// Number() would take '1e12', '0x10', ' 5' and '' (as 0); only plain decimal digits are a count.
function integer(values: Values, name: keyof typeof LIMITS, fallback: number): number {
  const text = values[name] as string | undefined;
  if (text === undefined) return fallback;
  const [min, max] = LIMITS[name];
  const n = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`The argument '--${name}' must be an integer from ${min} to ${max}. Received '${text}'`);
  return n;
}

function ipLiteral(values: Values, name: 'from' | 'address'): string | undefined {
  const text = values[name] as string | undefined;
  if (text !== undefined && isIP(text) === 0) throw new UsageError(`The argument '--${name}' must be an IP literal (a host name would need DNS). Received '${text}'`);
  return text;
}

function hostPort(text: string): { address: string; port: number } {
  const m = /^\[(.+)\]:(\d{1,5})$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : 0;
  if (!m || isIP(m[1]) === 0 || port < 1 || port > 65535) {
    throw new UsageError(`The argument '--to' must be HOST:PORT with an IP literal and a port from 1 to 65535, e.g. 127.0.0.1:9000 or [::1]:9000. Received '${text}'`);
  }
  return { address: m[1], port };
}

function typeFor(address: string): 'udp4' | 'udp6' {
  return isIP(address) === 6 ? 'udp6' : 'udp4';
}

// A reply is the network's text on the user's terminal: control characters (escape
// sequences, bidi overrides) are shown as escapes, and a long one does not fill the screen.
function preview(buffer: Buffer): string {
  const chars = Array.from(buffer.toString('utf8'), (c) => {
    const code = c.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code < 0xa0)) return `\\x${code.toString(16).padStart(2, '0')}`;
    if ((code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)) return `\\u${code.toString(16)}`;
    return c;
  });
  return chars.length > REPLY_PREVIEW ? `${chars.slice(0, REPLY_PREVIEW).join('')}… (${buffer.length} bytes)` : chars.join('');
}

function sendPlan(values: Values, rest: string[]) {
  if (values.to === undefined) throw new UsageError('send needs --to HOST:PORT');
  if (values.size !== undefined && rest.length > 0) throw new UsageError(`send takes --size B or DATA, not both. Received --size ${values.size} and '${rest.join(' ')}'`);
  return {
    to: hostPort(values.to as string),
    from: ipLiteral(values, 'from'),
    ifindex: values.ifindex !== undefined ? integer(values, 'ifindex', 0) : undefined,
    count: integer(values, 'count', 1),
    wait: integer(values, 'wait', 1000),
    size: values.size !== undefined ? integer(values, 'size', 0) : undefined,
    data: rest.join(' ') || 'hello',
  };
}

async function send(plan: ReturnType<typeof sendPlan>, json: boolean) {
  const { to, from, ifindex, count, wait } = plan;
  const payload = plan.size !== undefined ? Buffer.alloc(plan.size, 0x78) : Buffer.from(plan.data);
  const sock = await openSocket({ type: typeFor(to.address), recvPktinfo: true });
  const control = from !== undefined || ifindex !== undefined
    ? { ...(from !== undefined ? { sourceAddress: from } : {}), ...(ifindex !== undefined ? { interfaceIndex: ifindex } : {}) }
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
        if (json) console.log(JSON.stringify({ reply: m.buffer.toString(), bytes: m.bytes, from: m.from, to: m.control.destinationAddress ?? null }));
        else console.log(`reply from ${m.from.address}:${m.from.port}: ${preview(m.buffer)}`);
      }
    } catch (err) {
      if (!(err instanceof WsaError && err.code === 'WSA_OPERATION_ABORTED')) throw err;
    } finally {
      clearTimeout(timer);
    }
  }
  await sock.close();
}

function servePlan(values: Values, echo: boolean) {
  return {
    address: ipLiteral(values, 'address') ?? '0.0.0.0',
    port: integer(values, 'port', 0),
    rate: integer(values, 'rate', DEFAULT_RATE),
    allowLowPorts: values['allow-low-ports'] === true,
  };
}

const unmapped = (address: string) => (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address.replace(/%.*$/, ''));

// Answering itself is a loop of one: a datagram forged from the server's own address
// and port would be echoed back to the server, forever. Bound to a wildcard, every local
// address is its own, so forging one local address to another loops just as well.
function ownAddress(bound: string): (address: string) => boolean {
  const wildcard = bound === '0.0.0.0' || bound === '::';
  const local = new Set([unmapped(bound)]);
  if (wildcard) {
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) local.add(unmapped(i.address));
  }
  return (address) => {
    const a = unmapped(address);
    return local.has(a) || (wildcard && (a === '::1' || a.startsWith('127.')));
  };
}

// Per process, not per peer: a forger can claim any number of peers, but not more
// answers than this. Each answer of a loop between two servers costs one token; when
// the loop bounces faster than the refill, the bucket empties, a datagram is dropped and
// the loop ends.
class TokenBucket {
  private tokens: number;
  private last = performance.now();
  constructor(private readonly rate: number) {
    this.tokens = rate;
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

async function serve(plan: ReturnType<typeof servePlan>, json: boolean, echo: boolean) {
  const sock: Socket = await openSocket({
    type: typeFor(plan.address), bind: { address: plan.address, port: plan.port }, recvPktinfo: true, icmpErrors: false,
  });
  const local = sock.address();
  if (json) console.log(JSON.stringify({ listening: local }));
  else console.log(`${echo ? 'echoing' : 'listening'} on ${local.address}:${local.port}`);
  const stop = () => { void sock.close(); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const own = ownAddress(local.address);
  const bucket = new TokenBucket(plan.rate);
  let answered = 0;
  const dropped = { rate: 0, lowPort: 0, self: 0 };
  const reported = { ...dropped };
  const describe = (d: typeof dropped) =>
    `${d.rate + d.lowPort + d.self} datagrams unanswered (${d.rate} over --rate ${plan.rate}/s, ${d.lowPort} from ports below ${LOW_PORTS}, ${d.self} from itself)`;
  // A flood must not become a flood of log lines: drops are summed, and said once a second.
  const report = () => {
    const delta = { rate: dropped.rate - reported.rate, lowPort: dropped.lowPort - reported.lowPort, self: dropped.self - reported.self };
    if (delta.rate + delta.lowPort + delta.self === 0) return;
    Object.assign(reported, dropped);
    if (json) console.log(JSON.stringify({ dropped: delta }));
    else console.error(describe(delta));
  };
  const timer = echo ? setInterval(report, 1000).unref() : undefined;
  for await (const m of messages(sock)) {
    const to = m.control.destinationAddress ?? null;
    if (echo) {
      // The address it was sent to is one of its own, whatever the bind and the interface list say.
      if (m.from.port === local.port && (own(m.from.address) || (to !== null && unmapped(to) === unmapped(m.from.address)))) {
        dropped.self++;
        continue;
      }
      if (m.from.port < LOW_PORTS && !plan.allowLowPorts) {
        dropped.lowPort++;
        continue;
      }
      if (!bucket.take()) {
        dropped.rate++;
        continue;
      }
      answered++;
    }
    if (json) console.log(JSON.stringify({ from: m.from, to, bytes: m.bytes, truncated: m.truncated }));
    else console.log(`${m.from.address}:${m.from.port} -> ${to ?? '?'}  ${m.bytes} bytes${m.truncated ? ' (truncated)' : ''}`);
    if (echo) {
      await sendMsg(sock, { buffers: m.buffer, ...replyTo(m) }).catch((err) => {
        if (!json) console.error(`  reply failed: ${(err as Error).message}`);
      });
    }
  }
  if (timer) {
    clearInterval(timer);
    if (json) console.log(JSON.stringify({ stopped: { answered, dropped } }));
    else console.log(`stopped: ${answered} answered, ${describe(dropped)}`);
  }
}

function parse(args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: OPTIONS });
  } catch (err) {
    const e = err as Error & { code?: string };
    if (!e.code?.startsWith('ERR_PARSE_ARGS')) throw err;
    const unknown = /^Unknown option '([^']+)'/.exec(e.message);
    if (unknown) {
      // The command's own options first: on a tie, they are the likelier meaning.
      const command = args.find((a) => Object.hasOwn(COMMANDS, a));
      const names = [...(command ? COMMANDS[command] : []), ...COMMON, ...(Object.keys(OPTIONS) as OptionName[])];
      const long = [...new Set(names)].map((o) => `--${o}`);
      throw new UsageError(`Unknown option '${unknown[1]}'.${didYouMean(unknown[1].replace(/=.*$/, ''), long)}`);
    }
    throw new UsageError(e.message.replace(/\s*\n\s*/g, ' '));
  }
  const values = parsed.values as Values;
  const [command, ...rest] = parsed.positionals;
  if (values.help) return { help: true as const };
  if (command === undefined) throw new UsageError('a command is needed: send, listen, echo or capabilities');
  const allowed = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!allowed) throw new UsageError(`Unknown command '${command}'.${didYouMean(command, Object.keys(COMMANDS))}`);
  for (const name of Object.keys(values) as OptionName[]) {
    if (!allowed.includes(name) && !COMMON.includes(name)) throw new UsageError(`'--${name}' is not an option of '${command}'`);
  }
  if (command !== 'send' && rest.length > 0) throw new UsageError(`'${command}' takes no arguments. Received '${rest.join(' ')}'`);
  return { help: false as const, command, values, rest, json: values.json === true };
}

async function main() {
  try {
    const cmd = parse(process.argv.slice(2));
    if (cmd.help) {
      console.log(HELP);
      return;
    }
    const { command, values, rest, json } = cmd;
    // Every argument is checked before anything is opened, allocated or sent.
    const sendArgs = command === 'send' ? sendPlan(values, rest) : undefined;
    const serveArgs = command === 'listen' || command === 'echo' ? servePlan(values, command === 'echo') : undefined;
    try {
      if (sendArgs) await send(sendArgs, json);
      else if (serveArgs) await serve(serveArgs, json, command === 'echo');
      else {
        const sock = await openSocket({ type: 'udp4' });
        const caps = { backend, platform: process.platform, ...sock.capabilities() };
        await sock.close();
        console.log(json ? JSON.stringify(caps) : Object.entries(caps).map(([k, v]) => `${k}: ${v}`).join('\n'));
      }
    } catch (err) {
      fail(err, json);
    }
  } catch (err) {
    if (err instanceof UsageError) usage(err.message);
    throw err;
  }
}

void main();
