import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScratchDatabase } from "@anonchat/db";
import { DB_KIND, startTestServer } from "./harness.js";
import { runPgOutageScenario, startDedicatedCluster, type PgCluster } from "./helpers/fault-scenarios.js";
import { formatLedger, ledgerHolds } from "./helpers/ledger.js";
import { TEST_PRIVATE_KEY } from "./helpers/test-env.js";
import { registerWire, sleep } from "./helpers/wire.js";

/**
 * PostgreSQL stopped with `pg_ctl stop -m immediate` under traffic, then started again. The test
 * runs on a throwaway cluster of its own (scripts/pg-cluster.mjs), not the shared TEST_DATABASE_URL
 * one, so stopping it disturbs no test file running beside this one.
 */
describe.runIf(DB_KIND === "postgres")("PostgreSQL stopped during traffic, then restarted", () => {
  let cluster: PgCluster;
  beforeAll(async () => {
    cluster = await startDedicatedCluster();
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  it(
    "nothing is acknowledged while it is down, the error is retryable, the pool reconnects, subscribers resume with no gap and no duplicate, and the ledger holds",
    async () => {
      const r = await runPgOutageScenario({
        cluster,
        clients: 4,
        rooms: 2,
        perClient: 40,
        outageMs: 2500,
        // Down until every client could have been refused once (a loaded machine answers late).
        refusalsWhileDown: 4,
        log: (l) => console.log(`[fault-postgres] ${l}`),
      });
      console.log(`[fault-postgres] ${formatLedger("pg_ctl stop -m immediate", r.report)}`);
      console.log(
        `[fault-postgres] tries while down ${r.triesWhileDown}, errors ${JSON.stringify(r.errorsWhileDown)}, ` +
          `slowest failure ${r.slowestFailureMs} ms, recovery ${r.recoveryMs} ms`,
      );
      for (const s of r.subscribers) console.log(`[fault-postgres] subscriber ${s.user}: ${s.seqs.length} events, last ${s.last}`);

      // A connection that dies while checked out of the pool must not throw out of the process:
      // `node apps/server/src/main.ts` has no uncaughtException handler and would exit.
      expect.soft(r.uncaught, "uncaught exceptions (each one kills a production server)").toEqual([]);
      // The outage was really exercised: sends were refused while the database was down.
      expect(r.triesWhileDown).toBeGreaterThan(0);
      expect(r.ackedWhileDown).toBe(0);
      // The pool reconnected by itself: a send started after the restart was acknowledged, and
      // (the ledger below) every send of the storm was in the end. How soon is not asserted (issue
      // 14: a loaded machine decides wall times); recoveryMs is printed above, and the fault
      // campaign (apps/server/test/campaign/fault-campaign.ts) reports it per run. A pool that
      // never reconnects fails here: the storm gives up on its sends after 60 s.
      expect(r.recoveryMs).toBeDefined();
      // The ledger: every acknowledged message stored once, in order; retries stored once.
      expect(ledgerHolds(r.report), r.report.problems.join("\n")).toBe(true);
      expect(r.report).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0, orderViolations: 0 });
      expect(r.report.acknowledged).toBe(r.report.attempted);
      expect(r.report.retriedStoredOnce).toBe(r.report.retried);
      // Subscribers: every seq of their room exactly once, in order, and the stream still open.
      for (const s of r.subscribers) {
        expect(s.error, `subscriber ${s.user}`).toBeUndefined();
        expect(s.completed, `subscriber ${s.user}`).toBe(false);
        expect(s.seqs, `subscriber ${s.user}`).toEqual(Array.from({ length: s.last }, (_, i) => i + 1));
      }
      // Retryable and fast: 503 SERVICE_UNAVAILABLE (with Retry-After), not a generic 500. "Fast"
      // without a clock: sends were refused while the database was still down (started after the
      // stop, answered before the restart), so a refusal does not wait for the database to come
      // back. A server whose sends hung until then would have none and fail here (the outage ends
      // after 60 s at the latest). slowestFailureMs is printed above, not asserted.
      expect(r.refusedWhileDown).toBeGreaterThanOrEqual(4);
      expect.soft(Object.keys(r.errorsWhileDown).filter((k) => k !== "503 SERVICE_UNAVAILABLE")).toEqual([]);
      expect.soft(r.withoutRetryAfter, "503s without Retry-After").toBe(0);
      expect.soft(r.errorLogs.filter((l) => !/database|connect|ECONNREFUSED|terminat/i.test(l))).toEqual([]);
    },
    180_000,
  );

  it(
    "a connection that dies while a transaction holds it is an error for that transaction, not an uncaught exception",
    async () => {
      const scratch = await createScratchDatabase(cluster.url);
      const srv = await startTestServer({ databaseUrl: scratch.url, env: { JWT_PRIVATE_KEY: TEST_PRIVATE_KEY, ARGON2_MEMORY_KIB: "1024", ARGON2_TIME_COST: "1", SHUTDOWN_TIMEOUT: "1" } });
      const uncaught: string[] = [];
      const onUncaught = (err: unknown) => uncaught.push(err instanceof Error ? err.message : String(err));
      process.on("uncaughtException", onUncaught);
      try {
        const db = srv.server.services.database?.db;
        if (!db) throw new Error("no database");
        // A transaction between two statements holds its pooled connection, as every send does.
        let holding = false;
        let stopped = false;
        const tx = db
          .transaction()
          .execute(async (trx) => {
            await trx.selectFrom("rooms").select("id").limit(1).execute();
            holding = true;
            while (!stopped) await sleep(10);
            await sleep(300);
            await trx.selectFrom("rooms").select("id").limit(1).execute();
          })
          .then(
            () => "committed",
            (err: unknown) => `failed: ${err instanceof Error ? err.message : String(err)}`,
          );
        while (!holding) await sleep(10);
        await cluster.stopServer("immediate");
        stopped = true;
        const outcome = await tx;
        await sleep(300);
        await cluster.startServer();
        console.log(`[fault-postgres] transaction across the stop: ${outcome}; uncaught: ${JSON.stringify(uncaught)}`);
        expect(outcome).toMatch(/^failed: /);
        expect.soft(uncaught, "uncaught exceptions (each one kills a production server)").toEqual([]);
        // And the server goes on by itself once PostgreSQL is back. The 60 s only ends a hang (a
        // pool that never reconnects); how soon it does is not asserted (issue 14).
        const until = Date.now() + 60_000;
        let registered = false;
        while (!registered && Date.now() < until) {
          registered = await registerWire(srv.url, "after").then(() => true, () => false);
          if (!registered) await sleep(200);
        }
        expect(registered).toBe(true);
      } finally {
        process.off("uncaughtException", onUncaught);
        await srv.stop({ keepData: true }).catch(() => undefined);
        await scratch.drop().catch(() => undefined);
      }
    },
    120_000,
  );
});
