// The native encoder test (test/native/encode_test.cc): the real planner (src/plan.ts)
// writes each case's plan record, the real decoder and encoders build the message from it,
// and the OS's own CMSG / WSA_CMSG macros read it back. On Linux it is compiled here; for
// Windows the Wine lane (scripts/windows-lane.sh) cross-compiles it with mingw.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { WSA } from '../src/index';
import { Kind } from '../src/kind';
import { PlanMemory, planMessage, validateIpLiteral } from '../src/plan';
import { isPosix, wine } from './helpers/platform';

const root = join(__dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'sendmsg-shim-encode-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const windowsExe = join(root, 'build-win', 'encode_test.exe');

/**
 * Whether the encoder test runs here. Only the Wine lane cross-builds the Windows binary
 * (scripts/windows-lane.sh); a native Windows runner (.github/workflows/test.yml) has no
 * mingw to build it, so there the test says so and skips. In the Wine lane (Wine detected,
 * or the lane's own SENDMSG_SHIM_LANE) a missing binary stays a failure: that lane is the
 * one that proves the WSAMSG layout.
 */
function encoderRuns(here: { posix: boolean; wine: boolean; lane: string | undefined; exeExists: boolean }): boolean {
  if (here.posix || here.exeExists) return true;
  return here.wine || /wine/.test(here.lane ?? '');
}
const noWindowsBinary = !encoderRuns({ posix: isPosix, wine: Boolean(wine), lane: process.env.SENDMSG_SHIM_LANE, exeExists: existsSync(windowsExe) });

function binary(): string {
  if (!isPosix) return windowsExe;
  const uvDir = [resolve(process.execPath, '../../include/node'), '/usr/include/node', '/usr/local/include/node']
    .find((d) => existsSync(join(d, 'uv.h')));
  const out = join(work, 'encode_test');
  execFileSync('g++', ['-std=c++17', '-Wall', '-Wextra', '-Werror', `-I${uvDir}`, '-o', out,
    join(root, 'test/native/encode_test.cc'), join(root, 'native/encode.cc'), join(root, 'native/sockaddr.cc'),
    join(root, 'platform/posix/msg.cc')]);
  return out;
}

// [name, socket, to, source, ifindex, tos, want pktinfo (0/4/6), its source, its interface,
//  destination family, v4-mapped, segment size (0: none)]
type Case = [string, Kind, string, string | null, number, number, 0 | 4 | 6, string | null, number, 4 | 6, boolean, number?];
const cases: Case[] = [
  ['udp4 source', Kind.Udp4, '127.0.0.1', '127.0.0.2', 0, -1, 4, '127.0.0.2', 0, 4, false],
  ['udp4 interface only', Kind.Udp4, '127.0.0.1', null, 7, -1, 4, '0.0.0.0', 7, 4, false],
  ['udp4 no control', Kind.Udp4, '127.0.0.1', null, 0, -1, 0, null, 0, 4, false],
  ['udp6 source', Kind.Udp6, '::1', 'fd00::2', 3, -1, 6, 'fd00::2', 3, 6, false],
  ['udp6 no control', Kind.Udp6, '::1', null, 0, -1, 0, null, 0, 6, false],
  ['dual stack v4 literal + v4 source', Kind.Udp6, '127.0.0.1', '127.0.0.3', 0, -1, 4, '127.0.0.3', 0, 6, true],
  ['dual stack v4-mapped + v4-mapped source', Kind.Udp6, '::ffff:127.0.0.1', '::ffff:127.0.0.2', 0, -1, 4, '127.0.0.2', 0, 6, true],
  ['scoped IPv6 source gives the interface', Kind.Udp6, 'fe80::1', 'fe80::2%5', 0, -1, 6, 'fe80::2', 5, 6, false],
  ['udp4 source + ECN', Kind.Udp4, '127.0.0.1', '127.0.0.2', 0, 0x01, 4, '127.0.0.2', 0, 4, false],
  ['udp6 source + ECN', Kind.Udp6, '::1', '::1', 0, 0x02, 6, '::1', 0, 6, false],
  ['dual stack v4-mapped, ECN alone', Kind.Udp6, '::ffff:127.0.0.1', null, 0, 0x03, 0, null, 0, 6, true],
  ['udp6, ECN alone', Kind.Udp6, '::1', null, 0, 0x01, 0, null, 0, 6, false],
  // segmentSize: UDP_SEGMENT (Linux) / UDP_SEND_MSG_SIZE (Windows USO) per send, after the
  // other messages. Wine has no USO, so on Windows this is the only evidence of its layout.
  ['udp4 segmentSize alone', Kind.Udp4, '127.0.0.1', null, 0, -1, 0, null, 0, 4, false, 1200],
  ['udp4 source + ECN + segmentSize', Kind.Udp4, '127.0.0.1', '127.0.0.2', 0, 0x01, 4, '127.0.0.2', 0, 4, false, 1472],
  ['udp6 source + segmentSize', Kind.Udp6, '::1', '::1', 0, -1, 6, '::1', 0, 6, false, 65000],
  ['dual stack v4-mapped, segmentSize alone', Kind.Udp6, '::ffff:127.0.0.1', null, 0, -1, 0, null, 0, 6, true, 1],
];

function planned(c: Case): string {
  const [name, kind, to, source, ifindex, tos, want, wantAddr, wantIfindex, toFamily, mapped, segmentSize = 0] = c;
  const mem = new PlanMemory(1);
  const refused = planMessage(mem, 0, kind, null, {
    to: validateIpLiteral(to, 'to'), toPort: 9000, source: source === null ? null : validateIpLiteral(source, 'source'),
    ifindex, flags: 0, tos, segmentSize, split: false,
  });
  expect(refused, name).toBeNull();
  const hex = Buffer.from(mem.u8).toString('hex');
  return [name, kind, hex, want, wantAddr ?? '-', wantIfindex, toFamily, mapped ? 1 : 0, tos, segmentSize].join('\t');
}

it('the planner refuses what the encoder never sees: mixed families, before any record is written', () => {
  const mem = new PlanMemory(1);
  const base = { toPort: 9000, ifindex: 0, flags: 0, tos: -1, segmentSize: 0, split: false };
  const lit = (a: string) => validateIpLiteral(a, 'address');
  expect(planMessage(mem, 0, Kind.Udp6, null, { ...base, to: lit('::ffff:127.0.0.1'), source: lit('::1') })?.wsa).toBe(WSA.EINVAL);
  expect(planMessage(mem, 0, Kind.Udp6, null, { ...base, to: lit('::1'), source: lit('127.0.0.1') })?.wsa).toBe(WSA.EINVAL);
  expect(planMessage(mem, 0, Kind.Udp4, null, { ...base, to: lit('::1'), source: null })?.wsa).toBe(WSA.EAFNOSUPPORT);
  expect(mem.u8.every((b) => b === 0)).toBe(true);
});

const encoderTitle = `the ${isPosix ? 'msghdr' : 'WSAMSG'} encoder, read back with the OS's own CMSG macros` +
  (noWindowsBinary ? ' (skipped: build-win/encode_test.exe is built by the Wine lane only, npm run test:windows)' : '');
it.skipIf(noWindowsBinary)(encoderTitle, () => {
  const exe = binary();
  expect(existsSync(exe), `${exe} missing (the Wine lane builds it)`).toBe(true);
  const run = spawnSync(exe, [], { encoding: 'utf8', input: cases.map(planned).join('\n') + '\n' });
  const lines = run.stdout.trim().split(/\r?\n/);
  expect(lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
  expect(lines.at(-1)).toMatch(/^(\d+) passed, 0 failed$/);
  expect(Number(lines.at(-1)!.split(' ')[0])).toBeGreaterThanOrEqual(50);
  expect(run.status).toBe(0);
}, 60_000);

it('the encoder test skips on a real Windows runner without the binary, never in the Wine lane', () => {
  // The lanes as their own files name them, so that renaming one keeps this honest.
  const workflow = readFileSync(join(root, '.github', 'workflows', 'test.yml'), 'utf8');
  const runnerLane = /- os: windows-latest\s+lane: (\S+)/.exec(workflow)?.[1];
  const wineLane = /export SENDMSG_SHIM_LANE=(\S+)/.exec(readFileSync(join(root, 'scripts', 'wine', 'in-netns.sh'), 'utf8'))?.[1];
  expect(runnerLane).toBeTruthy();
  expect(wineLane).toBeTruthy();
  expect(encoderRuns({ posix: false, wine: false, lane: runnerLane, exeExists: false })).toBe(false);
  expect(encoderRuns({ posix: false, wine: false, lane: runnerLane, exeExists: true })).toBe(true);
  // In the Wine lane a missing binary must fail the test, whether Wine is detected or not.
  expect(encoderRuns({ posix: false, wine: true, lane: wineLane, exeExists: false })).toBe(true);
  expect(encoderRuns({ posix: false, wine: false, lane: wineLane, exeExists: false })).toBe(true);
  expect(encoderRuns({ posix: true, wine: false, lane: undefined, exeExists: false })).toBe(true);
});
