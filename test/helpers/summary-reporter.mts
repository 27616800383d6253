// Prints one plain closing line, "N passed, N failed, N skipped", after vitest's own
// report, so that any log reader (and CI) can count the run without parsing colours; and
// writes the lane report, reports/lane-<lane>.json: every test by name with its state, the
// data `npm run matrix` turns into docs/platform-matrix.md (what is proven where).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

/** @internal One lane's results, as scripts/matrix.mjs reads them. */
export interface LaneReport {
  lane: string;
  platform: string;
  arch: string;
  node: string;
  implementation: string;
  tests: Array<{ file: string; name: string; state: 'passed' | 'failed' | 'skipped' }>;
}

/**
 * The lane's name: SENDMSG_SHIM_LANE where a lane script or a workflow sets it, else what
 * this run is (platform, arch, implementation, sanitizer).
 */
function laneName(): string {
  if (process.env.SENDMSG_SHIM_LANE) return process.env.SENDMSG_SHIM_LANE;
  const impl = process.env.SENDMSG_SHIM_TEST_IMPLEMENTATION === 'ffi' ? 'ffi' : 'addon';
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return `${os}-${process.arch}-${impl}${process.env.SHIM_SANITIZER ? '-asan' : ''}`;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const skippedNames: string[] = [];
    const tests: LaneReport['tests'] = [];
    for (const mod of modules) {
      const file = relative(process.cwd(), mod.moduleId).split('\\').join('/');
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else {
          skipped++;
          skippedNames.push(test.fullName);
        }
        tests.push({ file, name: test.fullName, state: state === 'passed' || state === 'failed' ? state : 'skipped' });
      }
    }
    const unverified = skippedNames.filter((n) => n.includes('unverified on real Windows'));
    const other = skippedNames.filter((n) => !unverified.includes(n));
    if (other.length) console.log(`skipped:\n${other.map((n) => `  - ${n}`).join('\n')}`);
    if (unverified.length) {
      console.log(`unverified on real Windows (skipped under Wine only): ${unverified.length}\n${unverified.map((n) => `  - ${n}`).join('\n')}`);
    }
    const lane = laneName();
    const report: LaneReport = {
      lane, platform: process.platform, arch: process.arch, node: process.version,
      implementation: process.env.SENDMSG_SHIM_TEST_IMPLEMENTATION ?? 'addon', tests,
    };
    // A run of some files only (vitest run FILE) is not a lane's result, unless a lane
    // script says it is (the arm64 lane runs the in-process part of the suite).
    if (process.env.SENDMSG_SHIM_LANE || !process.argv.slice(2).some((a) => a.endsWith('.ts'))) {
      mkdirSync('reports', { recursive: true });
      writeFileSync(join('reports', `lane-${lane}.json`), `${JSON.stringify(report, null, 1)}\n`);
    }
    console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  }
}
