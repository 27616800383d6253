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
    if (skippedNames.length) console.log(`skipped:\n${skippedNames.map((n) => `  - ${n}`).join('\n')}`);
    console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  }
}
