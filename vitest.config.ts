import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.{ts,tsx}', 'examples/**/*.test.ts', 'chaos/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Lab and cluster tests start many agent processes and watch 3-second deadlines; on a
    // 2-core machine they must not share the CPU with each other.
    fileParallelism: false,
    reporters: ['default'],
  },
});
