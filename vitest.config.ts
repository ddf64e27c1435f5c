import { defineConfig } from "vitest/config";

// One run covers unit tests next to the code, the integration tests of apps/server and the browser
// tests of apps/web (which need apps/web/dist built first).
export default defineConfig({
  test: {
    include: [
      "packages/*/src/**/*.test.ts",
      "apps/*/test/**/*.test.ts",
      "apps/web/src/**/*.test.ts",
      "apps/web/e2e/**/*.test.ts",
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
    fileParallelism: true,
  },
});
