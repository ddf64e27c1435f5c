import { defineConfig } from "vitest/config";

// One run covers unit tests next to the code and the integration tests of apps/server.
export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "apps/*/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
    fileParallelism: true,
  },
});
