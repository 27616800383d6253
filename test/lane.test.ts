// Each CI lane names the implementation it means to test (SENDMSG_SHIM_TEST_IMPLEMENTATION,
// default the addon), so that a lane cannot silently test the other one: a failed addon
// build falling back to ffi-rs must fail the addon lane, not pass it on the wrong backend.
// SENDMSG_SHIM_TEST_ADDON=prebuild|build names which addon file the lane means: the
// prebuilt one shipped in the package, or a local build (CI tests the prebuilds).
import { sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { implementation, backend } from '../src/index';
import { addonFile } from '../src/binding';

const wanted = process.env.SENDMSG_SHIM_TEST_IMPLEMENTATION ?? 'addon';
const wantedFile = process.env.SENDMSG_SHIM_TEST_ADDON;

describe('the implementation under test', () => {
  it(`is ${wanted} (${process.platform}-${process.arch})`, () => {
    expect(implementation).toBe(wanted);
    expect(backend).toBe(process.platform === 'win32' ? 'win32' : 'posix');
  });

  it.runIf(wantedFile && wanted === 'addon')(`loads the ${wantedFile} addon`, () => {
    const where = wantedFile === 'prebuild' ? `${sep}prebuilds${sep}${process.platform}-${process.arch}${sep}` : `${sep}build${sep}`;
    expect(addonFile).toContain(where);
  });
});
