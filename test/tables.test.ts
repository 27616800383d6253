// The error table is written once (native/errors.def); check that every view of it agrees.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WSA, WsaError } from '../src/index';
import { binding } from '../src/binding';
import { WSA_TABLE } from '../src/wsa.generated';

const root = join(__dirname, '..');

describe('one error table', () => {
  it('an NTSTATUS (negative as an int) is shown in hex', () => {
    expect(new WsaError(WSA.OPERATION_ABORTED, { sysErrno: 0xc0000120 | 0 }).sysCode).toBe('0xC0000120');
  });

  it('the native table and the TS table are the same rows in the same order', () => {
    expect(binding.errorTable()).toEqual(WSA_TABLE.map((row) => [...row]));
  });

  it('src/wsa.generated.ts and src/errno.generated.ts are up to date with native/errors.def and errno.def', () => {
    execFileSync(process.execPath, [join(root, 'scripts/gen-errors.mjs'), '--check']);
  });

  it('has the 20 WSASendMsg codes plus the added ones, with Winsock numbers', () => {
    const names = WSA_TABLE.map((r) => r[0]);
    for (const n of ['WSAEACCES', 'WSAECONNRESET', 'WSAEFAULT', 'WSAEINPROGRESS', 'WSAEINTR', 'WSAEINVAL', 'WSAEMSGSIZE',
      'WSAENETDOWN', 'WSAENETRESET', 'WSAENETUNREACH', 'WSAENOBUFS', 'WSAENOTCONN', 'WSAENOTSOCK', 'WSAEOPNOTSUPP',
      'WSAESHUTDOWN', 'WSAETIMEDOUT', 'WSAEWOULDBLOCK', 'WSANOTINITIALISED', 'WSA_IO_PENDING', 'WSA_OPERATION_ABORTED',
      'WSAEHOSTUNREACH', 'WSAEADDRNOTAVAIL', 'WSAEAFNOSUPPORT']) expect(names).toContain(n);
    expect(WSA.EMSGSIZE).toBe(10040);
    expect(WSA.NOTINITIALISED).toBe(10093);
    expect(WSA.IO_PENDING).toBe(997);
    expect(WSA.OPERATION_ABORTED).toBe(995);
    expect(new Set(WSA_TABLE.map((r) => r[1])).size).toBe(WSA_TABLE.length);
    // Documented as never raised on Linux.
    const never = WSA_TABLE.filter((r) => !r[3]).map((r) => r[0]);
    expect(never).toEqual(['WSANOTINITIALISED', 'WSA_IO_PENDING']);
  });

  it('every code either backend can produce is in the table (errors.cc and errno.def name only known codes)', () => {
    const names = new Set(WSA_TABLE.map((r) => r[0]));
    for (const platform of ['posix', 'win32']) {
      // posix's errno and ICMP rows live in native/errno.def, shared with the ffi-rs backend.
      const extra = platform === 'posix' ? readFileSync(join(root, 'native/errno.def'), 'utf8') : '';
      const src = readFileSync(join(root, `platform/${platform}/errors.cc`), 'utf8') + extra.replace(/(\w+_WSA\(.*?), (WSA\w+)\)/g, '$1, $2_)');
      const used = new Set([...src.matchAll(/\b(WSA\w+?)_\b/g)].map((m) => m[1]));
      expect(used.size).toBeGreaterThan(15);
      for (const u of used) expect(names).toContain(u);
    }
  });

  it('WsaError has the documented shape', () => {
    const sysErrno = constants.errno.EMSGSIZE;  // 90 on Linux
    const e = new WsaError(WSA.EMSGSIZE, { sysErrno, syscall: 'sendmsg', address: '127.0.0.1', port: 9000 });
    expect(e).toBeInstanceOf(Error);
    expect({ ...e, message: e.message }).toEqual({
      name: 'WsaError', code: 'WSAEMSGSIZE', errno: 10040, syscall: 'sendmsg', sysErrno, sysCode: 'EMSGSIZE',
      address: '127.0.0.1', port: 9000, message: 'sendmsg WSAEMSGSIZE: message too long 127.0.0.1:9000',
    });
  });
});
