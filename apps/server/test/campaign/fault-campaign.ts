/**
 * The longer fault campaign behind RELIABILITY.md (not a vitest file: run it by hand).
 *
 *   cd apps/server && npx tsx test/campaign/fault-campaign.ts [--out FILE] [--no-fuzz]
 *
 * 1. kill -9 rounds on PGlite: the real server process SIGKILLed KILLS times per round mid-storm,
 *    restarted on the same DATA_DIR, clients retrying with their clientMsgId; one ledger per round.
 * 2. the same on PostgreSQL (a scratch database per round on a throwaway cluster).
 * 3. PostgreSQL stopped with pg_ctl stop -m immediate under traffic, OUTAGE_MS, then started again.
 * 4. (unless --no-fuzz) the fuzz and token-mutation tests with their counts raised.
 *
 * Sizes: KILL_ROUNDS (8), PG_KILL_ROUNDS (4), KILLS (3 per round), CLIENTS (6), KILL_PER_CLIENT (400 at
 * most; a kill round's storm ends KILL_TAIL (60) acknowledgements after its last restart), PER_CLIENT (80),
 * OUTAGE_ROUNDS (5), OUTAGE_MS (3000), FUZZ_RUNS (2000), TOKEN_MUTATIONS (100000),
 * TOKEN_MUTATIONS_HTTP (10000). Everything runs on 127.0.0.1 and stops by itself.
 */
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createScratchDatabase } from "@anonchat/db";
import { runKillScenario, runPgOutageScenario, startDedicatedCluster, type KillRunResult, type OutageRunResult } from "../helpers/fault-scenarios.js";
import { formatLedger, ledgerHolds, sumLedgers, type LedgerReport } from "../helpers/ledger.js";

const REPO = fileURLToPath(new URL("../../../..", import.meta.url));
const num = (name: string, def: number) => Number(process.env[name] ?? def);
const args = process.argv.slice(2);
const outFile = args.includes("--out") ? (args[args.indexOf("--out") + 1] as string) : path.join(os.tmpdir(), "anonchat-fault-campaign.json");
const withFuzz = !args.includes("--no-fuzz");

const log = (line: string) => process.stdout.write(`[campaign ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

interface KillSummary {
  db: "pglite" | "postgres";
  round: number;
  kills: number;
  ledger: LedgerReport;
  ackRate: number;
  downtimesMs: number[];
  stormSeconds: number;
  failedTries: Record<string, number>;
  storedByEarlierTry: number;
  errorLines: number;
}

function summarizeKill(db: KillSummary["db"], round: number, r: KillRunResult): KillSummary {
  return {
    db,
    round,
    kills: r.kills,
    ledger: r.report,
    ackRate: Math.round(r.ackRate),
    downtimesMs: r.downtimesMs,
    stormSeconds: Math.round(r.storm.durationMs / 100) / 10,
    failedTries: r.storm.errors,
    storedByEarlierTry: r.storm.storedByEarlierTry,
    errorLines: (r.output.match(/"level":"error"/g) ?? []).length,
  };
}

async function killRounds(db: KillSummary["db"], rounds: number, makeDb: () => Promise<{ url?: string; drop(): Promise<void> }>): Promise<KillSummary[]> {
  const out: KillSummary[] = [];
  for (let i = 1; i <= rounds; i++) {
    const scratch = await makeDb();
    try {
      const r = await runKillScenario({
        kills: num("KILLS", 3),
        clients: num("CLIENTS", 6),
        rooms: 2,
        perClient: num("KILL_PER_CLIENT", 400),
        afterMessages: num("KILL_TAIL", 60),
        databaseUrl: scratch.url,
        killAfterMs: [300, 2500],
      });
      const s = summarizeKill(db, i, r);
      out.push(s);
      log(`${formatLedger(`${db} kill round ${i} (${r.kills} kills)`, r.report)}; ${s.ackRate} acks/s; downtimes ${r.downtimesMs.join("/")} ms`);
      if (!ledgerHolds(r.report)) log(`PROBLEMS: ${r.report.problems.join(" | ")}`);
    } catch (err) {
      log(`${db} kill round ${i} failed to run: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await scratch.drop().catch(() => undefined);
    }
  }
  return out;
}

interface OutageSummary {
  round: number;
  ledger: LedgerReport;
  triesWhileDown: number;
  ackedWhileDown: number;
  errorsWhileDown: Record<string, number>;
  slowestFailureMs: number;
  recoveryMs: number | undefined;
  subscribersExact: boolean;
  uncaught: number;
}

function summarizeOutage(round: number, r: OutageRunResult): OutageSummary {
  return {
    round,
    ledger: r.report,
    triesWhileDown: r.triesWhileDown,
    ackedWhileDown: r.ackedWhileDown,
    errorsWhileDown: r.errorsWhileDown,
    slowestFailureMs: r.slowestFailureMs,
    recoveryMs: r.recoveryMs,
    subscribersExact: r.subscribers.every(
      (s) => !s.error && !s.completed && s.seqs.length === s.last && s.seqs.every((q, i) => q === i + 1),
    ),
    uncaught: r.uncaught.length,
  };
}

interface FuzzSummary {
  command: string;
  passed: number;
  failed: number;
  lines: string[];
}

async function fuzzCampaign(): Promise<FuzzSummary> {
  const report = path.join(os.tmpdir(), `anonchat-fuzz-campaign-${process.pid}.json`);
  const env = {
    ...process.env,
    FUZZ_RUNS: String(num("FUZZ_RUNS", 2000)),
    TOKEN_MUTATIONS: String(num("TOKEN_MUTATIONS", 100_000)),
    TOKEN_MUTATIONS_HTTP: String(num("TOKEN_MUTATIONS_HTTP", 10_000)),
    TEST_DATABASE_URL: "",
    TEST_PG_CLUSTER: "",
  };
  const files = ["apps/server/test/fuzz.test.ts", "apps/server/test/attack-tokens.test.ts"];
  const argv = ["run", "--testTimeout=1800000", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...files];
  const command = `FUZZ_RUNS=${env.FUZZ_RUNS} TOKEN_MUTATIONS=${env.TOKEN_MUTATIONS} TOKEN_MUTATIONS_HTTP=${env.TOKEN_MUTATIONS_HTTP} npx vitest ${argv.join(" ")}`;
  log(`fuzz: ${command}`);
  const lines: string[] = [];
  await new Promise<void>((resolve) => {
    const child = spawn(path.join(REPO, "node_modules/.bin/vitest"), argv, { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    let buf = "";
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (/\[(fuzz|attack-tokens)\]/.test(line)) lines.push(line.replace(/\x1b\[[0-9;]*m/g, "").trim());
      }
    });
    child.stderr.on("data", () => undefined);
    child.on("close", () => resolve());
  });
  try {
    const j = JSON.parse(await readFile(report, "utf8")) as { numPassedTests: number; numFailedTests: number };
    return { command, passed: j.numPassedTests, failed: j.numFailedTests, lines };
  } catch {
    return { command, passed: 0, failed: -1, lines };
  }
}

async function main() {
  const started = Date.now();
  log(`kill -9 rounds on PGlite`);
  const pgliteKills = await killRounds("pglite", num("KILL_ROUNDS", 8), async () => ({ drop: async () => undefined }));

  log("starting a throwaway PostgreSQL cluster");
  const cluster = await startDedicatedCluster();
  let pgKills: KillSummary[] = [];
  const outages: OutageSummary[] = [];
  try {
    log("kill -9 rounds on PostgreSQL");
    pgKills = await killRounds("postgres", num("PG_KILL_ROUNDS", 4), async () => createScratchDatabase(cluster.url));
    for (let i = 1; i <= num("OUTAGE_ROUNDS", 5); i++) {
      try {
        const r = await runPgOutageScenario({
          cluster,
          clients: num("CLIENTS", 6),
          rooms: 2,
          perClient: num("PER_CLIENT", 80),
          outageMs: num("OUTAGE_MS", 3000),
        });
        const s = summarizeOutage(i, r);
        outages.push(s);
        log(
          `${formatLedger(`outage round ${i}`, r.report)}; ${s.triesWhileDown} tries while down, ${s.ackedWhileDown} acknowledged, ` +
            `errors ${JSON.stringify(s.errorsWhileDown)}, recovery ${s.recoveryMs} ms, subscribers exact: ${s.subscribersExact}, uncaught ${s.uncaught}`,
        );
      } catch (err) {
        log(`outage round ${i} failed to run: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } finally {
    await cluster.stop();
  }

  const fuzz = withFuzz ? await fuzzCampaign() : undefined;
  if (fuzz) {
    log(`fuzz: ${fuzz.passed} passed, ${fuzz.failed} failed`);
    for (const l of fuzz.lines) log(l);
  }

  const kills = [...pgliteKills, ...pgKills];
  const total = sumLedgers([...kills.map((k) => k.ledger), ...outages.map((o) => o.ledger)]);
  const summary = {
    minutes: Math.round((Date.now() - started) / 6000) / 10,
    kills: kills.reduce((n, k) => n + k.kills, 0),
    killRounds: kills.length,
    outages: outages.length,
    ledger: total,
    pgliteKills,
    pgKills,
    outageRounds: outages,
    fuzz,
  };
  await writeFile(outFile, JSON.stringify(summary, null, 2));
  log(formatLedger(`TOTAL (${summary.kills} kills in ${kills.length} rounds, ${outages.length} PostgreSQL outages)`, total));
  log(`summary written to ${outFile} (${summary.minutes} min)`);
  const ok = ledgerHolds(total) && outages.every((o) => o.ackedWhileDown === 0 && o.subscribersExact) && (!fuzz || fuzz.failed === 0);
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`campaign failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
