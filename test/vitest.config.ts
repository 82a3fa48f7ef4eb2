import { defineConfig } from 'vitest/config';

// Real browsers on a 2-core machine: one file at a time, generous timeouts, conditions polled (never sleeps).
export default defineConfig({
  test: {
    include: ['e2e/**/*.test.ts', 'cli/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 120_000,
    sequence: { concurrent: false },
  },
});
