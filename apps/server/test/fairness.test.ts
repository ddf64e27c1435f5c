import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScratchDatabase } from "@anonchat/db";
import { DEFAULT_SHAPE, formatCounts, formatCpu, formatRatios, measureFairness, seedFairness, type FairnessSeed, type FairnessSizes } from "../../../bench/src/fairness.js";
import type { CpuGroup } from "../../../bench/src/proc.js";
import { Generator } from "../../../bench/src/targets.js";
import { loadConfig } from "../src/index.js";
import { DB_KIND, TOPOLOGY, UNLIMITED_ENV, httpClient, startTestServer, type TestServer } from "./harness.js";
import { api } from "./helpers/legacy.js";
import { QUICK_ENV } from "./helpers/test-env.js";
import { fullHistory } from "./helpers/trpc.js";

/**
 * The fairness figure: while one user and one anonymous client do the worst they can
 * within the server's DEFAULT limits over every transport (bench/src/abuse.ts: max-size HTTP
 * batches of room.list and room.history, replaying subscriptions up to every cap, calls in flight
 * past the cap, flooding legacy sockets, sockets past the connection cap, registrations, failed
 * logins and garbage frames, all going on after they are refused), another user's auth.me,
 * room.send and /healthz (bench/src/victim.ts) are measured against the same server idle a moment
 * before. The ratios are printed, never asserted (a shared 2-core machine decides wall times);
 * what is asserted cannot flake: the victim was never refused or failed, lost or doubled nothing,
 * the abusers were refused past their caps, the server still serves and logged no error.
 * `pnpm bench --only=fairness` measures the same against the server as a process.
 */

/** The limits the harness raises for other tests, back at the product's defaults. */
function defaultLimits(): Record<string, string> {
  const d = loadConfig({});
  const env: Record<string, string> = {
    RATE_LIMIT_PER_IP: String(d.rateLimit.points),
    RATE_LIMIT_PER_USER: String(d.userRateLimit.points),
    CALL_QUEUE_PER_USER: String(d.callConcurrency.queue),
    LOGIN_FAILS_PER_IP: String(d.loginFails.perIp),
    REGISTRATIONS_PER_IP: String(d.registrations.perIp),
    SEND_LIMIT: String(d.sendLimit.points),
  };
  // A limit the harness raises that is not put back here would make this test measure less.
  expect(Object.keys(env).sort()).toEqual(Object.keys(UNLIMITED_ENV).sort());
  return env;
}

/** The processes whose CPU is reported: this one (the server, and vitest), and PostgreSQL's. */
function cpuGroups(): CpuGroup[] {
  const groups: CpuGroup[] = [{ name: "server", pids: [process.pid] }];
  try {
    const cluster = JSON.parse(process.env.TEST_PG_CLUSTER ?? "") as { dataDir: string };
    const postmaster = Number(readFileSync(path.join(cluster.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    if (postmaster > 0) groups.push({ name: "postgres", pids: [], withChildrenOf: postmaster });
  } catch {
    // PGlite, or no cluster description: the server's process only
  }
  return groups;
}

const SIZES: FairnessSizes = {
  bigRoomMessages: 5000,
  rooms: 200,
  roomMessages: 20,
  samples: 50,
  paceMs: 150,
  maxPhaseMs: 20_000,
  warmupMs: 500,
  abuserAddresses: 8,
  shape: DEFAULT_SHAPE,
};

describe.skipIf(TOPOLOGY === "split")(`fairness under abuse at the default limits (${DB_KIND})`, () => {
  let dataDir: string;
  let dropDb: (() => Promise<void>) | undefined;
  let srv: TestServer | undefined;
  let seed: FairnessSeed;
  const gens: Generator[] = [];
  const levels: Record<string, number> = {};
  const errorLines: string[] = [];
  const security: Record<string, number> = {};

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "anonchat-fair-"));
    let databaseUrl: string | undefined;
    if (DB_KIND === "postgres") {
      const scratch = await createScratchDatabase(process.env.TEST_DATABASE_URL as string);
      databaseUrl = scratch.url;
      dropDb = scratch.drop;
    }
    // Setup path: the harness's raised limits, so 5,000+ messages can be written at once.
    const setup = await startTestServer({ dataDir, ...(databaseUrl ? { databaseUrl } : {}), env: QUICK_ENV });
    try {
      seed = await seedFairness(setup.url, SIZES);
    } finally {
      await setup.stop({ keepData: true });
    }
    console.log(`[fairness] ${DB_KIND}: seeded ${seed.messages} messages, the abuser in ${seed.abuser.rooms} rooms, in ${seed.seconds.toFixed(1)} s`);
    // The measured server: the same data, the product's default limits and log level, and each
    // party's address from X-Forwarded-For.
    srv = await startTestServer({
      dataDir,
      ...(databaseUrl ? { databaseUrl } : {}),
      env: { ...QUICK_ENV, ...defaultLimits(), TRUST_PROXY: "127.0.0.1", LOG_LEVEL: "info" },
      onLog: (line) => {
        const level = /"level":"(\w+)"/.exec(line)?.[1] ?? "?";
        levels[level] = (levels[level] ?? 0) + 1;
        if (level === "error" && errorLines.length < 5) errorLines.push(line.slice(0, 500));
        if (line.includes('"security":true')) {
          const msg = /"msg":"([^"]+)"/.exec(line)?.[1] ?? "?";
          security[msg] = (security[msg] ?? 0) + 1;
        }
      },
    });
    gens.push(await Generator.start(), await Generator.start());
  }, 600_000);

  afterAll(async () => {
    for (const g of gens) await g.stop();
    await srv?.stop();
    await dropDb?.();
    await rm(dataDir, { recursive: true, force: true });
  }, 120_000);

  it("the victim's auth.me, room.send and /healthz: every call served, nothing lost or doubled; the abusers refused past their caps; ratios printed", async () => {
    const server = srv as TestServer;
    const [abuseGen, victimGen] = gens as [Generator, Generator];
    const run = await measureFairness(
      { abuse: abuseGen, victim: victimGen },
      { httpUrl: server.url, wsBase: server.wsUrl },
      seed,
      SIZES,
      (l) => console.log(`[fairness] ${DB_KIND}: ${l}`),
      cpuGroups(),
    );
    console.log(
      `[fairness] ${DB_KIND}: victim under abuse ÷ idle (${run.idle.rounds} and ${run.abuse.rounds} rounds): ${formatRatios(run)}; load average ${run.loadBefore} → ${run.loadAfter}`,
    );
    console.log(`[fairness] ${DB_KIND}: CPU idle: ${formatCpu(run.cpu.idle)}; under abuse: ${formatCpu(run.cpu.abuse)}`);
    console.log(`[fairness] ${DB_KIND}: abuse counts: ${formatCounts(run.abuseReport.counts)}`);
    console.log(`[fairness] ${DB_KIND}: server log lines by level ${JSON.stringify(levels)}; security events ${JSON.stringify(security)}`);
    const c = (key: string) => run.abuseReport.counts[key] ?? 0;

    // The victim: every call answered 200, every message acknowledged and delivered once, in
    // order. (Under an abuse that stalls the server a phase may end before all its rounds.)
    for (const phase of [run.idle, run.abuse]) {
      expect({ phase: phase.phase, failures: phase.failures, samples: phase.failureSamples }).toEqual({
        phase: phase.phase,
        failures: { "auth.me": 0, "room.send": 0, healthz: 0 },
        samples: [],
      });
      expect(phase.rounds).toBeGreaterThan(0);
      expect(phase.acked).toBe(phase.rounds);
      expect(phase.delivery).toEqual({ received: phase.rounds, missing: 0, duplicated: 0, outOfOrder: 0 });
    }
    const victim = httpClient(server.url, seed.victim.token);
    const texts = (await fullHistory(victim, seed.victim.roomId)).filter((m) => m.kind === "text").map((m) => m.text);
    const expected = [run.idle, run.abuse].flatMap((p) => Array.from({ length: p.rounds }, (_, i) => `victim ${p.phase} ${i}`));
    expect(texts).toEqual(expected);

    // The abusers went past every cap and were refused there.
    expect(c("batch.calls.ok"), "some of the abuser's batches were served").toBeGreaterThan(0);
    expect(c("batch.status.429") + c("batch.calls.429"), "batches past the budgets refused").toBeGreaterThan(0);
    expect(c("replay.events"), "replays delivered").toBeGreaterThan(0);
    expect(c("replay.out_of_order"), "replays in order").toBe(0);
    expect(c("replay.refused_429"), "subscriptions past the caps refused").toBeGreaterThan(0);
    expect(c("inflight.429"), "calls past WS_MAX_IN_FLIGHT refused").toBeGreaterThan(0);
    expect(c("socket.close.4429"), "sockets past MAX_CONNECTIONS_PER_USER closed").toBeGreaterThan(0);
    expect(c("legacy.notices"), "legacy sends past SEND_LIMIT refused").toBeGreaterThan(0);
    const anonRefused = c("anon.register.status.429") + c("anon.login_batch.status.429") + c("anon.login_batch.calls.429") + c("anon.login_v1.status.429");
    expect(anonRefused, "the anonymous client refused").toBeGreaterThan(0);
    // Refused, never failed: no abuser got a server error either.
    const serverErrors = Object.entries(run.abuseReport.counts).filter(([k, v]) => /status\.5\d\d$/.test(k) && v > 0);
    expect({ serverErrors, samples: run.abuseReport.samples.filter((s) => / 5\d\d[: ]/.test(s)) }).toEqual({ serverErrors: [], samples: [] });

    // The server still serves, and logged no error.
    expect((await api(server.url, "GET", "/healthz")).status).toBe(200);
    expect((await victim.auth.me.query()).id).toBeGreaterThan(0);
    expect(errorLines).toEqual([]);
  }, 600_000);
});
