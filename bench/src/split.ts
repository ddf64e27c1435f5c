/**
 * Split scale-out (issue 13): the split deployment (gateway + auth + N chat replicas on one
 * PostgreSQL, with BUS=postgres or BUS=redis) at 1, 2, 3 chat replicas. Closed-loop publishers
 * send over tRPC sockets through the gateway; every room has subscribers (also through the
 * gateway) on every replica. Each socket is opened alone and tagged with the replica it reached
 * (the one whose `anonchat_websockets` gauge went up), so deliveries from a publisher on one
 * replica to a subscriber on another are told apart: the cross-replica latency.
 *
 * Figures per row: stored messages/s, messages per CPU-second of every server process (gateway,
 * auth, the chat replicas, PostgreSQL, Redis), cross-replica delivery p99, lost and doubled; and
 * ratios to the 1-replica row of the same bus in the same run. On a machine with fewer cores than
 * processes, absolute throughput cannot grow with replicas: messages per CPU-second is the figure
 * that says what a replica costs.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Room, Session } from "@anonchat/shared";
import type { Config } from "./config.js";
import { Histogram, summarize, type LatencySummary } from "./histogram.js";
import { TrpcHttp } from "./http.js";
import { cpuPercent, sampleCpu, type CpuGroup } from "./proc.js";
import type { RunResult } from "./protocol.js";
import { loadEnv, type Ctx } from "./scenarios.js";
import { Generator, launchServer, type PgHandle } from "./targets.js";
import { freePort, log, mapLimit, randomId, ROOT, sleep } from "./util.js";

export type SplitBus = "postgres" | "redis";

export interface SplitResult {
  replicas: number;
  bus: SplitBus;
  rooms: number;
  subscribers: number;
  /** Subscribers and publishers per replica (index 0 = chat1). */
  subsPerReplica: number[];
  pubsPerReplica: number[];
  run?: RunResult;
  storedPerSec?: number;
  /** CPU over the measurement window, % of one core, by process group. */
  cpu?: Record<string, number>;
  /** Sum of the server groups' CPU, CPU-seconds per second. */
  serverCores?: number;
  msgsPerCpuSecond?: number;
  /**
   * The server groups' CPU with every socket open and nothing sent (health checks, heartbeats,
   * pings, catch-up polls), CPU-seconds per second: a fixed cost per process that weighs on
   * messages per CPU-second at low rates. Marginal: messages per CPU-second above it.
   */
  idleCores?: number;
  msgsPerMarginalCpuSecond?: number;
  delivery?: LatencySummary;
  cross?: LatencySummary;
  /** Ratios to the 1-replica row of the same bus in this run. */
  storedRatio?: number;
  perCpuRatio?: number;
  /** Stored messages/s ÷ the all-in-one row's (replicas 0) on the same bus in this run. */
  vsAllInOne?: number;
  error?: string;
  pid?: number;
}

interface RedisHandle {
  url: string;
  stop(): Promise<void>;
  stopSync(): void;
}
interface RedisModule {
  findRedisServer(): string | null;
  startRedis(): Promise<RedisHandle & { port: number }>;
}

/** The pid of the redis-server started here (scripts/redis-server.mjs does not return it): found by its port. */
function redisPid(port: number): number | undefined {
  // /proc/<pid>/cmdline of redis-server reads "redis-server 127.0.0.1:<port>".
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmd.startsWith("redis-server") && cmd.includes(`:${port}`)) return Number(name);
    } catch {
      // gone
    }
  }
  return undefined;
}

export async function websocketsOf(httpUrl: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  let n = 0;
  for (const line of text.split("\n")) if (line.startsWith("anonchat_websockets{")) n += Number(line.slice(line.lastIndexOf(" ") + 1));
  return n;
}

/** Which replica's socket count moved by `by` since `before` (waits briefly for the gauge). */
async function whichReplica(urls: string[], before: number[], by = 1): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const now = await Promise.all(urls.map(websocketsOf));
    const up = now.map((n, i) => n - (before[i] ?? 0));
    const i = up.findIndex((d) => d === by);
    if (i >= 0 && up.filter((d) => d !== 0).length === 1) {
      before[i] = now[i] as number;
      return i;
    }
    await sleep(10);
  }
  throw new Error("could not tell which replica a socket reached");
}

export interface Deployment {
  gatewayUrl: string;
  chatUrls: string[];
  /** The chat replicas' process ids, in chatUrls' order. */
  chatPids: number[];
  groups: CpuGroup[];
  stop(): Promise<void>;
}

export async function startDeployment(ctx: Ctx, pgh: PgHandle, replicas: number, bus: SplitBus, redisUrl: string | undefined): Promise<Deployment> {
  const { cfg } = ctx;
  const databaseUrl = await pgh.newDatabase();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "anonchat-bench-split-"));
  const common: Record<string, string> = {
    ...loadEnv(cfg),
    DATABASE_URL: databaseUrl,
    SERVICE_SECRET: randomId(32),
    TRUST_PROXY: "loopback",
    BUS: bus,
    ...(bus === "redis" && redisUrl ? { REDIS_URL: redisUrl, RATE_LIMIT_STORE: "redis" } : {}),
    ...cfg.serverEnv,
  };
  const procs: { name: string; pid: number; stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const p of procs.reverse()) await p.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const start = async (name: string, env: Record<string, string>) => {
      const t = await launchServer({ kind: "postgres", env: { ...common, ...env }, runDir: ctx.runDir, port: await freePort() }, dataDir, databaseUrl);
      procs.push({ name, pid: t.pid, stop: () => t.stopOnly() });
      return t;
    };
    if (replicas === 0) {
      // All-in-one on the same PostgreSQL and bus: what the split is compared with.
      const all = await start("all", {});
      const pm0 = pgh.postmasterPid();
      const rpid0 = redisUrl && bus === "redis" ? redisPid(Number(new URL(redisUrl).port)) : undefined;
      const groups0: CpuGroup[] = [
        { name: "chat", pids: [all.pid] },
        ...(pm0 ? [{ name: "postgres", pids: [], withChildrenOf: pm0 }] : []),
        ...(rpid0 ? [{ name: "redis", pids: [rpid0] }] : []),
      ];
      return { gatewayUrl: all.httpUrl, chatUrls: [all.httpUrl], chatPids: [all.pid], groups: groups0, stop: stopAll };
    }
    const auth = await start("auth", { ROLE: "auth" });
    const chats = await Promise.all(Array.from({ length: replicas }, (_, i) => start(`chat${i + 1}`, { ROLE: "chat", AUTH_URL: auth.httpUrl })));
    const gateway = await start("gateway", { ROLE: "gateway", AUTH_URL: auth.httpUrl, CHAT_URLS: chats.map((c) => c.httpUrl).join(",") });
    const pm = pgh.postmasterPid();
    const rpid = redisUrl && bus === "redis" ? redisPid(Number(new URL(redisUrl).port)) : undefined;
    const groups: CpuGroup[] = [
      { name: "gateway", pids: [gateway.pid] },
      { name: "auth", pids: [auth.pid] },
      { name: "chat", pids: chats.map((c) => c.pid) },
      ...(pm ? [{ name: "postgres", pids: [], withChildrenOf: pm }] : []),
      ...(rpid ? [{ name: "redis", pids: [rpid] }] : []),
    ];
    return { gatewayUrl: gateway.httpUrl, chatUrls: chats.map((c) => c.httpUrl), chatPids: chats.map((c) => c.pid), groups, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

const SERVER_GROUPS = ["gateway", "auth", "chat", "postgres", "redis"];

async function oneRow(ctx: Ctx, pgh: PgHandle, replicas: number, bus: SplitBus, redisUrl: string | undefined): Promise<SplitResult> {
  const { cfg } = ctx;
  const result: SplitResult = {
    replicas,
    bus,
    rooms: cfg.splitRooms,
    subscribers: 0,
    subsPerReplica: Array.from({ length: Math.max(1, replicas) }, () => 0),
    pubsPerReplica: Array.from({ length: Math.max(1, replicas) }, () => 0),
  };
  let dep: Deployment | undefined;
  let gen: Generator | undefined;
  try {
    dep = await startDeployment(ctx, pgh, replicas, bus, redisUrl);
    const api = new TrpcHttp(dep.gatewayUrl, 8);
    const tag = randomId(4);
    const register = (who: string) =>
      api.mutation<Session>("auth.register", { login: `s${tag}${who}`, email: `s${tag}${who}@split.test`, password: `pw-${tag}-${who}-secret` });
    // One subscribing and cfg.splitPubsPerRoom publishing members per room.
    const rooms = await mapLimit(Array.from({ length: cfg.splitRooms }, (_, i) => i), 4, async (i) => {
      const owner = await register(`r${i}s`);
      const room = await api.mutation<Room>("room.create", { name: `split ${i}`, maxMembers: 100 }, owner.accessToken);
      const pubs: Session[] = [];
      for (let p = 0; p < cfg.splitPubsPerRoom; p++) {
        const u = await register(`r${i}p${p}`);
        await api.mutation<Room>("room.join", { roomId: room.id }, u.accessToken);
        pubs.push(u);
      }
      return { room, owner, pubs };
    });
    api.close();

    gen = await Generator.start();
    const wsUrl = `${dep.gatewayUrl.replace(/^http/, "ws")}/trpc`;
    const before = await Promise.all(dep.chatUrls.map(websocketsOf));
    // Subscribers: opened one at a time through the gateway until every replica holds its share
    // of each room (the gateway picks replicas in turn; a socket that lands on a replica that has
    // its share already is closed again, so every row delivers the same copies per message).
    const procs = Math.max(1, replicas);
    const share = Math.ceil(cfg.splitSubsPerRoom / procs);
    for (const r of rooms) {
      const onReplica = Array.from({ length: procs }, () => 0);
      for (let tries = 0; onReplica.some((n) => n < share); tries++) {
        if (tries > share * procs * 4) throw new Error(`subscribers did not spread over the replicas (${onReplica.join("/")})`);
        const c = await gen.call<{ established: number; errors: string[] }>({
          cmd: "connect",
          protocol: "trpc",
          wsUrl,
          subs: [{ roomId: r.room.id, token: r.owner.accessToken }],
          concurrency: 1,
          timeoutMs: 15_000,
        });
        if (c.established !== 1) throw new Error(`subscriber failed: ${c.errors.join("; ")}`);
        const i = await whichReplica(dep.chatUrls, before);
        if ((onReplica[i] ?? 0) >= share) {
          await gen.call({ cmd: "dropLast" });
          await whichReplica(dep.chatUrls, before, -1);
          continue;
        }
        await gen.call({ cmd: "tag", what: "sub", group: i });
        onReplica[i] = (onReplica[i] ?? 0) + 1;
        result.subsPerReplica[i] = (result.subsPerReplica[i] ?? 0) + 1;
        result.subscribers++;
      }
    }
    for (const r of rooms) {
      for (const p of r.pubs) {
        await gen.call({
          cmd: "publishers",
          protocol: "trpc",
          via: "ws",
          httpUrl: dep.gatewayUrl,
          wsUrl,
          pubs: [{ roomId: r.room.id, token: p.accessToken }],
          textBytes: cfg.textBytes,
          httpSockets: 1,
        });
        const i = await whichReplica(dep.chatUrls, before);
        await gen.call({ cmd: "tag", what: "pub", group: i });
        result.pubsPerReplica[i] = (result.pubsPerReplica[i] ?? 0) + 1;
      }
    }
    const groups = [...dep.groups, { name: "generator", pids: [gen.pid] }];
    const idleA = sampleCpu(dep.groups);
    const idleT = performance.now();
    await sleep(cfg.splitIdleMs);
    const idle = cpuPercent(idleA, sampleCpu(dep.groups), (performance.now() - idleT) / 1000);
    result.idleCores = SERVER_GROUPS.reduce((a, g) => a + (idle[g] ?? 0), 0) / 100;
    const run = await gen.call<RunResult>({
      cmd: "run",
      phase: ++ctx.phase,
      mode: "closed",
      window: cfg.splitWindow,
      sendRate: 0,
      warmupMs: cfg.warmupMs,
      measureMs: cfg.splitMs,
      drainMs: cfg.drainMs,
      shedAfterMs: cfg.shedAfterMs,
      cpu: groups,
    });
    result.run = run;
    result.cpu = run.cpu;
    result.storedPerSec = run.sendsPerSec;
    result.serverCores = SERVER_GROUPS.reduce((a, g) => a + (run.cpu[g] ?? 0), 0) / 100;
    result.msgsPerCpuSecond = result.serverCores > 0 ? run.sendsPerSec / result.serverCores : undefined;
    const marginal = result.serverCores - result.idleCores;
    result.msgsPerMarginalCpuSecond = marginal > 0 ? run.sendsPerSec / marginal : undefined;
    result.delivery = summarize(Histogram.fromJSON(run.latency));
    result.cross = summarize(Histogram.fromJSON(run.crossLatency));
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
  } finally {
    await gen?.stop();
    await dep?.stop();
  }
  return result;
}

export function splitProblems(r: SplitResult): string[] {
  const tag = r.replicas === 0 ? `split/all-in-one/${r.bus}` : `split/${r.replicas}×chat/${r.bus}`;
  if (r.error) return [`${tag}: ${r.error}`];
  const run = r.run;
  if (!run) return [`${tag}: no run`];
  const out: string[] = [];
  if (run.undelivered || run.duplicated || run.unexpected) out.push(`${tag}: lost ${run.undelivered}, doubled ${run.duplicated}, unexpected ${run.unexpected}`);
  if (run.sendErrors) out.push(`${tag}: ${run.sendErrors} sends failed (${run.sendErrorSamples[0] ?? ""})`);
  if (run.closedSockets || run.errorFrames) out.push(`${tag}: ${run.closedSockets} sockets closed, ${run.errorFrames} error frames (${run.errorFrameSamples[0] ?? ""})`);
  if (run.drainTimedOut) out.push(`${tag}: deliveries still outstanding after the drain`);
  return out;
}

const f0 = (v: number | undefined) => (v === undefined ? "–" : Math.round(v).toLocaleString("en-US"));
const ms = (v: number | undefined) => (v === undefined ? "–" : v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`);
const x = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? "–" : `${v.toFixed(2)}×`);

export function describeSplit(r: SplitResult): string {
  if (r.error) return `FAILED ${r.error}`;
  const run = r.run as RunResult;
  const cpu = Object.entries(r.cpu ?? {})
    .map(([k, v]) => `${k} ${Math.round(v)}%`)
    .join(", ");
  return (
    `${f0(r.storedPerSec)} stored msgs/s (${x(r.storedRatio)}; ${x(r.vsAllInOne)} all-in-one), ${f0(run.deliveredPerSec)} deliveries/s, ${f0(r.msgsPerCpuSecond)} msgs/server CPU-s (${x(r.perCpuRatio)}), ` +
    `idle server CPU ${Math.round((r.idleCores ?? 0) * 100)}%, ${f0(r.msgsPerMarginalCpuSecond)} msgs/CPU-s above idle, ` +
    `delivery p99 ${ms(r.delivery?.p99)}, cross-replica p99 ${ms(r.cross?.p99)} (${r.cross?.count ?? 0} deliveries); ` +
    `lost ${run.undelivered}, doubled ${run.duplicated}; subs/replica ${r.subsPerReplica.join("/")}, pubs/replica ${r.pubsPerReplica.join("/")}; CPU ${cpu}`
  );
}

/** Ratios to the 1-replica row and to the all-in-one row of the same bus (whichever order the rows ran in). */
function ratios(rows: SplitResult[]): void {
  for (const r of rows) {
    const all = rows.find((o) => o.bus === r.bus && o.replicas === 0 && !o.error);
    if (all?.storedPerSec && r.storedPerSec !== undefined && !r.error) r.vsAllInOne = r.storedPerSec / all.storedPerSec;
    const one = rows.find((o) => o.bus === r.bus && o.replicas === 1 && !o.error);
    if (!one || r.error) continue;
    if (r.storedPerSec !== undefined && one.storedPerSec) r.storedRatio = r.storedPerSec / one.storedPerSec;
    if (r.msgsPerCpuSecond !== undefined && one.msgsPerCpuSecond) r.perCpuRatio = r.msgsPerCpuSecond / one.msgsPerCpuSecond;
  }
}

export async function splitScenario(ctx: Ctx): Promise<SplitResult[]> {
  const { cfg } = ctx;
  if (!ctx.pg) {
    log("  split: needs PostgreSQL (servers=postgres): skipped");
    return [];
  }
  const buses = cfg.splitBuses.filter((b): b is SplitBus => b === "postgres" || b === "redis");
  let redis: RedisHandle | undefined;
  if (buses.includes("redis")) {
    const mod = (await import(pathToFileURL(path.join(ROOT, "scripts", "redis-server.mjs")).href)) as RedisModule;
    if (mod.findRedisServer()) {
      redis = await mod.startRedis();
      const r = redis;
      process.once("exit", () => r.stopSync());
    } else {
      log("  split: redis-server not installed (Debian: apt-get install -y redis-server): BUS=redis rows skipped");
    }
  }
  const out: SplitResult[] = [];
  try {
    for (const replicas of cfg.splitReplicas) {
      for (const bus of buses) {
        if (bus === "redis" && !redis) continue;
        const r = await oneRow(ctx, ctx.pg, replicas, bus, redis?.url);
        out.push(r);
        ratios(out);
        log(`  split/${replicas === 0 ? "all-in-one" : `${replicas}×chat`}/BUS=${bus}: ${describeSplit(r)}`);
      }
    }
  } finally {
    await redis?.stop();
  }
  ratios(out);
  return out;
}

// ---- report ---------------------------------------------------------------------------------------

export function splitSection(results: SplitResult[], cfg: Config, cores: number): string {
  if (results.length === 0) return "";
  const out: string[] = [];
  out.push("## Split deployment: chat replicas × bus");
  out.push("");
  out.push(
    `Gateway + auth + 1–3 chat replicas on one PostgreSQL (fsync on), \`BUS=postgres\` (NOTIFY) or \`BUS=redis\` (with \`RATE_LIMIT_STORE=redis\`). ` +
      `${cfg.splitRooms} rooms; each has ${cfg.splitSubsPerRoom} subscribers spread evenly over the chat replicas (the same copies per message in every row) and ${cfg.splitPubsPerRoom} publishers, ` +
      `all tRPC sockets through the gateway, closed loop with at most ${cfg.splitWindow} undelivered messages per room, ${cfg.splitMs / 1000} s measured after ${cfg.warmupMs / 1000} s warm-up. ` +
      "Each socket is opened alone and tagged with the replica whose socket count went up; a cross-replica delivery is one whose publisher and subscriber are on different replicas. " +
      "Server CPU sums gateway, auth, every chat replica, PostgreSQL (postmaster and backends) and Redis; idle server CPU is the same sum over " +
      `${cfg.splitIdleMs / 1000} s with every socket open and nothing sent (health checks, heartbeats, polls: a fixed cost per process that weighs on the per-CPU-second figure at low rates). ` +
      `Ratios are to the 1-replica row of the same bus in this run; \`× all-in-one\` to the all-in-one row (one process, \`ROLE=all\`, on the same PostgreSQL and bus: \`--splitReplicas=0,…\`). The issue's target: the split with 1 replica ≥ 0.8× all-in-one. This machine has ${cores} cores: with more processes than cores, stored messages/s cannot grow with replicas; messages per server CPU-second is what a replica costs.`,
  );
  out.push("");
  const head = ["chat replicas", "bus", "stored msgs/s", "×", "× all-in-one", "deliveries/s", "msgs / server CPU-s", "×", "idle server CPU", "msgs / CPU-s above idle", "delivery p99", "cross-replica p99", "lost", "doubled", "CPU: gateway / chat / PostgreSQL / Redis / generator"];
  const rows = results.map((r) => {
    const c = r.cpu ?? {};
    const pct = (k: string) => (c[k] === undefined ? "–" : `${Math.round(c[k] as number)}%`);
    return [
      r.replicas === 0 ? "all-in-one" : String(r.replicas),
      r.bus,
      r.error ? `failed: ${r.error.slice(0, 80)}` : f0(r.storedPerSec),
      x(r.storedRatio),
      x(r.vsAllInOne),
      f0(r.run?.deliveredPerSec),
      f0(r.msgsPerCpuSecond),
      x(r.perCpuRatio),
      r.idleCores === undefined ? "–" : `${Math.round(r.idleCores * 100)}%`,
      f0(r.msgsPerMarginalCpuSecond),
      ms(r.delivery?.p99),
      r.replicas > 1 ? ms(r.cross?.p99) : "–",
      r.run ? String(r.run.undelivered) : "–",
      r.run ? String(r.run.duplicated) : "–",
      ["gateway", "chat", "postgres", "redis", "generator"].map(pct).join(" / "),
    ];
  });
  out.push([`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n"));
  out.push("");
  return out.join("\n");
}
