import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Namespace tests may run in parallel with others: every namespace name is unique to its run.
    pool: 'forks',
    reporters: ['default', './test/helpers/summary-reporter.mts'],
  },
});
