import { afterAll, describe, expect, it } from "vitest";
import { createScratchDatabase } from "@anonchat/db";
import { DB_KIND } from "./harness.js";
import { runKillScenario } from "./helpers/fault-scenarios.js";
import { formatLedger, ledgerHolds } from "./helpers/ledger.js";

/**
 * kill -9 of the real server process (apps/server/src/main.ts) in the middle of a storm of sends,
 * then a restart on the same data (PGlite in DATA_DIR, or a scratch PostgreSQL database); the
 * clients retry every unanswered send with its clientMsgId. The longer form of this run is
 * apps/server/test/campaign/fault-campaign.ts.
 */

const drops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const d of drops) await d().catch(() => undefined);
});

describe(`kill -9 of the server during a storm of sends (${DB_KIND})`, () => {
  it(
    "every acknowledged message is in history exactly once, seqs strictly increase, each client's messages in its send order",
    async () => {
      let databaseUrl: string | undefined;
      if (DB_KIND === "postgres") {
        const scratch = await createScratchDatabase(process.env.TEST_DATABASE_URL as string);
        drops.push(() => scratch.drop());
        databaseUrl = scratch.url;
      }
      const r = await runKillScenario({
        kills: 2,
        clients: 4,
        rooms: 2,
        perClient: 2000,
        afterMessages: 40,
        databaseUrl,
        killAfterMs: [600, 1500],
        log: (l) => console.log(`[fault-kill] ${l}`),
      });
      console.log(`[fault-kill] ${formatLedger(`kill -9 x${r.kills} (${DB_KIND})`, r.report)}`);
      console.log(
        `[fault-kill] downtimes ${r.downtimesMs.join(", ")} ms; failed tries ${JSON.stringify(r.storm.errors)}; ` +
          `retries answered with the message an earlier try had stored: ${r.storm.storedByEarlierTry}`,
      );
      expect(r.kills, "the storm ended before the kills: make it longer").toBe(2);
      expect(ledgerHolds(r.report), r.report.problems.join("\n")).toBe(true);
      expect(r.report).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0, orderViolations: 0 });
      // Clients retry until answered, so every message ends up acknowledged, and stored once.
      expect(r.report.acknowledged).toBe(r.report.attempted);
      expect(r.report.stored).toBe(r.report.attempted);
      // The kills did hit the storm: some sends failed and were retried with their clientMsgId.
      expect(r.report.retried).toBeGreaterThan(0);
      expect(r.report.retriedStoredOnce).toBe(r.report.retried);
      expect(r.output).not.toMatch(/"level":"error"/);
    },
    240_000,
  );
});
