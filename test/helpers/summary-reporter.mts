// Prints one plain closing line, "N passed, N failed, N skipped", after vitest's own
// report, so that any log reader (and CI) can count the run without parsing colours.
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const skippedNames: string[] = [];
    for (const mod of modules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else {
          skipped++;
          skippedNames.push(test.fullName);
        }
      }
    }
    const unverified = skippedNames.filter((n) => n.includes('unverified on real Windows'));
    const other = skippedNames.filter((n) => !unverified.includes(n));
    if (other.length) console.log(`skipped:\n${other.map((n) => `  - ${n}`).join('\n')}`);
    if (unverified.length) {
      console.log(`unverified on real Windows (skipped under Wine only): ${unverified.length}\n${unverified.map((n) => `  - ${n}`).join('\n')}`);
    }
    console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  }
}
