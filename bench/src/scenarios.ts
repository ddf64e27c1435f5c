/**
 * The five scenarios of the issue. Each one starts its target fresh, prepares users and rooms
 * through the real API (not measured), then drives it from separate load-generator processes.
 */
import { readFileSync } from "node:fs";
import type { Message, Room, Session } from "@anonchat/shared";
import type { Config } from "./config.js";
import { Histogram, summarize, type LatencySummary } from "./histogram.js";
import { TrpcHttp } from "./http.js";
import { rssBytes, sampleCpu, cpuPercent, type CpuGroup } from "./proc.js";
import type { AuthOp, ConnectResult, ExpectResult, OpsResult, PubSpec, PublishOnceResult, RunResult, StatsResult, SubSpec } from "./protocol.js";
import { Generator, startBaseline, startServer, type PgHandle, type Target, type TargetKind } from "./targets.js";
import { log, mapLimit, mono, now, randomId, sleep } from "./util.js";

export interface Ctx {
  cfg: Config;
  runDir: string;
  pg: PgHandle | undefined;
  /** Folder for server CPU profiles, when profiling. */
  profileDir: string | undefined;
  phase: number;
}

// ---- targets -------------------------------------------------------------------------------------

/** Limits raised so that the load itself, not a per-user or per-IP cap, is what is measured. */
export function loadEnv(cfg: Config): Record<string, string> {
  return {
    RATE_LIMIT_PER_IP: "10000000",
    RATE_LIMIT_PER_USER: "10000000",
    CALL_QUEUE_PER_USER: "100000",
    LOGIN_FAILS_PER_IP: "1000000",
    REGISTRATIONS_PER_IP: "10000000",
    LOGIN_FAILS_PER_EMAIL_IP: "10000",
    // One generator host logs everyone in: its hashing lane is the whole hasher.
    HASH_CONCURRENCY_PER_IP: "64",
    HASH_QUEUE_PER_IP: "100000",
    SEND_LIMIT: "10000000",
    MAX_CONNECTIONS_PER_USER: "100000",
    MAX_SUBSCRIPTIONS_PER_USER: "1000000",
    // Publishers keep many sends in flight on one socket; overload must show as latency, not refusals.
    WS_MAX_IN_FLIGHT: "100000",
    WS_MAX_SUBSCRIPTIONS: "100000",
    ACCESS_TOKEN_TTL: "3600",
    WS_SEND_BUFFER_MAX: String(cfg.wsSendBufferMax),
    SUBSCRIBER_QUEUE_MAX: String(cfg.subscriberQueueMax),
    // Setup registers hundreds of users; argon2 is measured in the auth scenario only.
    ARGON2_MEMORY_KIB: "1024",
    ARGON2_TIME_COST: "1",
    ...cfg.serverEnv,
  };
}

/** The auth scenario keeps the product's argon2 defaults (OWASP) and hash concurrency. */
function authEnv(cfg: Config): Record<string, string> {
  const { ARGON2_MEMORY_KIB: _m, ARGON2_TIME_COST: _t, ...rest } = loadEnv(cfg);
  return rest;
}

async function startTarget(ctx: Ctx, kind: TargetKind, env: Record<string, string>): Promise<Target> {
  if (kind === "baseline" || kind === "baseline-cork") return startBaseline(ctx.runDir, kind === "baseline-cork");
  if (kind === "postgres" && !ctx.pg) throw new Error("PostgreSQL is not available");
  return startServer({ kind, ...(ctx.pg ? { pg: ctx.pg } : {}), env, runDir: ctx.runDir, ...(ctx.profileDir ? { profileDir: ctx.profileDir } : {}) });
}

function isServer(kind: TargetKind): boolean {
  return kind === "pglite" || kind === "postgres";
}

/** Warnings and errors the server logged (e.g. slow consumers dropped). */
export function serverLogIssues(target: Target): { warnings: number; errors: number; samples: string[] } {
  if (!isServer(target.kind)) return { warnings: 0, errors: 0, samples: [] };
  let warnings = 0;
  let errors = 0;
  const samples: string[] = [];
  let text = "";
  try {
    text = readFileSync(target.logFile, "utf8");
  } catch {
    return { warnings, errors, samples };
  }
  for (const line of text.split("\n")) {
    if (line.includes('"level":"warn"')) warnings++;
    else if (line.includes('"level":"error"')) errors++;
    else continue;
    if (samples.length < 3) samples.push(line.slice(0, 300));
  }
  return { warnings, errors, samples };
}

// ---- setup through the API ---------------------------------------------------------------------------

interface BenchUser {
  email: string;
  password: string;
  session: Session;
}

let userSeq = 0;
async function registerUsers(api: TrpcHttp, n: number, concurrency = 8): Promise<BenchUser[]> {
  const tag = randomId(4);
  return mapLimit(
    Array.from({ length: n }, () => ++userSeq),
    concurrency,
    async (i) => {
      const login = `b${tag}u${i}`;
      const email = `${login}@bench.test`;
      const password = `pw-${login}-secret`;
      const session = await api.mutation<Session>("auth.register", { login, email, password });
      return { email, password, session };
    },
  );
}

export interface Layout {
  rooms: number;
  subsPerRoom: number;
  /** Distinct users (members) per room; subscribers and publishers take turns among them. */
  usersPerRoom: number;
  pubsPerRoom: number;
}

export interface Prepared {
  subs: SubSpec[];
  pubs: PubSpec[];
  roomIds: string[];
  users: BenchUser[];
}

/** Users, rooms and memberships for a layout; for the baseline only room ids. */
export async function prepare(target: Target, layout: Layout): Promise<Prepared> {
  const subs: SubSpec[] = [];
  const pubs: PubSpec[] = [];
  const roomIds: string[] = [];
  if (!isServer(target.kind)) {
    for (let r = 0; r < layout.rooms; r++) {
      const roomId = randomId(16);
      roomIds.push(roomId);
      for (let k = 0; k < layout.subsPerRoom; k++) subs.push({ roomId, token: "" });
      for (let k = 0; k < layout.pubsPerRoom; k++) pubs.push({ roomId, token: "" });
    }
    return { subs, pubs, roomIds, users: [] };
  }
  const api = new TrpcHttp(target.httpUrl, 16);
  try {
    const users = await registerUsers(api, layout.rooms * layout.usersPerRoom);
    const rooms = await mapLimit(Array.from({ length: layout.rooms }, (_, r) => r), 8, async (r) => {
      const members = users.slice(r * layout.usersPerRoom, (r + 1) * layout.usersPerRoom);
      const owner = members[0] as BenchUser;
      const room = await api.mutation<Room>("room.create", { name: `bench ${r}`, maxMembers: 1000 }, owner.session.accessToken);
      for (const m of members.slice(1)) await api.mutation<Room>("room.join", { roomId: room.id }, m.session.accessToken);
      return { room, members };
    });
    for (const { room, members } of rooms) {
      roomIds.push(room.id);
      for (let k = 0; k < layout.subsPerRoom; k++) {
        subs.push({ roomId: room.id, token: (members[k % members.length] as BenchUser).session.accessToken });
      }
      for (let k = 0; k < layout.pubsPerRoom; k++) {
        pubs.push({ roomId: room.id, token: (members[k % members.length] as BenchUser).session.accessToken });
      }
    }
    return { subs, pubs, roomIds, users };
  } finally {
    api.close();
  }
}

// ---- fan-out: wide room and many rooms ----------------------------------------------------------------

export interface RunSummary extends Omit<RunResult, "latency" | "ack"> {
  latency: LatencySummary;
  ack: LatencySummary;
}

export interface FanoutResult {
  scenario: "wide" | "many";
  target: TargetKind;
  /** The target's process id (to match its CPU profile). */
  pid?: number;
  layout: Layout;
  connect?: ConnectResult;
  /** Closed-loop runs (bounded in-flight messages), one per round. */
  probes: RunSummary[];
  /** Open-loop steps at fixed offered loads, ascending, up to the first overloaded one. */
  steps: RunSummary[];
  /** Extra open-loop runs at the target's load, interleaved with the other targets'. */
  repeats: RunSummary[];
  /** The run with the most delivered messages per second: the saturation throughput. */
  peak?: RunSummary;
  logIssues?: { warnings: number; errors: number; samples: string[] };
  error?: string;
}

function summarizeRun(r: RunResult): RunSummary {
  return { ...r, latency: summarize(Histogram.fromJSON(r.latency)), ack: summarize(Histogram.fromJSON(r.ack)) };
}

/** A step the target could not keep up with: it shed sends, fell short, or did not drain. */
export function overloaded(r: RunSummary): boolean {
  // The shortfall test needs enough sends in the window to mean anything (tiny smoke steps).
  const enough = r.sendRate * r.measureSeconds >= 20;
  return r.shed > 0 || r.drainTimedOut || (enough && r.deliveredPerSec < r.offeredDelivered * 0.9);
}

/** Every run of a fan-out result, in the order they ran per kind. */
export function runsOf(f: FanoutResult): RunSummary[] {
  return [...f.probes, ...f.steps, ...f.repeats];
}

/** The runs at one offered load (the ascending step and its repeats). */
export function runsAt(f: FanoutResult | undefined, rate: number): RunSummary[] {
  if (!f) return [];
  return [...f.steps, ...f.repeats].filter((s) => Math.abs(s.offeredDelivered - rate) < rate * 0.01);
}

export function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const v = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

function cpuGroups(target: Target, gens: Generator[]): CpuGroup[] {
  return [...target.cpuGroups(), { name: "generator", pids: gens.map((g) => g.pid) }];
}

/** One target of a fan-out scenario, set up and connected, ready to run phases. */
interface FanoutSession {
  result: FanoutResult;
  run(mode: "closed" | "open", deliveredRate: number): Promise<RunSummary>;
  close(): Promise<void>;
}

async function openFanout(ctx: Ctx, scenario: "wide" | "many", kind: TargetKind): Promise<FanoutSession> {
  const { cfg } = ctx;
  const layout: Layout =
    scenario === "wide"
      ? { rooms: 1, subsPerRoom: cfg.wideSubs, usersPerRoom: cfg.wideUsers, pubsPerRoom: cfg.widePubs }
      : { rooms: cfg.manyRooms, subsPerRoom: cfg.manySubsPerRoom, usersPerRoom: cfg.manyUsersPerRoom, pubsPerRoom: 1 };
  const window = scenario === "wide" ? cfg.wideWindow : cfg.manyWindow;
  const result: FanoutResult = { scenario, target: kind, layout, probes: [], steps: [], repeats: [] };
  let target: Target | undefined;
  let gen: Generator | undefined;
  const close = async () => {
    await gen?.stop();
    await target?.stop();
    if (target) result.logIssues = serverLogIssues(target);
  };
  try {
    target = await startTarget(ctx, kind, loadEnv(cfg));
    result.pid = target.pid;
    const prep = await prepare(target, layout);
    gen = await Generator.start();
    result.connect = await gen.call<ConnectResult>({
      cmd: "connect",
      protocol: isServer(kind) ? "trpc" : "baseline",
      wsUrl: target.wsUrl,
      subs: prep.subs,
      concurrency: cfg.connectConcurrency,
      timeoutMs: 30_000,
    });
    if (result.connect.failed > 0) throw new Error(`${result.connect.failed} subscriptions failed: ${result.connect.errors.join("; ")}`);
    await gen.call({
      cmd: "publishers",
      protocol: isServer(kind) ? "trpc" : "baseline",
      via: isServer(kind) ? cfg.sendVia : "ws",
      httpUrl: target.httpUrl,
      wsUrl: target.wsUrl,
      pubs: prep.pubs,
      textBytes: cfg.textBytes,
      httpSockets: cfg.httpSockets,
    });
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    log(`  ${scenario}/${kind}: FAILED ${result.error}`);
    await close();
    return { result, run: () => Promise.reject(new Error(result.error)), close: async () => undefined };
  }
  const groups = cpuGroups(target, [gen]);
  const g = gen;
  return {
    result,
    close,
    run: async (mode, deliveredRate) =>
      summarizeRun(
        await g.call<RunResult>({
          cmd: "run",
          phase: ++ctx.phase,
          mode,
          window,
          sendRate: deliveredRate / layout.subsPerRoom,
          warmupMs: cfg.warmupMs,
          measureMs: mode === "closed" ? cfg.saturationMs : cfg.stepMs,
          drainMs: cfg.drainMs,
          shedAfterMs: cfg.shedAfterMs,
          cpu: groups,
        }),
      ),
  };
}

function describeRun(r: RunSummary): string {
  if (r.mode === "closed") {
    return `closed loop ${Math.round(r.deliveredPerSec)} delivered/s (server CPU ${Math.round(r.cpu.server ?? 0)}%, generator ${Math.round(r.cpu.generator ?? 0)}%), undelivered ${r.undelivered}, dup ${r.duplicated}`;
  }
  return (
    `offered ${Math.round(r.offeredDelivered)}/s → delivered ${Math.round(r.deliveredPerSec)}/s, p50 ${fmtMs(r.latency.p50)} p99 ${fmtMs(r.latency.p99)} p99.9 ${fmtMs(r.latency.p999)}, ` +
    `undelivered ${r.undelivered}, dup ${r.duplicated}${r.shed ? `, shed ${r.shed}` : ""}${overloaded(r) ? " (overloaded)" : ""}`
  );
}

/**
 * A fan-out scenario over several targets, all set up at once (idle ones cost nothing) so that
 * the runs that decide the targets can be interleaved: closed-loop probes round-robin, the
 * ascending steps target by target, then more rounds at the target's load round-robin. A busy
 * spell of the machine then hits every target alike instead of one.
 */
export async function fanoutScenario(
  ctx: Ctx,
  scenario: "wide" | "many",
  kinds: TargetKind[],
  saturationOnly: TargetKind[] = [],
): Promise<FanoutResult[]> {
  const { cfg } = ctx;
  const sessions: FanoutSession[] = [];
  try {
    for (const kind of kinds) sessions.push(await openFanout(ctx, scenario, kind));
    const live = () => sessions.filter((s) => !s.result.error);
    const attempt = async (s: FanoutSession, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (e) {
        s.result.error = e instanceof Error ? e.message : String(e);
        log(`  ${scenario}/${s.result.target}: FAILED ${s.result.error}`);
      }
    };
    for (let round = 0; round < cfg.probeRounds; round++) {
      for (const s of live()) {
        await attempt(s, async () => {
          const r = await s.run("closed", 0);
          s.result.probes.push(r);
          log(`  ${scenario}/${s.result.target}: ${describeRun(r)}`);
        });
      }
    }
    const rates = [...cfg.rates].sort((a, b) => a - b);
    for (const s of live()) {
      if (saturationOnly.includes(s.result.target)) continue;
      await attempt(s, async () => {
        let targetDone = !rates.includes(cfg.targetRate);
        for (const rate of rates) {
          const last = s.result.steps.at(-1);
          // Past saturation only the target's load is still worth a step.
          if (last && overloaded(last) && (targetDone || rate !== cfg.targetRate)) continue;
          const step = await s.run("open", rate);
          if (rate === cfg.targetRate) targetDone = true;
          s.result.steps.push(step);
          log(`  ${scenario}/${s.result.target}: ${describeRun(step)}`);
        }
      });
    }
    for (let round = 1; round < cfg.targetRounds; round++) {
      for (const s of live()) {
        if (saturationOnly.includes(s.result.target)) continue;
        await attempt(s, async () => {
          const r = await s.run("open", cfg.targetRate);
          s.result.repeats.push(r);
          log(`  ${scenario}/${s.result.target}: repeat ${round}: ${describeRun(r)}`);
        });
      }
    }
  } finally {
    for (const s of sessions) await s.close();
  }
  for (const s of sessions) {
    const runs = runsOf(s.result);
    if (runs.length) s.result.peak = runs.reduce((a, b) => (b.deliveredPerSec > a.deliveredPerSec ? b : a));
  }
  return sessions.map((s) => s.result);
}

function fmtMs(v: number | undefined): string {
  return v === undefined ? "–" : `${v.toFixed(2)} ms`;
}

// ---- connections ------------------------------------------------------------------------------------

export interface ConnectionsResult {
  target: TargetKind;
  pid?: number;
  requested: number;
  established: number;
  failed: number;
  connectSeconds: number;
  connPerSec: number;
  rssBefore: number;
  rssAfter: number;
  bytesPerConn: number;
  cpu: Record<string, number>;
  /** The connect phase on CLOCK_MONOTONIC, µs. */
  window: [number, number];
  delivery?: { expected: number; received: number; duplicated: number; openSubs: number };
  closedSockets: number;
  errorFrames: number;
  errors: string[];
  logIssues?: { warnings: number; errors: number; samples: string[] };
  error?: string;
}

export async function connections(ctx: Ctx, kind: TargetKind): Promise<ConnectionsResult> {
  const { cfg } = ctx;
  const layout: Layout = { rooms: cfg.connRooms, subsPerRoom: Math.ceil(cfg.conns / cfg.connRooms), usersPerRoom: 1, pubsPerRoom: 1 };
  const result: ConnectionsResult = {
    target: kind,
    requested: 0,
    established: 0,
    failed: 0,
    connectSeconds: 0,
    connPerSec: 0,
    rssBefore: 0,
    rssAfter: 0,
    bytesPerConn: 0,
    cpu: {},
    window: [0, 0],
    closedSockets: 0,
    errorFrames: 0,
    errors: [],
  };
  let target: Target | undefined;
  const gens: Generator[] = [];
  try {
    target = await startTarget(ctx, kind, loadEnv(cfg));
    result.pid = target.pid;
    const prep = await prepare(target, layout);
    const subs = prep.subs.slice(0, cfg.conns);
    for (let i = 0; i < cfg.connGenerators; i++) gens.push(await Generator.start());
    // One more process publishes, so the subscribers' processes only receive.
    const publisher = await Generator.start();
    await publisher.call({
      cmd: "publishers",
      protocol: isServer(kind) ? "trpc" : "baseline",
      via: isServer(kind) ? cfg.sendVia : "ws",
      httpUrl: target.httpUrl,
      wsUrl: target.wsUrl,
      pubs: prep.pubs,
      textBytes: cfg.textBytes,
      httpSockets: cfg.httpSockets,
    });
    gens.push(publisher);
    await sleep(1000);
    result.rssBefore = rssBytes(target.pid);
    const groups = cpuGroups(target, gens);
    const cpuA = sampleCpu(groups);
    result.window[0] = mono();
    const t0 = now();
    const parts = gens.slice(0, cfg.connGenerators).map((_, i) => subs.filter((__, k) => k % cfg.connGenerators === i));
    const connects = await Promise.all(
      parts.map((part, i) =>
        (gens[i] as Generator).call<ConnectResult>({
          cmd: "connect",
          protocol: isServer(kind) ? "trpc" : "baseline",
          wsUrl: target?.wsUrl ?? "",
          subs: part,
          concurrency: cfg.connectConcurrency,
          timeoutMs: 60_000,
        }),
      ),
    );
    result.connectSeconds = (now() - t0) / 1000;
    result.window[1] = mono();
    result.cpu = cpuPercent(cpuA, sampleCpu(groups), result.connectSeconds);
    result.requested = subs.length;
    result.established = connects.reduce((n, c) => n + c.established, 0);
    result.failed = connects.reduce((n, c) => n + c.failed, 0);
    result.errors = connects.flatMap((c) => c.errors).slice(0, 5);
    result.connPerSec = result.established / result.connectSeconds;
    await sleep(2000);
    result.rssAfter = rssBytes(target.pid);
    result.bytesPerConn = result.established ? (result.rssAfter - result.rssBefore) / result.established : 0;
    log(`  conns/${kind}: ${result.established}/${result.requested} in ${result.connectSeconds.toFixed(1)} s (${Math.round(result.connPerSec)}/s), ${Math.round(result.bytesPerConn)} B/conn`);
    // Hold them, then check every one still delivers.
    await sleep(cfg.holdMs);
    const phase = ++ctx.phase;
    const sent = await publisher.call<PublishOnceResult>({ cmd: "publishOnce", phase });
    if (sent.ok !== sent.sent) result.errors.push(...sent.errors);
    const perGen = await Promise.all(
      gens.slice(0, cfg.connGenerators).map((g) => g.call<ExpectResult>({ cmd: "expect", phase, perSub: 1, timeoutMs: 15_000 })),
    );
    result.delivery = {
      expected: perGen.reduce((n, r) => n + r.expected, 0),
      received: perGen.reduce((n, r) => n + r.received, 0),
      duplicated: perGen.reduce((n, r) => n + r.duplicated, 0),
      openSubs: perGen.reduce((n, r) => n + r.openSubs, 0),
    };
    const st = await Promise.all(gens.map((g) => g.call<StatsResult>({ cmd: "stats" })));
    result.closedSockets = st.reduce((n, s) => n + s.closedSockets, 0);
    result.errorFrames = st.reduce((n, s) => n + s.errorFrames, 0);
    for (const s of st) result.errors.push(...s.errorFrameSamples);
    log(`  conns/${kind}: delivery ${result.delivery.received}/${result.delivery.expected}, closed ${result.closedSockets}, error frames ${result.errorFrames}`);
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    log(`  conns/${kind}: FAILED ${result.error}`);
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await target?.stop();
    if (target) result.logIssues = serverLogIssues(target);
  }
  return result;
}

// ---- auth ---------------------------------------------------------------------------------------------

export interface OpsSummary extends Omit<OpsResult, "latency"> {
  latency: LatencySummary;
}

function summarizeOps(r: OpsResult): OpsSummary {
  return { ...r, latency: summarize(Histogram.fromJSON(r.latency)) };
}

/** Several runs as one: operations over total time, merged latencies, time-weighted CPU. */
function mergeOps(rs: OpsResult[]): OpsResult {
  const h = new Histogram();
  for (const r of rs) h.merge(Histogram.fromJSON(r.latency));
  const seconds = rs.reduce((n, r) => n + r.measureSeconds, 0);
  const ops = rs.reduce((n, r) => n + r.ops, 0);
  const cpu: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r.cpu)) cpu[k] = (cpu[k] ?? 0) + (v * r.measureSeconds) / seconds;
  return {
    opsPerSec: ops / seconds,
    ops,
    total: rs.reduce((n, r) => n + r.total, 0),
    errors: rs.reduce((n, r) => n + r.errors, 0),
    errorSamples: rs.flatMap((r) => r.errorSamples).slice(0, 5),
    latency: h.toJSON(),
    measureSeconds: seconds,
    cpu,
    window: [rs[0]?.window[0] ?? 0, rs.at(-1)?.window[1] ?? 0],
  };
}

export interface AuthResult {
  target: TargetKind;
  pid?: number;
  argon2: { memoryCost: number; timeCost: number; parallelism: number; hashConcurrency: number };
  concurrency: number;
  login?: OpsSummary;
  refresh?: OpsSummary;
  me?: OpsSummary;
  /** Raw argon2id verifies, all rounds together. */
  rawArgon2?: OpsSummary;
  /** Logins and raw verifies alternate in rounds, so a drifting machine load hits both alike. */
  rounds: { login: OpsSummary; rawArgon2: OpsSummary }[];
  /**
   * Failed logins, a wrong password and an unknown email, alternating in the same rounds: both
   * must cost one argon2 verification (no telling users apart by time). The test suite checks
   * that by counting verifications (attack-login.test.ts); the time is measured here.
   */
  wrongPassword?: OpsSummary;
  unknownUser?: OpsSummary;
  /** The login loop windows (for the profile). */
  loginWindows: [number, number][];
  logIssues?: { warnings: number; errors: number; samples: string[] };
  error?: string;
}

export async function auth(ctx: Ctx, kind: TargetKind): Promise<AuthResult> {
  const { cfg } = ctx;
  const env = authEnv(cfg);
  const params = {
    memoryCost: Number(env.ARGON2_MEMORY_KIB ?? 19456),
    timeCost: Number(env.ARGON2_TIME_COST ?? 2),
    parallelism: Number(env.ARGON2_PARALLELISM ?? 1),
    hashConcurrency: Number(env.HASH_CONCURRENCY ?? 4),
  };
  const result: AuthResult = { target: kind, argon2: params, concurrency: cfg.authConcurrency, rounds: [], loginWindows: [] };
  let target: Target | undefined;
  let gen: Generator | undefined;
  try {
    target = await startTarget(ctx, kind, env);
    result.pid = target.pid;
    const api = new TrpcHttp(target.httpUrl, 8);
    const users = await registerUsers(api, Math.max(cfg.authUsers, cfg.authConcurrency), params.hashConcurrency);
    api.close();
    const creds = users.map((u) => ({
      email: u.email,
      password: u.password,
      refreshToken: u.session.refreshToken,
      accessToken: u.session.accessToken,
    }));
    gen = await Generator.start();
    const groups = cpuGroups(target, [gen]);
    const loop = (op: AuthOp, measureMs: number) =>
      gen?.call<OpsResult>({
        cmd: "authLoop",
        op,
        httpUrl: target?.httpUrl ?? "",
        concurrency: cfg.authConcurrency,
        warmupMs: cfg.warmupMs,
        measureMs,
        creds,
        cpu: groups,
      }) as Promise<OpsResult>;
    // Raw argon2id verifies with the same parameters and the server's concurrency, in a
    // separate process while the server idles: what the hardware allows. Rounds alternate
    // raw verifies and logins so that a drifting machine load hits both alike.
    const raw = (measureMs: number) =>
      (gen as Generator).call<OpsResult>({
        cmd: "argon2",
        concurrency: params.hashConcurrency,
        memoryCost: params.memoryCost,
        timeCost: params.timeCost,
        parallelism: params.parallelism,
        warmupMs: cfg.warmupMs,
        measureMs,
        cpu: groups,
      });
    const roundMs = Math.max(500, Math.round(cfg.authMs / cfg.authRounds));
    const raws: OpsResult[] = [];
    const logins: OpsResult[] = [];
    for (let i = 0; i < cfg.authRounds; i++) {
      const r = await raw(roundMs);
      const l = await loop("login", roundMs);
      raws.push(r);
      logins.push(l);
      result.rounds.push({ rawArgon2: summarizeOps(r), login: summarizeOps(l) });
      result.loginWindows.push(l.window);
      log(`  auth/${kind}: round ${i + 1}: raw argon2 ${r.opsPerSec.toFixed(1)}/s, login ${l.opsPerSec.toFixed(1)}/s`);
    }
    result.rawArgon2 = summarizeOps(mergeOps(raws));
    result.login = summarizeOps(mergeOps(logins));
    const wrong: OpsResult[] = [];
    const unknown: OpsResult[] = [];
    for (let i = 0; i < cfg.authRounds; i++) {
      wrong.push(await loop("login-wrong", roundMs));
      unknown.push(await loop("login-unknown", roundMs));
    }
    result.wrongPassword = summarizeOps(mergeOps(wrong));
    result.unknownUser = summarizeOps(mergeOps(unknown));
    log(`  auth/${kind}: failed login p50 wrong password ${result.wrongPassword.latency.p50?.toFixed(1)} ms, unknown user ${result.unknownUser.latency.p50?.toFixed(1)} ms`);
    result.refresh = summarizeOps(await loop("refresh", cfg.authMs));
    result.me = summarizeOps(await loop("me", cfg.authMs));
    log(`  auth/${kind}: login ${result.login.opsPerSec.toFixed(1)}/s vs raw argon2 ${result.rawArgon2.opsPerSec.toFixed(1)}/s, refresh ${Math.round(result.refresh.opsPerSec)}/s, me ${Math.round(result.me.opsPerSec)}/s`);
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    log(`  auth/${kind}: FAILED ${result.error}`);
  } finally {
    await gen?.stop();
    await target?.stop();
    if (target) result.logIssues = serverLogIssues(target);
  }
  return result;
}

// ---- send path ------------------------------------------------------------------------------------------

export interface SendResult {
  target: TargetKind;
  /** The transport the sends went over. */
  via: "http" | "ws";
  pid?: number;
  concurrency: number;
  rooms: number;
  users: number;
  ops?: OpsSummary;
  /** Messages stored (sum of the rooms' newest seq) and sends acknowledged over the whole loop. */
  stored?: number;
  logIssues?: { warnings: number; errors: number; samples: string[] };
  error?: string;
}

export async function sendPath(ctx: Ctx, kind: TargetKind, via: "http" | "ws" = ctx.cfg.sendVia): Promise<SendResult> {
  const { cfg } = ctx;
  const layout: Layout = { rooms: cfg.sendRooms, subsPerRoom: 0, usersPerRoom: Math.ceil(cfg.sendUsers / cfg.sendRooms), pubsPerRoom: Math.ceil(cfg.sendUsers / cfg.sendRooms) };
  const result: SendResult = { target: kind, via, concurrency: cfg.sendConcurrency, rooms: layout.rooms, users: layout.rooms * layout.usersPerRoom };
  let target: Target | undefined;
  let gen: Generator | undefined;
  try {
    target = await startTarget(ctx, kind, loadEnv(cfg));
    result.pid = target.pid;
    const prep = await prepare(target, layout);
    gen = await Generator.start();
    await gen.call({
      cmd: "publishers",
      protocol: "trpc",
      via,
      httpUrl: target.httpUrl,
      wsUrl: target.wsUrl,
      pubs: prep.pubs,
      textBytes: cfg.textBytes,
      httpSockets: Math.max(cfg.httpSockets, cfg.sendConcurrency),
    });
    result.ops = summarizeOps(
      await gen.call<OpsResult>({
        cmd: "sendLoop",
        concurrency: cfg.sendConcurrency,
        warmupMs: cfg.warmupMs,
        measureMs: cfg.sendMs,
        cpu: cpuGroups(target, [gen]),
      }),
    );
    const api = new TrpcHttp(target.httpUrl, 8);
    const owner = prep.users;
    let stored = 0;
    for (let r = 0; r < prep.roomIds.length; r++) {
      const member = owner[r * layout.usersPerRoom] as BenchUser;
      // seq counts every event (members joining too): count the chat messages page by page.
      let beforeSeq: number | undefined;
      for (;;) {
        const input = { roomId: prep.roomIds[r], limit: 100, ...(beforeSeq === undefined ? {} : { beforeSeq }) };
        const page = await api.query<{ messages: Message[]; hasMore: boolean }>("room.history", input, member.session.accessToken);
        stored += page.messages.filter((m) => m.kind === "text").length;
        beforeSeq = page.messages[0]?.seq;
        if (!page.hasMore || beforeSeq === undefined) break;
      }
    }
    api.close();
    result.stored = stored;
    log(`  send/${kind} over ${via}: ${Math.round(result.ops.opsPerSec)} acknowledged sends/s (p99 ${fmtMs(result.ops.latency.p99)}), stored ${stored}, errors ${result.ops.errors}`);
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    log(`  send/${kind}: FAILED ${result.error}`);
  } finally {
    await gen?.stop();
    await target?.stop();
    if (target) result.logIssues = serverLogIssues(target);
  }
  return result;
}
