import { defineConfig } from "vitest/config";

// Through the split deployment (scripts/test.mjs's split phases) a test server is four processes
// (auth, two chat replicas, the gateway), each loading and migrating before it is ready: on a
// busy 2-core machine that alone has taken 50-100 s. These are bounds for a hang, not paces.
const split = process.env.TEST_TOPOLOGY === "split";
const bound = split ? 240_000 : 60_000;

// Workspace packages export their sources under this condition (their dist/ by default, for plain
// node): tests run the sources, so they need no build first. Listed before vite's defaults (vitest
// also passes the ssr list to its worker processes as node --conditions).
const SOURCE = "@anonchat/source";

// One run covers unit tests next to the code, the integration tests of apps/server and the browser
// tests of apps/web (which need apps/web/dist built first).
export default defineConfig({
  resolve: { conditions: [SOURCE, "module", "browser", "development|production"] },
  ssr: { resolve: { conditions: [SOURCE, "node", "development|production"] } },
  test: {
    include: [
      "packages/*/src/**/*.test.ts",
      "apps/*/test/**/*.test.ts",
      "apps/web/src/**/*.test.ts",
      "apps/web/e2e/**/*.test.ts",
    ],
    testTimeout: bound,
    hookTimeout: bound,
    pool: "forks",
    maxWorkers: 2,
    fileParallelism: true,
  },
});
