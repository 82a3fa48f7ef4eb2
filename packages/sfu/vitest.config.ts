import { defineConfig } from 'vitest/config';

// Generous timeouts: CI runs on a loaded 2-core machine, and no test here asserts on time.
export default defineConfig({ test: { testTimeout: 60_000, hookTimeout: 60_000 } });
