import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Namespace tests create and delete their own namespaces; files may run in parallel
    // because every namespace name is unique to its run.
    pool: 'forks',
  },
});
