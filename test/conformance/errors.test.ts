// Error parity on Linux, condition by condition, through openSocket/sendMsg/sendMsgSync
// only, against the real kernel: the errno-lab recipes (../shared/reference/errno-lab)
// rebuilt with namespaces this run creates. Loopback-only rows live in test/send.test.ts;
// docs/errors.md lists which test proves each row.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, netnsAvailable, netnsSkipReason } from '../helpers/netns';

type Step = Record<string, unknown>;
type Result = { ok?: boolean; bytes?: number; accepted?: number; code?: string; errno?: number; sysCode?: string | null; syscall?: string; ms?: number; icmp?: unknown; message?: string };
interface ReceiverResult { seqs: number[]; sources: string[] }

const hasNft = spawnSync('nft', ['--version']).status === 0;

describe.skipIf(!netnsAvailable)(`WSAE conformance lab${netnsAvailable ? '' : ` (skipped: ${netnsSkipReason})`}`, () => {
  const lab = new NetnsLab();
  let A: string; // the sender
  let B: string; // a router and the receivers' side
  let C: string; // a host behind B
  let L: string; // only lo, two ephemeral ports

  const run = (steps: Step[], ns = A) => lab.run<Result[]>(ns, 'steps.cjs', steps, 30_000);
  const sysctl = (ns: string, ...kv: string[]) => lab.ip('netns', 'exec', ns, 'sysctl', '-qw', ...kv);
  const nsIp = (ns: string, ...args: string[]) => lab.ip('-n', ns, ...args);

  beforeAll(() => {
    A = lab.ns('a');
    B = lab.ns('b');
    C = lab.ns('c');
    L = lab.ns('l');
    sysctl(L, 'net.ipv4.ip_local_port_range=40000 40001');
    // Link 1: A <-> B, B routes for A. Link 2: mtu 1280. Link 3: tbf that overflows.
    // Link 4: slow tbf with room (blocking sends wait). Link 5: administratively down.
    lab.veth(A, B, 1);
    nsIp(A, 'addr', 'add', 'fd00:77:1::1/64', 'dev', 'va1', 'nodad');
    nsIp(B, 'addr', 'add', 'fd00:77:1::2/64', 'dev', 'vb1', 'nodad');
    lab.veth(A, B, 2);
    nsIp(A, 'link', 'set', 'va2', 'mtu', '1280');
    nsIp(B, 'link', 'set', 'vb2', 'mtu', '1280');
    nsIp(A, 'addr', 'add', 'fd00:77:2::1/64', 'dev', 'va2', 'nodad');
    nsIp(B, 'addr', 'add', 'fd00:77:2::2/64', 'dev', 'vb2', 'nodad');
    lab.veth(A, B, 3);
    lab.tc(A, 'qdisc', 'add', 'dev', 'va3', 'root', 'tbf', 'rate', '8kbit', 'burst', '1600', 'limit', '3000');
    lab.veth(A, B, 4);
    lab.tc(A, 'qdisc', 'add', 'dev', 'va4', 'root', 'tbf', 'rate', '8kbit', 'burst', '1600', 'limit', '100000');
    lab.veth(A, B, 5);
    nsIp(A, 'link', 'set', 'va5', 'down');
    // An interface with no address at all (EADDRNOTAVAIL for link-local multicast on it).
    nsIp(A, 'link', 'add', 'noaddr0', 'type', 'veth', 'peer', 'name', 'noaddr1', 'netns', B);
    nsIp(A, 'link', 'set', 'noaddr0', 'addrgenmode', 'none');
    nsIp(B, 'link', 'set', 'noaddr1', 'up');
    nsIp(A, 'link', 'set', 'noaddr0', 'up');
    // B forwards to C (10.77.9.0/24) and answers for two more prefixes with ICMP.
    nsIp(B, 'link', 'add', 'vc0', 'type', 'veth', 'peer', 'name', 'vc1', 'netns', C);
    nsIp(B, 'addr', 'add', '10.77.9.254/24', 'dev', 'vc0');
    nsIp(C, 'addr', 'add', '10.77.9.1/24', 'dev', 'vc1');
    nsIp(B, 'link', 'set', 'vc0', 'up');
    nsIp(C, 'link', 'set', 'vc1', 'up');
    nsIp(C, 'route', 'add', 'default', 'via', '10.77.9.254');
    sysctl(B, 'net.ipv4.ip_forward=1', 'net.ipv4.icmp_ratemask=0');
    sysctl(C, 'net.ipv4.icmp_ratemask=0');
    nsIp(B, 'route', 'add', 'unreachable', '10.77.8.0/24');
    nsIp(B, 'route', 'add', 'prohibit', '10.77.10.0/24');
    nsIp(B, 'route', 'add', 'default', 'via', '10.77.1.1');
    for (const net of ['10.77.8.0/24', '10.77.9.0/24', '10.77.10.0/24']) nsIp(A, 'route', 'add', net, 'via', '10.77.1.2');
    // Local route types in A (no default route there: anything else is unreachable).
    nsIp(A, 'route', 'add', 'unreachable', '10.78.1.0/24');
    nsIp(A, 'route', 'add', 'prohibit', '10.78.2.0/24');
    nsIp(A, 'route', 'add', 'blackhole', '10.78.3.0/24');
    nsIp(A, '-6', 'route', 'add', 'unreachable', 'fd00:78:1::/48');
    nsIp(A, '-6', 'route', 'add', 'prohibit', 'fd00:78:2::/48');
    nsIp(A, '-6', 'route', 'add', 'blackhole', 'fd00:78:3::/48');
    if (hasNft) {
      const rules = ['table inet smstest {', '  chain out {', '    type filter hook output priority 0;',
        '    ip daddr 10.77.1.2 udp dport 7001 drop', '    ip daddr 10.77.1.2 udp dport 7002 reject', '  }', '}', ''].join('\n');
      const r = spawnSync('ip', ['netns', 'exec', A, 'nft', '-f', '-'], { input: rules, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`nft: ${r.stderr}`);
    }
  });
  afterAll(() => lab.destroy());

  const udp4 = (extra: Record<string, unknown> = {}): Step => ({ op: 'open', id: 's', opts: { type: 'udp4', ...extra } });
  const udp6 = (extra: Record<string, unknown> = {}): Step => ({ op: 'open', id: 's', opts: { type: 'udp6', ...extra } });
  const send = (to: [string, number], extra: Record<string, unknown> = {}): Step => ({ op: 'send', id: 's', to, ...extra });
  const sleep = (ms: number): Step => ({ op: 'sleep', ms });
  const expectCode = (r: Result, code: string, errno: number, sysCode?: string | null) => {
    expect(r, JSON.stringify(r)).toMatchObject({ code, errno, ...(sysCode === undefined ? {} : { sysCode }) });
  };

  describe('WSAEACCES', () => {
    it('prohibit route (EACCES), IPv4 and IPv6', async () => {
      const [, r] = await run([udp4(), send(['10.78.2.1', 9])]);
      expectCode(r, 'WSAEACCES', 10013, 'EACCES');
      const [, r6] = await run([udp6(), send(['fd00:78:2::1', 9], { sync: true })]);
      expectCode(r6, 'WSAEACCES', 10013, 'EACCES');
    });

    it.skipIf(!hasNft)(`nftables drop and reject (EPERM), nothing delivered${hasNft ? '' : ' (skipped: nft missing)'}`, async () => {
      const rx1 = lab.start<ReceiverResult>(B, 'receiver.cjs', { address: '10.77.1.2', port: 7001, idleMs: 300, maxMs: 1500 });
      const rx2 = lab.start<ReceiverResult>(B, 'receiver.cjs', { address: '10.77.1.2', port: 7002, idleMs: 300, maxMs: 1500 });
      await Promise.all([rx1.ready, rx2.ready]);
      const [, drop, reject] = await run([udp4(), send(['10.77.1.2', 7001]), send(['10.77.1.2', 7002], { sync: true })]);
      expectCode(drop, 'WSAEACCES', 10013, 'EPERM');
      expectCode(reject, 'WSAEACCES', 10013, 'EPERM');
      expect((await rx1.result).seqs).toEqual([]);
      expect((await rx2.result).seqs).toEqual([]);
    });
  });

  describe('WSAECONNRESET and icmpErrors', () => {
    it('unconnected: port unreachable fails the next send to any destination, exactly once', async () => {
      const rx = lab.start<ReceiverResult>(B, 'receiver.cjs', { address: '10.77.1.2', port: 7200, idleMs: 500, maxMs: 3000 });
      await rx.ready;
      const r = await run([udp4({ icmpErrors: true }), send(['10.77.1.2', 7100], { seq: 1 }), sleep(100),
        send(['10.77.1.2', 7200], { seq: 2 }), send(['10.77.1.2', 7200], { seq: 3 })]);
      expect(r[1]).toMatchObject({ ok: true });
      expectCode(r[3], 'WSAECONNRESET', 10054, 'ECONNREFUSED');
      // The error names the healthy destination it failed, and the earlier one that refused.
      expect(r[3]).toMatchObject({ icmp: { address: '10.77.1.2', port: 7100, type: 3, code: 3, reporter: '10.77.1.2' } });
      expect(r[3].message).toMatch(/ 10\.77\.1\.2:7200 \(reported by ICMP for an earlier datagram to 10\.77\.1\.2:7100, from 10\.77\.1\.2\)$/);
      expect(r[4]).toMatchObject({ ok: true });
      expect((await rx.result).seqs).toEqual([3]);  // the failed call's datagram was not sent
    });

    it('IPv6 too: ICMPv6 port unreachable fails the next send with WSAECONNRESET', async () => {
      const r = await run([udp6({ icmpErrors: true }), send(['fd00:77:1::2', 7100]), sleep(100), send(['fd00:77:1::2', 7100]), send(['10.77.1.99', 9])]);
      expect(r[1]).toMatchObject({ ok: true });
      expectCode(r[3], 'WSAECONNRESET', 10054, 'ECONNREFUSED');
      expect(r[4]).toMatchObject({ ok: true });
    });

    for (const opts of [{}, { icmpErrors: false }]) {
      it(`${JSON.stringify(opts)} keeps unconnected sockets quiet (SIO_UDP_CONNRESET off): the default`, async () => {
        const r = await run([udp4(opts), send(['10.77.1.2', 7100]), sleep(100), send(['10.77.1.2', 7100]), send(['10.77.8.1', 9]), sleep(100), send(['10.77.1.2', 7100])]);
        expect(r.filter((x) => !x.ok)).toEqual([]);
        const r6 = await run([udp6(opts), send(['fd00:77:1::2', 7100]), sleep(100), send(['fd00:77:1::2', 7100])]);
        expect(r6.filter((x) => !x.ok)).toEqual([]);
      });
    }
  });

  it('WSAEINTR: a signal with a JS handler interrupts a blocking sendMsgSync wait', async () => {
    const [, , r] = await run([udp4({ sendBufferSize: 1 }), { op: 'signalAfter', ms: 300 },
      send(['10.77.4.99', 9], { size: 1000, sync: true, untilError: 20 })]);
    // Only poll(2) in the blocking wait can give EINTR here: the send had been waiting.
    expectCode(r, 'WSAEINTR', 10004, 'EINTR');
  });

  it('WSAEINVAL: blackhole route, IPv4 and IPv6', async () => {
    const [, r, r6] = await run([udp6(), send(['10.78.3.1', 9]), send(['fd00:78:3::1', 9])]);
    expectCode(r, 'WSAEINVAL', 10022, 'EINVAL');
    expectCode(r6, 'WSAEINVAL', 10022, 'EINVAL');
  });

  it('WSAEMSGSIZE: dontFragment above a 1280 path MTU; the largest fitting datagram passes', async () => {
    const rx = lab.start<ReceiverResult>(B, 'receiver.cjs', { address: '10.77.2.2', port: 7300, idleMs: 400, maxMs: 3000 });
    const rx6 = lab.start<ReceiverResult>(B, 'receiver.cjs', { address: 'fd00:77:2::2', port: 7301, idleMs: 400, maxMs: 3000, type: 'udp6' });
    await Promise.all([rx.ready, rx6.ready]);
    const r = await run([udp6({ dontFragment: true }),
      send(['10.77.2.2', 7300], { size: 1253, seq: 1 }), send(['10.77.2.2', 7300], { size: 1252, seq: 2 }),
      send(['fd00:77:2::2', 7301], { size: 1233, seq: 3, sync: true }), send(['fd00:77:2::2', 7301], { size: 1232, seq: 4 })]);
    expectCode(r[1], 'WSAEMSGSIZE', 10040, 'EMSGSIZE');
    expect(r[2]).toMatchObject({ ok: true, bytes: 1252 });
    expectCode(r[3], 'WSAEMSGSIZE', 10040, 'EMSGSIZE');
    expect(r[4]).toMatchObject({ ok: true, bytes: 1232 });
    expect((await rx.result).seqs).toEqual([2]);
    expect((await rx6.result).seqs).toEqual([4]);
    // Without dontFragment the same datagram is fragmented and sent.
    const [, big] = await run([udp4(), send(['10.77.2.99', 9], { size: 1400 })]);
    expect(big).toMatchObject({ ok: true, bytes: 1400 });
  });

  it('WSAENETUNREACH: no route (v4, v6); an administratively down interface', async () => {
    const r = await run([udp6(), send(['198.51.100.1', 9]), send(['2001:db8::1', 9], { sync: true }), send(['10.77.5.2', 9])]);
    expectCode(r[1], 'WSAENETUNREACH', 10051, 'ENETUNREACH');
    expectCode(r[2], 'WSAENETUNREACH', 10051, 'ENETUNREACH');
    // Windows would say WSAENETDOWN; Linux's route lookup fails first (docs/errors.md).
    expectCode(r[3], 'WSAENETUNREACH', 10051, 'ENETUNREACH');
  });

  describe('WSAEHOSTUNREACH', () => {
    it('unreachable route, IPv4 and IPv6', async () => {
      const [, r, r6] = await run([udp6(), send(['10.78.1.1', 9]), send(['fd00:78:1::1', 9], { sync: true })]);
      expectCode(r, 'WSAEHOSTUNREACH', 10065, 'EHOSTUNREACH');
      expectCode(r6, 'WSAEHOSTUNREACH', 10065, 'EHOSTUNREACH');
    });

    it('ICMP host unreachable and admin-prohibited from a router fail the next send', async () => {
      const r = await run([udp4({ icmpErrors: true }), send(['10.77.8.1', 9]), sleep(150), send(['10.77.1.2', 9]),
        send(['10.77.10.1', 9]), sleep(150), send(['10.77.1.99', 9])]);
      expect(r[1]).toMatchObject({ ok: true });
      expectCode(r[3], 'WSAEHOSTUNREACH', 10065, 'EHOSTUNREACH');
      expect(r[4]).toMatchObject({ ok: true });
      expectCode(r[6], 'WSAEHOSTUNREACH', 10065, 'EHOSTUNREACH');
    });
  });

  it('WSAENETRESET: TTL expiry at a router (ICMP time exceeded) fails the next send', async () => {
    const r = await run([udp4({ ttl: 1, icmpErrors: true }), send(['10.77.9.1', 9]), sleep(150), send(['10.77.1.99', 9]), send(['10.77.1.99', 9])]);
    expect(r[1]).toMatchObject({ ok: true });
    expectCode(r[3], 'WSAENETRESET', 10052, 'EHOSTUNREACH');
    expect(r[3]).toMatchObject({ icmp: { address: '10.77.9.1', port: 9, type: 11, code: 0 } });
    expect(r[4]).toMatchObject({ ok: true });
    // With ttl 2 the datagram reaches C, which answers port unreachable instead.
    const r2 = await run([udp4({ ttl: 2, icmpErrors: true }), send(['10.77.9.1', 9]), sleep(150), send(['10.77.1.99', 9])]);
    expectCode(r2[3], 'WSAECONNRESET', 10054, 'ECONNREFUSED');
  });

  describe('WSAENOBUFS', () => {
    it('a qdisc that overflows', async () => {
      const [, r] = await run([udp4({ nonBlocking: true, sendBufferSize: 1 << 20, icmpErrors: true }),
        send(['10.77.3.99', 9], { size: 1400, sync: true, untilError: 30 })]);
      expectCode(r, 'WSAENOBUFS', 10055, 'ENOBUFS');
      expect(r.accepted).toBeGreaterThan(0);  // the qdisc took a few first
    });

    it('no ephemeral port left (EAGAIN while autobinding)', async () => {
      const r = await run([
        { op: 'open', id: 'p1', opts: { type: 'udp4', bind: { address: '127.0.0.1' } } },
        { op: 'open', id: 'p2', opts: { type: 'udp4', bind: { address: '127.0.0.1' } } },
        udp4(), send(['127.0.0.1', 9], { sync: true }), send(['127.0.0.1', 9]),
      ], L);
      expectCode(r[3], 'WSAENOBUFS', 10055, 'EAGAIN');
      expectCode(r[4], 'WSAENOBUFS', 10055, 'EAGAIN');
    });
  });

  it('WSAEADDRNOTAVAIL: IPv6 link-local multicast on an interface without addresses', async () => {
    const [, r] = await run([udp6(), send(['ff02::1%noaddr0', 9])]);
    expectCode(r, 'WSAEADDRNOTAVAIL', 10049, 'EADDRNOTAVAIL');
  });
});
