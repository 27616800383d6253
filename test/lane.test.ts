// Each CI lane names the implementation it means to test (SENDMSG_SHIM_TEST_IMPLEMENTATION,
// default the addon), so that a lane cannot silently test the other one: a failed addon
// build falling back to ffi-rs must fail the addon lane, not pass it on the wrong backend.
import { describe, expect, it } from 'vitest';
import { implementation, backend } from '../src/index';

const wanted = process.env.SENDMSG_SHIM_TEST_IMPLEMENTATION ?? 'addon';

describe('the implementation under test', () => {
  it(`is ${wanted} (${process.platform}-${process.arch})`, () => {
    expect(implementation).toBe(wanted);
    expect(backend).toBe(process.platform === 'win32' ? 'win32' : 'posix');
  });
});
