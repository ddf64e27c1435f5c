/**
 * Scenario sizes and durations. `pnpm bench` uses FULL, `pnpm bench:smoke` SMOKE; any field can
 * be overridden with --name=value (numbers, comma lists) or BENCH_<NAME in capitals>=value,
 * e.g. `pnpm bench --wideSubs=500 --rates=5000,20000` or `BENCH_CONNS=2000 pnpm bench`.
 */
import type { TargetKind } from "./targets.js";

export type Scenario = "wide" | "many" | "conns" | "auth" | "send" | "fairness" | "catchup" | "storm" | "split" | "failover" | "history";
export const ALL_SCENARIOS: Scenario[] = ["wide", "many", "conns", "auth", "send", "fairness", "catchup", "storm", "split", "failover", "history"];
/**
 * What `pnpm bench:smoke` runs (CI, about a minute): the fairness scenario restarts its server and
 * seeds it (~15 s even tiny), and the later scenarios seed, restart or hold thousands of sockets;
 * npm test covers fairness with apps/server/test/fairness.test.ts; split starts six deployments
 * (about two minutes). `--only=<name>` still runs any.
 */
export const SMOKE_SCENARIOS: Scenario[] = ["wide", "many", "conns", "auth", "send"];

export interface Config {
  smoke: boolean;
  scenarios: Scenario[];
  /** Which servers to run besides the baseline: pglite, postgres. */
  servers: TargetKind[];
  /** Also measure the baseline with writes corked per tick (wide room saturation only). */
  corkedBaseline: boolean;
  /** Message text length (characters, ASCII). */
  textBytes: number;
  /**
   * How the server's publishers send: "ws" (mutations over the open tRPC socket, the transport the
   * baseline's publishers use, and the README's recommendation) or "http" (POST /trpc/room.send).
   * The send scenario measures both.
   */
  sendVia: "http" | "ws";
  httpSockets: number;
  connectConcurrency: number;

  wideSubs: number;
  wideUsers: number;
  widePubs: number;
  /** Closed loop: messages per room sent but not yet delivered to every subscriber. */
  wideWindow: number;
  manyRooms: number;
  manySubsPerRoom: number;
  manyUsersPerRoom: number;
  manyWindow: number;

  warmupMs: number;
  saturationMs: number;
  stepMs: number;
  drainMs: number;
  /** Offered loads for the latency steps, delivered messages per second. */
  rates: number[];
  /** The load the latency target is stated at; always run. */
  targetRate: number;
  /** Open loop: skip scheduled sends while the oldest undelivered message is older than this. */
  shedAfterMs: number;
  /** Closed-loop runs per target, round-robin over the targets. */
  probeRounds: number;
  /** Runs at targetRate per target (the ascending step is the first), round-robin over the targets. */
  targetRounds: number;

  conns: number;
  connRooms: number;
  connGenerators: number;
  holdMs: number;

  authUsers: number;
  authConcurrency: number;
  authMs: number;
  /** Logins and raw argon2 verifies alternate in this many rounds (authMs split among them). */
  authRounds: number;

  sendUsers: number;
  sendRooms: number;
  sendConcurrency: number;
  sendMs: number;

  /**
   * Fairness (bench/src/fairness.ts): messages of the room the abuser replays, its other rooms and
   * their unread messages; the victim's rounds per phase, their interval, the longest a phase may
   * run; the abuse before the victim's window; the abusive user's addresses.
   */
  fairBigRoom: number;
  fairRooms: number;
  fairRoomMessages: number;
  fairSamples: number;
  fairPaceMs: number;
  fairMaxPhaseMs: number;
  fairWarmupMs: number;
  fairAddresses: number;
  /** Also run each kind of abuse alone (a server restart each), to see which one costs the victim most. */
  fairParts: boolean;
  fairPartSamples: number;
  fairPartMaxPhaseMs: number;

  /**
   * Reconnect storm: subscribed tRPC sockets over rooms and generator processes, member users per
   * room, messages sent per second (HTTP, retried with the same clientMsgId), how long they flow
   * before the restart and after the last socket resumed; the clients' reconnect policy ("fixed":
   * every stormRetryMs ±50%; "wslink": tRPC wsLink's default backoff 0, 2, 4, 8… s), the longest
   * the storm may take.
   */
  stormSubs: number;
  stormRooms: number;
  stormUsersPerRoom: number;
  stormGenerators: number;
  stormSendRate: number;
  stormBeforeMs: number;
  stormAfterMs: number;
  stormRetry: string;
  stormRetryMs: number;
  stormTimeoutMs: number;

  /**
   * Catch-up: messages one subscriber resumes (seeded with SQL into catchupRooms rooms, used in
   * turn so that the server's replay page cache is cold again); the victim's rounds and pace.
   */
  catchupMessages: number;
  catchupRooms: number;
  catchupSamples: number;
  catchupPaceMs: number;
  catchupMaxPhaseMs: number;

  /**
   * Split deployment (bench/src/split.ts): chat replica counts (0: the all-in-one process, ROLE=all,
   * on the same database and bus, for comparison) and buses (postgres, redis) to run;
   * rooms, subscribers per room (spread evenly over the replicas, so every row delivers the same
   * number of copies per message: keep it a multiple of every replica count), publishers per room,
   * the closed loop's undelivered messages per room, how long each row is measured, and how
   * long the deployment's idle CPU is sampled first (every socket open, nothing sent).
   */
  splitReplicas: number[];
  splitBuses: string[];
  splitRooms: number;
  splitSubsPerRoom: number;
  splitPubsPerRoom: number;
  splitWindow: number;
  splitMs: number;
  splitIdleMs: number;

  /**
   * Failover (bench/src/failover.ts): a 2-replica split deployment, rooms and subscribers per room
   * (tRPC sockets through the gateway), messages per second; one replica killed, then (a fresh
   * deployment) one frozen. Uses stormRetryMs, stormBeforeMs, stormAfterMs and stormTimeoutMs.
   */
  failoverRooms: number;
  failoverSubsPerRoom: number;
  failoverSendRate: number;

  /** History (bench/src/history.ts): messages stored in the big room; calls per room and kind. */
  historyMessages: number;
  historySamples: number;

  wsSendBufferMax: number;
  subscriberQueueMax: number;
  /** Extra server environment, from --env KEY=VALUE (repeatable). */
  serverEnv: Record<string, string>;

  /** Profile the server (node --cpu-prof) and print where its time goes. */
  profile: boolean;
  /** Write BENCHMARKS.md, bench/results/latest.json and docs/bench-latency.svg. */
  write: boolean;
  /** Write them even when the run started on a busy machine (see machine.ts: load average above half the cores, or steal above 5%). */
  force: boolean;
  /** Measure nothing: rewrite the outputs from a results.json (after changing the report). */
  render: string;
  outDir: string;
}

export const FULL: Config = {
  smoke: false,
  scenarios: ALL_SCENARIOS,
  servers: ["pglite", "postgres"],
  corkedBaseline: true,
  textBytes: 100,
  sendVia: "ws",
  httpSockets: 64,
  connectConcurrency: 100,

  wideSubs: 1000,
  wideUsers: 50,
  widePubs: 5,
  wideWindow: 16,
  manyRooms: 100,
  manySubsPerRoom: 10,
  manyUsersPerRoom: 2,
  manyWindow: 8,

  warmupMs: 1000,
  saturationMs: 5000,
  stepMs: 4000,
  drainMs: 10_000,
  rates: [2500, 5000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000],
  targetRate: 20_000,
  shedAfterMs: 2000,
  probeRounds: 2,
  targetRounds: 3,

  conns: 10_000,
  connRooms: 100,
  connGenerators: 2,
  holdMs: 5000,

  authUsers: 16,
  authConcurrency: 8,
  authMs: 9000,
  authRounds: 3,

  sendUsers: 256,
  sendRooms: 32,
  sendConcurrency: 256,
  sendMs: 8000,

  fairBigRoom: 5000,
  fairRooms: 200,
  fairRoomMessages: 20,
  fairSamples: 60,
  fairPaceMs: 150,
  fairMaxPhaseMs: 20_000,
  fairWarmupMs: 500,
  fairAddresses: 8,
  fairParts: true,
  fairPartSamples: 30,
  fairPartMaxPhaseMs: 10_000,

  stormSubs: 5000,
  stormRooms: 50,
  stormUsersPerRoom: 10,
  stormGenerators: 2,
  stormSendRate: 100,
  stormBeforeMs: 3000,
  stormAfterMs: 3000,
  stormRetry: "fixed",
  stormRetryMs: 500,
  stormTimeoutMs: 120_000,

  catchupMessages: 10_000,
  catchupRooms: 6,
  catchupSamples: 60,
  catchupPaceMs: 150,
  catchupMaxPhaseMs: 30_000,

  splitReplicas: [0, 1, 2, 3],
  splitBuses: ["postgres", "redis"],
  splitRooms: 8,
  splitSubsPerRoom: 6,
  splitPubsPerRoom: 2,
  splitWindow: 4,
  splitMs: 6000,
  splitIdleMs: 3000,

  failoverRooms: 10,
  failoverSubsPerRoom: 20,
  failoverSendRate: 50,

  historyMessages: 1_000_000,
  historySamples: 200,

  wsSendBufferMax: 16 * 1024 * 1024,
  subscriberQueueMax: 100_000,
  serverEnv: {},

  profile: false,
  write: true,
  force: false,
  render: "",
  outDir: "",
};

export const SMOKE: Config = {
  ...FULL,
  smoke: true,
  scenarios: SMOKE_SCENARIOS,
  servers: ["pglite"],
  corkedBaseline: false,
  wideSubs: 20,
  wideUsers: 4,
  widePubs: 2,
  manyRooms: 4,
  manySubsPerRoom: 3,
  warmupMs: 200,
  saturationMs: 800,
  stepMs: 600,
  drainMs: 10_000,
  // Far below what the server delivers even on a busy machine: the smoke checks that nothing is
  // lost or doubled, and an overloaded step that fails to drain in time would count as loss.
  rates: [60, 150],
  targetRate: 150,
  probeRounds: 1,
  targetRounds: 2,
  conns: 60,
  connRooms: 3,
  holdMs: 200,
  authUsers: 2,
  authConcurrency: 2,
  authMs: 1000,
  authRounds: 2,
  sendUsers: 4,
  sendRooms: 2,
  sendConcurrency: 4,
  sendMs: 800,
  fairBigRoom: 200,
  fairRooms: 5,
  fairRoomMessages: 5,
  fairSamples: 5,
  fairMaxPhaseMs: 3000,
  fairWarmupMs: 200,
  fairParts: false,
  write: false,
};

function parseValue(current: unknown, raw: string): unknown {
  if (Array.isArray(current)) {
    const parts = raw.split(",").map((s) => s.trim()).filter(Boolean);
    return typeof current[0] === "number" ? parts.map(Number) : parts;
  }
  if (typeof current === "number") {
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new Error(`not a number: ${raw}`);
    return n;
  }
  if (typeof current === "boolean") return raw === "" || /^(1|true|yes)$/i.test(raw);
  return raw;
}

export function parseConfig(argv: string[], env: Record<string, string | undefined>): Config {
  const smoke = argv.includes("--smoke");
  const cfg: Config = structuredClone(smoke ? SMOKE : FULL);
  const fields = cfg as unknown as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    const v = env[`BENCH_${key.toUpperCase()}`];
    if (v !== undefined && key !== "serverEnv") fields[key] = parseValue(fields[key], v);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--smoke") continue;
    if (a === "--env") {
      const kv = argv[++i] ?? "";
      const eq = kv.indexOf("=");
      if (eq < 1) throw new Error(`--env needs KEY=VALUE, got ${kv}`);
      cfg.serverEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
      continue;
    }
    const m = /^--([A-Za-z0-9]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unknown argument ${a} (use --name=value)`);
    const key = m[1] as string;
    if (key === "only") {
      fields.scenarios = parseValue([""], m[2] ?? "");
      continue;
    }
    if (!(key in fields) || key === "serverEnv") throw new Error(`unknown option --${key}`);
    fields[key] = parseValue(fields[key], m[2] ?? "");
  }
  for (const s of cfg.scenarios) if (!ALL_SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}`);
  for (const s of cfg.servers) if (s !== "pglite" && s !== "postgres") throw new Error(`unknown server ${s}`);
  if (cfg.profile) cfg.write = false;
  return cfg;
}
