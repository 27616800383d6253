// The prebuilt addons that ship in the package (npm run prebuild), read from the real files:
// each is for the machine its folder names, the Linux ones load on glibc 2.28 (Node 20's
// floor) with no libstdc++ or libgcc_s, and the Windows one imports Node-API from no DLL by
// name (so a renamed node.exe or Electron can load it). Without prebuilds/ (a checkout where
// `npm run prebuild` has not run) this skips visibly; CI sets SENDMSG_SHIM_REQUIRE_PREBUILDS=1,
// and then a missing prebuild fails.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { elfNeeds, kindOf, newestGlibc, peImportsExports, portabilityProblems, PREBUILDS } from './helpers/binaries';
import { isPosix, wine } from './helpers/platform';

const root = join(__dirname, '..');
const required = process.env.SENDMSG_SHIM_REQUIRE_PREBUILDS === '1';
const complete = Object.values(PREBUILDS).every((p) => existsSync(join(root, p.file)));
const run = isPosix && !wine && (required || complete);
const why = !isPosix || wine ? 'reads the files with binutils on Linux' : 'no prebuilds/ here: npm run prebuild';

describe.skipIf(!run)(`prebuilt addons${run ? '' : ` (skipped: ${why})`}`, () => {
  for (const [target, p] of Object.entries(PREBUILDS)) {
    it(`${target}: ${p.file} is an ${p.kind}`, () => {
      expect(existsSync(join(root, p.file))).toBe(true);
      expect(kindOf(join(root, p.file))).toBe(p.kind);
    });
  }

  for (const target of ['linux-x64', 'linux-arm64'] as const) {
    it(`${target}: no libstdc++/libgcc_s, no GLIBC symbol newer than 2.28`, () => {
      const file = join(root, PREBUILDS[target].file);
      expect(portabilityProblems(file)).toEqual([]);
      const { needed, versions } = elfNeeds(file);
      expect(needed).toContain('libc.so.6');
      // It does ask glibc for versioned symbols: the check above has something to read.
      expect(newestGlibc(versions)[0]).toBe(2);
    });
  }

  it('the portability check fails a file that needs the C++ runtime and a newer glibc', () => {
    // A real library that breaks both rules: the check must say so, or it proves nothing.
    const libstdcxx = ['/usr/lib/x86_64-linux-gnu/libstdc++.so.6', '/usr/lib/aarch64-linux-gnu/libstdc++.so.6'].find((f) => existsSync(f));
    expect(libstdcxx).toBeDefined();
    const problems = portabilityProblems(libstdcxx!);
    expect(problems).toContain('NEEDED libgcc_s.so.1');
    expect(problems.some((p) => /^needs GLIBC_2\.(29|[3-9]\d)$/.test(p))).toBe(true);
  });

  it('win32-x64: imports Node-API from no DLL by name, only from system DLLs, and exports the module init', () => {
    const { dlls, exports } = peImportsExports(join(root, PREBUILDS['win32-x64'].file));
    expect(dlls.map((d) => d.toLowerCase()).sort()).toEqual(['iphlpapi.dll', 'kernel32.dll', 'msvcrt.dll', 'ws2_32.dll']);
    expect(exports).toContain('napi_register_module_v1');
    expect(exports.filter((e) => e.startsWith('napi_') && e !== 'napi_register_module_v1')).toEqual([]);
  });
});
