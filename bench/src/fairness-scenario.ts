/**
 * `pnpm bench --only=fairness`: the fairness figure against the server as `npm start` runs it.
 * The server is seeded with raised limits, then restarted on the same data at the product's
 * defaults (TRUST_PROXY=127.0.0.1, so each party's X-Forwarded-For is its address); the victim is
 * measured idle and then under the whole abuse (bench/src/fairness.ts). With fairParts, each kind
 * of abuse then runs alone on a restarted server (fresh budgets), to show which one costs most.
 */
import { readFileSync } from "node:fs";
import type { AbuseShape } from "./abuse.js";
import type { Config } from "./config.js";
import { DEFAULT_SHAPE, formatCpu, formatRatios, measureFairness, seedFairness, type FairnessRun, type FairnessSizes } from "./fairness.js";
import type { Ctx } from "./scenarios.js";
import { Generator, startServer, type ServerTarget, type TargetKind } from "./targets.js";
import { log } from "./util.js";

export interface FairnessPartResult {
  name: string;
  what: string;
  run?: FairnessRun;
  error?: string;
}

export interface FairnessResult {
  target: TargetKind;
  /** The measured server's process id (the whole abuse; to match its CPU profile). */
  pid?: number;
  sizes: FairnessSizes;
  seed?: { messages: number; rooms: number; bigRoomLastSeq: number; seconds: number };
  mix?: FairnessRun;
  parts: FairnessPartResult[];
  logIssues?: { warnings: number; errors: number; samples: string[] };
  error?: string;
}

/** The kinds of abuse, each alone (the rest of the shape at zero). */
export const FAIRNESS_PARTS: Array<{ name: string; what: string; shape: Partial<AbuseShape> }> = [
  { name: "batches", what: "HTTP batches of 32 room.list/room.history, 4 loops", shape: { batchLoops: 4 } },
  { name: "replays", what: "4 sockets × 32 subscriptions replaying from seq 0, renewed", shape: { replaySockets: 4 } },
  { name: "in-flight", what: "2 sockets × 48 room.list calls outstanding", shape: { inFlightSockets: 2 } },
  { name: "legacy flood", what: "4 legacy sockets sending as fast as TCP takes it", shape: { legacySockets: 4 } },
  { name: "sockets past the cap", what: "24 tRPC sockets of one user, reopened when closed", shape: { extraSockets: 24 } },
  { name: "anonymous HTTP", what: "registrations, batches of 32 failed logins, /api/v1 logins", shape: { anonHttpLoops: 2 } },
  { name: "garbage frames", what: "2 anonymous sockets of garbage frames, reopened", shape: { anonSockets: 2 } },
];

const NO_ABUSE: AbuseShape = {
  ...DEFAULT_SHAPE,
  batchLoops: 0,
  replaySockets: 0,
  inFlightSockets: 0,
  legacySockets: 0,
  extraSockets: 0,
  anonHttpLoops: 0,
  anonSockets: 0,
};

export function fairnessSizes(cfg: Config): FairnessSizes {
  return {
    bigRoomMessages: cfg.fairBigRoom,
    rooms: cfg.fairRooms,
    roomMessages: cfg.fairRoomMessages,
    samples: cfg.fairSamples,
    paceMs: cfg.fairPaceMs,
    maxPhaseMs: cfg.fairMaxPhaseMs,
    warmupMs: cfg.fairWarmupMs,
    abuserAddresses: cfg.fairAddresses,
    shape: DEFAULT_SHAPE,
  };
}

/** The setup path: limits raised so that thousands of messages can be written at once. */
const SEED_ENV: Record<string, string> = {
  RATE_LIMIT_PER_IP: "10000000",
  REGISTRATIONS_PER_IP: "10000000",
  RATE_LIMIT_PER_USER: "10000000",
  CALL_QUEUE_PER_USER: "100000",
  SEND_LIMIT: "10000000",
  LOG_LEVEL: "warn",
};

/** The measured server: every limit, argon2 and the log level at the product's defaults. */
function measuredEnv(cfg: Config): Record<string, string> {
  return { TRUST_PROXY: "127.0.0.1", LOG_LEVEL: "info", ...cfg.serverEnv };
}

function logIssues(files: string[]): { warnings: number; errors: number; samples: string[] } {
  let warnings = 0;
  let errors = 0;
  const samples: string[] = [];
  for (const file of files) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      if (line.includes('"level":"warn"')) warnings++;
      else if (line.includes('"level":"error"')) {
        errors++;
        if (samples.length < 3) samples.push(line.slice(0, 300));
      }
    }
  }
  return { warnings, errors, samples };
}

export async function fairness(ctx: Ctx, kind: TargetKind): Promise<FairnessResult> {
  const { cfg } = ctx;
  const sizes = fairnessSizes(cfg);
  const result: FairnessResult = { target: kind, sizes, parts: [] };
  if (kind !== "pglite" && kind !== "postgres") throw new Error("the fairness scenario runs against the server");
  let target: ServerTarget | undefined;
  const gens: Generator[] = [];
  const logFiles: string[] = [];
  try {
    target = await startServer({ kind, ...(ctx.pg ? { pg: ctx.pg } : {}), env: SEED_ENV, runDir: ctx.runDir, ...(ctx.profileDir ? { profileDir: ctx.profileDir } : {}) });
    const seed = await seedFairness(target.httpUrl, sizes);
    result.seed = { messages: seed.messages, rooms: seed.abuser.rooms, bigRoomLastSeq: seed.abuser.bigRoomLastSeq, seconds: seed.seconds };
    log(`  fairness/${kind}: seeded ${seed.messages} messages, the abuser in ${seed.abuser.rooms} rooms, in ${seed.seconds.toFixed(1)} s`);
    gens.push(await Generator.start(), await Generator.start());
    const [abuse, victim] = gens as [Generator, Generator];
    const runOn = async (t: ServerTarget, s: FairnessSizes, tag: string) =>
      measureFairness({ abuse, victim }, { httpUrl: t.httpUrl, wsBase: t.wsUrl.replace(/\/trpc$/, "") }, seed, s, (l) => log(`  fairness/${kind}${tag}: ${l}`), t.cpuGroups(), tag);

    target = await target.relaunch(measuredEnv(cfg));
    logFiles.push(target.logFile);
    result.pid = target.pid;
    result.mix = await runOn(target, sizes, "");
    log(`  fairness/${kind}: ${formatRatios(result.mix)}`);
    log(`  fairness/${kind}: CPU under abuse: ${formatCpu(result.mix.cpu.abuse)}; load ${result.mix.loadBefore} → ${result.mix.loadAfter}`);

    if (cfg.fairParts) {
      for (const [i, part] of FAIRNESS_PARTS.entries()) {
        const p: FairnessPartResult = { name: part.name, what: part.what };
        result.parts.push(p);
        try {
          // A fresh process: budgets and windows start anew, as for the whole abuse.
          target = await target.relaunch(measuredEnv(cfg));
          logFiles.push(target.logFile);
          const s = { ...sizes, samples: cfg.fairPartSamples, maxPhaseMs: cfg.fairPartMaxPhaseMs, shape: { ...NO_ABUSE, ...part.shape } };
          p.run = await runOn(target, s, `p${i}`);
          log(`  fairness/${kind} ${part.name}: ${formatRatios(p.run)}`);
        } catch (e) {
          p.error = e instanceof Error ? e.message : String(e);
          log(`  fairness/${kind} ${part.name}: FAILED ${p.error}`);
        }
      }
    }
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    log(`  fairness/${kind}: FAILED ${result.error}`);
  } finally {
    for (const g of gens) await g.stop();
    await target?.stop();
    result.logIssues = logIssues(logFiles);
  }
  return result;
}
