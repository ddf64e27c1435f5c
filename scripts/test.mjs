#!/usr/bin/env node
// `npm test`: the whole test suite, as CI runs it.
//
//   1. pnpm install --frozen-lockfile (pnpm 12 from PATH, else through npx; skipped when the
//      lockfile and package.json files are unchanged since the last install; see start.mjs)
//   2. pnpm turbo run typecheck          (tests are type-checked; a failure fails the run)
//   3. vitest on PGlite                  (everything vitest.config.ts includes; TEST_DATABASE_URL unset;
//                                         apps/web is built first when its browser tests will run)
//   4. vitest on PostgreSQL              (apps/server/test only, on a throwaway cluster from
//                                         scripts/pg-cluster.mjs; skipped with a warning when
//                                         PostgreSQL is not installed, a failure when CI=true)
//   5. one last line `N passed, N failed`, summed from vitest's JSON reports; exit 1 when anything
//      failed, a vitest run exited non-zero, or no test ran.
//
// Extra arguments go to vitest: `npm test -- apps/server/test/smoke.test.ts`, `npm test -- -t login`
// (write options that take a value as --opt=value unless vitest knows them as -t/--project/...).
//   6. split-redis: the split deployment again, on the Redis bus and rate-limit store (a throwaway
//      redis-server from scripts/redis-server.mjs), with SPLIT_REDIS_TESTS (a core subset, so CI
//      time stays reasonable: the full list runs on the PostgreSQL bus in step 5, and what differs
//      between the buses is the fan-out between replicas, which this subset exercises). Skipped
//      with a warning without redis-server, a failure when CI=true.
// Environment: TEST_ONLY=pglite|postgres|split|split-redis runs one side; SKIP_TYPECHECK=1 skips
// step 2 (local use).

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { findPgBinDir, startCluster } from "./pg-cluster.mjs";
import { findRedisServer, startRedis } from "./redis-server.mjs";
import { ROOT, buildWeb, ensureInstalled, log, run, signalChildren, watchParent } from "./start.mjs";

const IS_CI = /^(1|true|yes)$/i.test(process.env.CI ?? "");
const ONLY = (process.env.TEST_ONLY ?? "").trim().toLowerCase();
const SERVER_TESTS = "apps/server/test";
/** The client-facing files that also run through the split deployment (no in-process internals). */
const SPLIT_TESTS = [
  "smoke.test.ts",
  "auth.test.ts",
  "rooms.test.ts",
  "messages.test.ts",
  "subscription.test.ts",
  "expiry.test.ts",
  "legacy-rest.test.ts",
  // Two tabs refreshing one token: the grace must hold through the gateway and a separate auth.
  "refresh-grace.test.ts",
  // Issue 7 (room features); presence.test.ts also checks presence across the two chat replicas.
  "timeline.test.ts",
  "moderation.test.ts",
  "presence.test.ts",
  "room-list.test.ts",
  "room-access.test.ts",
  "ownership.test.ts",
  "rooms-per-user.test.ts",
  // Bad input at every role's edge (gateway, auth, a chat replica): no 5xx, crash or error log.
  "fuzz-edge.test.ts",
];
/**
 * The split tests that run a second time on the Redis bus: the client-facing core (every message
 * on every replica in order, resume, presence and moderation across replicas) plus the files that
 * start their own split (a replica killed with SIGKILL; presence and typing across replicas).
 */
const SPLIT_REDIS_TESTS = [
  "smoke.test.ts",
  "messages.test.ts",
  "subscription.test.ts",
  "presence.test.ts",
  "moderation.test.ts",
  "split.test.ts",
  "presence-replicas.test.ts",
];
const WEB_E2E = "apps/web/e2e";

// vitest options that take their value as the next argument (so that value is not a file filter).
const VALUE_FLAGS = new Set([
  "-t", "--testNamePattern", "-c", "--config", "-r", "--root", "--dir", "--project", "--reporter",
  "--outputFile", "--bail", "--retry", "--shard", "--maxWorkers", "--pool", "--environment",
  "--exclude", "--mode", "--testTimeout", "--hookTimeout", "--teardownTimeout", "--maxConcurrency",
  "--slowTestThreshold", "--sequence.seed", "--coverage.provider", "--coverage.reporter",
  "--tags-filter",
]);

/** Splits the pass-through arguments into vitest options and file filters. */
function splitArgs(argv) {
  const options = [];
  const filters = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") continue;
    if (a.startsWith("-")) {
      options.push(a);
      if (!a.includes("=") && VALUE_FLAGS.has(a) && i + 1 < argv.length) options.push(argv[++i]);
    } else {
      filters.push(a);
    }
  }
  return { options, filters };
}

function listTests(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === "node_modules" || e.name.startsWith(".")) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".test.ts")) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

/** The test files under dir (relative to the root) a vitest filter list selects (vitest matches filters as substrings). */
function matchTests(dir, filters) {
  const files = listTests(path.join(ROOT, dir));
  if (filters.length === 0) return files.map((f) => path.relative(ROOT, f));
  return files
    .filter((abs) => {
      const rel = path.relative(ROOT, abs);
      return filters.some((f) => {
        const asPath = path.resolve(f);
        return rel.includes(f.replace(/^\.\//, "")) || abs.includes(f) || (existsSync(asPath) && abs.startsWith(asPath));
      });
    })
    .map((f) => path.relative(ROOT, f));
}

function hasWebBuild() {
  try {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "apps/web/package.json"), "utf8"));
    return pkg.name === "@anonchat/web" && Boolean(pkg.scripts?.build);
  } catch {
    return false;
  }
}

function readReport(file) {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

/** Counts from one vitest JSON report; a file that failed without a failed test (import error, hook) counts as one failure. */
function countReport(report) {
  const c = { passed: 0, failed: 0, skipped: 0, fileErrors: [], failures: [] };
  if (!report) return c;
  c.passed = report.numPassedTests ?? 0;
  c.failed = report.numFailedTests ?? 0;
  c.skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  for (const f of report.testResults ?? []) {
    const failedTests = (f.assertionResults ?? []).filter((a) => a.status === "failed");
    const failedInFile = failedTests.length;
    for (const a of failedTests) {
      // The first line of the first message: enough to tell which assertion broke from a CI log's tail.
      const first = String(a.failureMessages?.[0] ?? "").split("\n")[0].slice(0, 300);
      c.failures.push(`${path.relative(ROOT, f.name ?? "?")} > ${a.fullName ?? a.title ?? "?"}: ${first}`);
    }
    if (f.status === "failed" && failedInFile === 0) {
      c.failed += 1;
      c.fileErrors.push(path.relative(ROOT, f.name ?? "?"));
    }
  }
  return c;
}

const fmtSecs = (ms) => `${(ms / 1000).toFixed(1)}s`;

async function main() {
  const started = Date.now();
  const { options, filters } = splitArgs(process.argv.slice(2));
  const results = []; // { name, passed, failed, skipped, ran, notes[], ms }
  let interrupted = null;
  let cluster = null;
  let redis = null;
  const tmp = mkdtempSync(path.join(os.tmpdir(), "anonchat-test-reports-"));

  const onSignal = (sig) => {
    if (interrupted) return;
    interrupted = sig;
    log(`${sig}: stopping the tests`);
    signalChildren(sig);
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, onSignal);
  watchParent(onSignal);
  process.on("exit", () => {
    cluster?.stopSync();
    redis?.stopSync();
    rmSync(tmp, { recursive: true, force: true });
  });

  const finish = () => {
    // Per-run lines are worded differently on purpose: the last line is the only `N passed, N failed`.
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    let ran = 0;
    for (const r of results) {
      passed += r.passed;
      failed += r.failed;
      skipped += r.skipped;
      ran += r.passed + r.failed;
      const extra = r.notes.length ? ` — ${r.notes.join("; ")}` : "";
      process.stdout.write(`[${r.name}] passed ${r.passed}, failed ${r.failed}, skipped ${r.skipped} (${fmtSecs(r.ms)})${extra}\n`);
      for (const f of r.failures ?? []) process.stdout.write(`[${r.name}]   FAILED ${f}\n`);
    }
    if (ran === 0 && !interrupted) {
      process.stdout.write("[total] no test ran: failing the run\n");
    }
    process.stdout.write(`[total] ${fmtSecs(Date.now() - started)}, skipped ${skipped}\n`);
    process.stdout.write(`${passed} passed, ${failed} failed\n`);
    if (interrupted) return 128 + (os.constants.signals[interrupted] ?? 1);
    return failed > 0 || ran === 0 ? 1 : 0;
  };
  /** A step that failed outside vitest (install, typecheck, cluster): one failure. */
  const stepFailed = (name, note, ms = 0) => results.push({ name, passed: 0, failed: 1, skipped: 0, notes: [note], ms });

  if (ONLY && !["pglite", "postgres", "split", "split-redis"].includes(ONLY)) {
    log(`TEST_ONLY must be pglite, postgres, split or split-redis, not ${JSON.stringify(ONLY)}`);
    return 2;
  }

  // 1. install
  let env;
  const t0 = Date.now();
  try {
    env = await ensureInstalled();
  } catch (e) {
    stepFailed("install", e instanceof Error ? e.message : String(e), Date.now() - t0);
    return finish();
  }
  if (interrupted) return finish();
  log(`install: ${fmtSecs(Date.now() - t0)}`);

  // 2. typecheck (a failure fails the run, but the tests still run so one sees both)
  if (process.env.SKIP_TYPECHECK === "1") {
    log("SKIP_TYPECHECK=1: not type-checking");
  } else {
    const t = Date.now();
    log("pnpm turbo run typecheck --continue");
    const code = await run("pnpm", ["turbo", "run", "typecheck", "--continue"], { env });
    if (interrupted) return finish();
    log(`typecheck: ${code === 0 ? "ok" : `FAILED (exit ${code})`} in ${fmtSecs(Date.now() - t)}`);
    if (code !== 0) stepFailed("typecheck", `pnpm turbo run typecheck exited ${code}`, Date.now() - t);
  }

  const userReporter = options.some((o) => o === "--reporter" || o.startsWith("--reporter="));
  const vitest = async (name, fileArgs, extraEnv) => {
    const report = path.join(tmp, `${name}.json`);
    const args = [
      "run",
      ...options,
      ...(userReporter ? [] : ["--reporter=default"]),
      "--reporter=json",
      `--outputFile.json=${report}`,
      ...fileArgs,
    ];
    const runEnv = { ...env, ...extraEnv };
    for (const [k, v] of Object.entries(runEnv)) if (v === undefined) delete runEnv[k];
    log(`${name}: vitest ${args.join(" ")}`);
    const t = Date.now();
    const code = await run(path.join(ROOT, "node_modules/.bin/vitest"), args, { env: runEnv });
    const c = countReport(readReport(report));
    const notes = [];
    if (c.fileErrors.length) notes.push(`files failed outside a test: ${c.fileErrors.join(", ")}`);
    if (!existsSync(report)) notes.push("no JSON report");
    if (code !== 0 && c.failed === 0) {
      c.failed = 1;
      notes.push(`vitest exited ${code}`);
    }
    results.push({ name, passed: c.passed, failed: c.failed, skipped: c.skipped, notes, failures: c.failures, ms: Date.now() - t });
  };

  // 3. PGlite: everything (the browser tests in apps/web/e2e need apps/web/dist: build it first)
  if (ONLY !== "postgres" && ONLY !== "split" && ONLY !== "split-redis") {
    if (hasWebBuild() && matchTests(WEB_E2E, filters).length > 0) {
      const t = Date.now();
      // Skipped when the client's inputs are unchanged since its last build (see start.mjs).
      const code = await buildWeb(env);
      if (interrupted) return finish();
      log(`web build: ${code === 0 ? "ok" : `FAILED (exit ${code})`} in ${fmtSecs(Date.now() - t)}`);
      if (code !== 0) stepFailed("web build", `pnpm --filter @anonchat/web build exited ${code}`, Date.now() - t);
    }
    await vitest("pglite", filters, { TEST_DATABASE_URL: undefined, TEST_PG_CLUSTER: undefined });
    if (interrupted) return finish();
  }

  // 4. PostgreSQL: the server's integration tests
  if (ONLY !== "pglite") {
    const files = matchTests(SERVER_TESTS, filters);
    if (files.length === 0) {
      log(`postgres: no ${SERVER_TESTS} test file matches ${filters.join(" ") || "(none)"}: skipped`);
      if (ONLY === "postgres") stepFailed("postgres", "no test file to run");
    } else if (!findPgBinDir()) {
      if (IS_CI || ONLY === "postgres") {
        log("PostgreSQL not installed; .ci/run installs it");
        stepFailed("postgres", "PostgreSQL not installed; .ci/run installs it");
      } else {
        const bar = "!".repeat(78);
        process.stderr.write(
          `\n${bar}\n!! PostgreSQL is not installed: the integration tests ran on PGlite ONLY.\n` +
            `!! CI runs them on PostgreSQL too. Install it (Debian: sudo apt-get install -y postgresql)\n` +
            `!! or run bash .ci/run.\n${bar}\n\n`,
        );
      }
    } else {
      const t = Date.now();
      try {
        cluster = await startCluster();
        log(`postgres: cluster on port ${cluster.port} (${cluster.bindir}) in ${fmtSecs(Date.now() - t)}`);
      } catch (e) {
        stepFailed("postgres", `could not start PostgreSQL: ${e instanceof Error ? e.message : String(e)}`, Date.now() - t);
      }
      if (cluster) {
        try {
          if (!interrupted && ONLY !== "split" && ONLY !== "split-redis") {
            await vitest("postgres", files, {
              TEST_DATABASE_URL: cluster.url,
              TEST_PG_CLUSTER: JSON.stringify(cluster.describe()),
            });
          }
          // 5. The same client-facing tests through the split deployment's gateway (gateway,
          //    auth and two chat replicas as processes on this cluster).
          const splitFiles = files.filter((f) => SPLIT_TESTS.includes(path.basename(f)));
          if (!interrupted && splitFiles.length > 0 && ONLY !== "split-redis") {
            await vitest("split", splitFiles, {
              TEST_DATABASE_URL: cluster.url,
              TEST_PG_CLUSTER: JSON.stringify(cluster.describe()),
              TEST_TOPOLOGY: "split",
            });
          }
          // 6. A core subset through the split deployment on the Redis bus and store.
          const redisFiles = files.filter((f) => SPLIT_REDIS_TESTS.includes(path.basename(f)));
          if (!interrupted && redisFiles.length > 0 && (ONLY === "" || ONLY === "split-redis")) {
            if (!findRedisServer()) {
              if (IS_CI || ONLY === "split-redis") {
                log("redis-server not installed; .ci/run installs it");
                stepFailed("split-redis", "redis-server not installed; .ci/run installs it");
              } else {
                process.stderr.write("\n!! redis-server is not installed: the split tests did not run on the Redis bus (CI runs them).\n\n");
              }
            } else {
              const t = Date.now();
              try {
                redis = await startRedis();
                log(`split-redis: redis-server on port ${redis.port} in ${fmtSecs(Date.now() - t)}`);
              } catch (e) {
                stepFailed("split-redis", `could not start redis-server: ${e instanceof Error ? e.message : String(e)}`, Date.now() - t);
              }
              if (redis) {
                try {
                  await vitest("split-redis", redisFiles, {
                    TEST_DATABASE_URL: cluster.url,
                    TEST_PG_CLUSTER: JSON.stringify(cluster.describe()),
                    TEST_TOPOLOGY: "split",
                    TEST_REDIS_URL: redis.url,
                  });
                } finally {
                  await redis.stop();
                  redis = null;
                }
              }
            }
          }
        } finally {
          await cluster.stop();
          cluster = null;
        }
      }
    }
  }

  // 6. A seconds-long smoke of the benchmark harness, so it keeps working (no figure is judged:
  //    it fails only when nothing is delivered or anything is lost, doubled or refused).
  if (!interrupted && !ONLY && filters.length === 0 && options.length === 0 && process.env.SKIP_BENCH_SMOKE !== "1") {
    const t = Date.now();
    log("pnpm bench:smoke");
    const code = await run("pnpm", ["bench:smoke"], { env });
    const ok = code === 0;
    log(`bench smoke: ${ok ? "ok" : `FAILED (exit ${code})`} in ${fmtSecs(Date.now() - t)}`);
    results.push({ name: "bench-smoke", passed: ok ? 1 : 0, failed: ok ? 0 : 1, skipped: 0, notes: ok ? [] : [`exit ${code}`], ms: Date.now() - t });
  }

  return finish();
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.stdout.write("0 passed, 1 failed\n");
    process.exit(1);
  },
);
