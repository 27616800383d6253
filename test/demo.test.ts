// The README promises `npm run demo` shows the source-address table; keep it true.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { itControlData } from './helpers/platform';

itControlData('npm run demo shows every datagram from its own source address, and two WSAE errors', () => {
  const root = join(__dirname, '..');
  const out = execFileSync(process.execPath, [join(root, 'examples/demo.mjs')], { cwd: root, encoding: 'utf8' });
  expect(out).toMatch(/v4 from \.2\s+127\.0\.0\.2\s+127\.0\.0\.2/);
  expect(out).toMatch(/v6 from ::1\s+::1\s+::1/);
  expect(out).toMatch(/WSAEMSGSIZE \(10040\)/);
  expect(out).toMatch(/WSAENOTCONN \(10057\)/);
  expect(out).toContain('Every datagram arrived from the source address it asked for.');
});
