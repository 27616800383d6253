// The native encoder test (test/native/encode_test.cc): the real encoders build the
// message, the OS's own CMSG / WSA_CMSG macros read it back. On Linux it is compiled here;
// for Windows the Wine lane (scripts/windows-lane.sh) cross-compiles it with mingw.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { isPosix } from './helpers/platform';

const root = join(__dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'sendmsg-shim-encode-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function binary(): string {
  if (!isPosix) return join(root, 'build-win', 'encode_test.exe');
  const uvDir = [resolve(process.execPath, '../../include/node'), '/usr/include/node', '/usr/local/include/node']
    .find((d) => existsSync(join(d, 'uv.h')));
  const out = join(work, 'encode_test');
  execFileSync('g++', ['-std=c++17', '-Wall', '-Wextra', '-Werror', `-I${uvDir}`, '-o', out,
    join(root, 'test/native/encode_test.cc'), join(root, 'native/encode.cc'), join(root, 'native/sockaddr.cc'),
    join(root, 'platform/posix/msg.cc')]);
  return out;
}

it(`the ${isPosix ? 'msghdr' : 'WSAMSG'} encoder, read back with the OS's own CMSG macros`, () => {
  const exe = binary();
  expect(existsSync(exe), `${exe} missing (the Wine lane builds it)`).toBe(true);
  const run = spawnSync(exe, [], { encoding: 'utf8' });
  const lines = run.stdout.trim().split(/\r?\n/);
  expect(lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
  expect(lines.at(-1)).toMatch(/^(\d+) passed, 0 failed$/);
  expect(Number(lines.at(-1)!.split(' ')[0])).toBeGreaterThanOrEqual(50);
  expect(run.status).toBe(0);
}, 60_000);
