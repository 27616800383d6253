// What the running backend is, and the one way tests skip what Wine cannot show.
import { it } from 'vitest';
import { binding } from '../../src/binding';

export const isWindows = binding.platform === 'win32';
export const isPosix = binding.platform === 'posix';
/** Wine's version when the suite runs in Windows node.exe under Wine. */
export const wine = binding.wineVersion;
/** The syscall a send error names: 'sendmsg' or 'WSASendMsg'. */
export const sendSyscall = binding.sendSyscall;

/** The marker the summary reporter counts: skipped only under Wine, so not proven on Windows yet. */
export const UNVERIFIED = 'unverified on real Windows';

/**
 * A test Wine cannot pass (Wine drops send-side control data and ignores MSG_PARTIAL).
 * It runs on Linux and on real Windows; under Wine it is skipped and listed as unverified.
 */
export function itUnlessWine(why: string) {
  return (name: string, fn: () => unknown, timeout?: number) =>
    wine ? it.skip(`${name} [${UNVERIFIED}: ${why}]`, fn) : it(name, fn, timeout);
}
/** Wine drops WSASendMsg control data, so the source address cannot be checked there. */
export const itControlData = itUnlessWine('Wine drops WSASendMsg control data');

/** What the OS said, on the OS whose names the test knows (Linux errno names). */
export function posixSysCode(linuxName: string): Record<string, string> {
  return isPosix ? { sysCode: linuxName } : {};
}
