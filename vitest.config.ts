import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Integration files each start their own server on an ephemeral port.
    fileParallelism: true,
    pool: 'forks',
  },
});
