import { defineConfig } from 'vitest/config';

// Generous timeouts: CI runs on a loaded 2-core machine, and no test here asserts on time. One file at a time:
// the browser test launches Chromium.
export default defineConfig({ test: { testTimeout: 120_000, hookTimeout: 120_000, fileParallelism: false } });
