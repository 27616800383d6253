import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // examples/ import the package by name, as users do; in tests that is the source.
    alias: { 'sendmsg-shim': fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Namespace tests may run in parallel with others: every namespace name is unique to its run.
    pool: 'forks',
    reporters: ['default', './test/helpers/summary-reporter.mts'],
  },
});
