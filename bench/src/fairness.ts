/**
 * The fairness figure: while one user and one anonymous client abuse the server within its
 * default limits over every transport (abuse.ts), how much slower are another user's auth.me,
 * room.send and /healthz (victim.ts) than on the same server idle, a moment before? Shared by
 * `pnpm bench --only=fairness` (the server as a process) and apps/server/test/fairness.test.ts
 * (the server in the test's process). Abusers and victim run in load-generator processes.
 */
import type { Message, Room, RoomSummary, Session } from "@anonchat/shared";
import type { AbuseReport, AbuseShape, AbuseSpec } from "./abuse.js";
import { Histogram } from "./histogram.js";
import { TrpcHttp } from "./http.js";
import { cpuPercent, loadAverage, sampleCpu, type CpuGroup } from "./proc.js";
import type { Generator } from "./targets.js";
import { mapLimit, mono, randomId, sleep } from "./util.js";
import { VICTIM_OPS, type VictimOp, type VictimResult, type VictimSpec } from "./victim.js";

export interface FairnessSizes {
  /** Messages in the room the abuser replays from seq 0. */
  bigRoomMessages: number;
  /** Rooms the abuser belongs to (room.list lists them all, with unread counts), and messages from another user in each. */
  rooms: number;
  roomMessages: number;
  /** Rounds of the victim's three operations per phase, and their start-to-start interval. */
  samples: number;
  paceMs: number;
  /** A phase ends after this long even if the victim did fewer rounds (when the abuse stalls the server). */
  maxPhaseMs: number;
  /** Abuse before the victim's measured window starts. */
  warmupMs: number;
  /** X-Forwarded-For addresses the abusive user spreads over (so its per-user limits, not one address's, hold it). */
  abuserAddresses: number;
  shape: AbuseShape;
}

/** The abuse at the server's default limits: every cap reached, and passed. */
export const DEFAULT_SHAPE: AbuseShape = {
  batchLoops: 4,
  batchCalls: 32,
  replaySockets: 4,
  subsPerSocket: 32,
  replayHeadStartMs: 30_000,
  inFlightSockets: 2,
  inFlightPerSocket: 48,
  legacySockets: 4,
  legacyAfterMs: 30_000,
  extraSockets: 14,
  anonHttpLoops: 2,
  anonSockets: 2,
};

export interface FairnessSeed {
  victim: { token: string; roomId: string };
  abuser: { token: string; bigRoomId: string; bigRoomLastSeq: number; legacyRoomId: string; rooms: number };
  messages: number;
  seconds: number;
}

export interface OpRatio {
  op: VictimOp;
  idle: { p50: number | undefined; p95: number | undefined; max: number | undefined };
  abuse: { p50: number | undefined; p95: number | undefined; max: number | undefined };
  p50: number | undefined;
  p95: number | undefined;
}

export interface FairnessRun {
  idle: VictimResult;
  abuse: VictimResult;
  /** The victim's window under abuse on CLOCK_MONOTONIC, µs (to cut a CPU profile to it). */
  window: [number, number];
  /** CPU over each phase, % of one core, by process group (server, postgres, abuser, victim). */
  cpu: { idle: Record<string, number>; abuse: Record<string, number> };
  abuseReport: AbuseReport;
  ratios: OpRatio[];
  loadBefore: string;
  loadAfter: string;
}

// ---- seeding (a setup path with raised limits: the server is restarted with its defaults after) ----

async function batchCall<T>(http: TrpcHttp, path: string, inputs: unknown[], token: string): Promise<T[]> {
  const body = JSON.stringify(Object.fromEntries(inputs.map((v, i) => [String(i), v])));
  const text = await http.request("POST", `/trpc/${inputs.map(() => path).join(",")}?batch=1`, body, token);
  const answers = JSON.parse(text) as Array<{ result?: { data: T }; error?: unknown }>;
  return answers.map((a) => {
    if (!a.result) throw new Error(`${path} failed: ${JSON.stringify(a.error).slice(0, 200)}`);
    return a.result.data;
  });
}

function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/**
 * Users, rooms and messages through the API of a server started with raised limits: the victim
 * and their room; the abuser, member of `rooms` rooms of a third user full of unread messages and
 * of one big room; and a room the abuser owns for their legacy sockets.
 */
export async function seedFairness(httpUrl: string, sizes: FairnessSizes): Promise<FairnessSeed> {
  const t0 = performance.now();
  const http = new TrpcHttp(httpUrl, 16);
  try {
    const tag = randomId(5);
    const register = (who: string) =>
      http.mutation<Session>("auth.register", { login: `f${tag}${who}`, email: `f${tag}${who}@fair.test`, password: `pw-${tag}-${who}-secret` });
    const [victim, abuser, other] = [await register("victim"), await register("abuser"), await register("other")];
    const victimRoom = await http.mutation<Room>("room.create", { name: "victim's room", maxMembers: 10 }, victim.accessToken);
    const legacyRoom = await http.mutation<Room>("room.create", { name: "abuser's room", maxMembers: 10 }, abuser.accessToken);
    const bigRoom = await http.mutation<Room>("room.create", { name: "big room", maxMembers: 10 }, other.accessToken);
    const roomInputs = Array.from({ length: sizes.rooms }, (_, i) => ({ name: `room ${i}`, maxMembers: 10 }));
    const rooms = (await mapLimit(chunks(roomInputs, 32), 4, (c) => batchCall<Room>(http, "room.create", c, other.accessToken))).flat();
    const all = [bigRoom, ...rooms];
    await mapLimit(chunks(all.map((r) => ({ roomId: r.id })), 32), 4, (c) => batchCall<Room>(http, "room.join", c, abuser.accessToken));
    const sends = [
      ...Array.from({ length: sizes.bigRoomMessages }, (_, i) => ({ roomId: bigRoom.id, text: `big ${i} ${"x".repeat(80)}` })),
      ...rooms.flatMap((r) => Array.from({ length: sizes.roomMessages }, (_, i) => ({ roomId: r.id, text: `unread ${i}` }))),
    ];
    await mapLimit(chunks(sends, 32), 4, (c) => batchCall<Message>(http, "room.send", c, other.accessToken));
    const summaries = await http.query<RoomSummary[]>("room.list", undefined, abuser.accessToken);
    const big = summaries.find((r) => r.id === bigRoom.id);
    if (!big) throw new Error("the big room is not in the abuser's room list");
    return {
      victim: { token: victim.accessToken, roomId: victimRoom.id },
      abuser: { token: abuser.accessToken, bigRoomId: bigRoom.id, bigRoomLastSeq: big.lastSeq, legacyRoomId: legacyRoom.id, rooms: summaries.length },
      messages: sends.length,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    http.close();
  }
}

// ---- the measurement ------------------------------------------------------------------------------

/** Victim addresses: one per operation and phase (192.0.2.0/24, TEST-NET-1). */
function victimAddresses(phase: number): VictimSpec["addresses"] {
  return {
    "auth.me": `192.0.2.${phase * 10 + 1}`,
    "room.send": `192.0.2.${phase * 10 + 2}`,
    healthz: `192.0.2.${phase * 10 + 3}`,
    subscribe: `192.0.2.${phase * 10 + 4}`,
  };
}

/** The abusive user's addresses (198.51.100.0/24) and the anonymous client's (203.0.113.7). */
export function abuseSpec(httpUrl: string, wsBase: string, seed: FairnessSeed, sizes: FairnessSizes): AbuseSpec {
  return {
    httpUrl,
    wsBase,
    user: {
      token: seed.abuser.token,
      addresses: Array.from({ length: sizes.abuserAddresses }, (_, i) => `198.51.100.${i + 1}`),
      bigRoomId: seed.abuser.bigRoomId,
      bigRoomLastSeq: seed.abuser.bigRoomLastSeq,
      legacyRoomId: seed.abuser.legacyRoomId,
    },
    anon: { address: "203.0.113.7" },
    shape: sizes.shape,
  };
}

function percentiles(h: Histogram) {
  return { p50: h.percentile(0.5), p95: h.percentile(0.95), max: h.count ? h.max : undefined };
}

export function ratiosOf(idle: VictimResult, abuse: VictimResult): OpRatio[] {
  return VICTIM_OPS.map((op) => {
    const i = percentiles(Histogram.fromJSON(idle.latency[op]));
    const a = percentiles(Histogram.fromJSON(abuse.latency[op]));
    const ratio = (x: number | undefined, y: number | undefined) => (x !== undefined && y ? x / y : undefined);
    return { op, idle: i, abuse: a, p50: ratio(a.p50, i.p50), p95: ratio(a.p95, i.p95) };
  });
}

/**
 * Idle first: the victim alone on the server. Then the abuse starts, and after `warmupMs` the
 * victim does the same again while it goes on; the abuse stops when the victim is done.
 */
export async function measureFairness(
  gens: { abuse: Generator; victim: Generator },
  urls: { httpUrl: string; wsBase: string },
  seed: FairnessSeed,
  sizes: FairnessSizes,
  log: (line: string) => void = () => undefined,
  cpuGroups: CpuGroup[] = [],
  /** Tells this run's victim messages from another run's on the same server. */
  tag = "",
): Promise<FairnessRun> {
  const loadBefore = loadAverage();
  const groups = [...cpuGroups, { name: "abuser", pids: [gens.abuse.pid] }, { name: "victim", pids: [gens.victim.pid] }];
  const measured = async <T>(fn: () => Promise<T>): Promise<{ value: T; cpu: Record<string, number>; window: [number, number] }> => {
    const a = sampleCpu(groups);
    const t0 = performance.now();
    const start = mono();
    const value = await fn();
    return { value, cpu: cpuPercent(a, sampleCpu(groups), (performance.now() - t0) / 1000), window: [start, mono()] };
  };
  const subscribe = (phase: string, n: number) =>
    gens.victim.call({
      cmd: "victimSubscribe",
      spec: { ...urls, token: seed.victim.token, roomId: seed.victim.roomId, phase, addresses: victimAddresses(n), samples: sizes.samples, paceMs: sizes.paceMs, maxMs: sizes.maxPhaseMs },
    });
  const probe = () => gens.victim.call<VictimResult>({ cmd: "victimRun" });
  await subscribe(`idle${tag}`, 1);
  const { value: idle, cpu: idleCpu } = await measured(probe);
  log(`idle: ${idle.rounds} rounds in ${idle.seconds.toFixed(1)} s, ${idle.acked} sends acknowledged`);
  // The victim's subscription is opened before the abuse: an abuse that stalls the server must
  // not keep the measurement from starting.
  await subscribe(`abuse${tag}`, 2);
  await gens.abuse.call({ cmd: "abuseStart", spec: abuseSpec(urls.httpUrl, urls.wsBase, seed, sizes) });
  const underAbuse = sleep(sizes.warmupMs).then(() => measured(probe));
  // Stopped even when the probe failed, so the generator's sockets do not outlive the run.
  const settled = await underAbuse.then(
    (r) => ({ ok: true as const, r }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  const abuseReport = await gens.abuse.call<AbuseReport>({ cmd: "abuseStop" });
  if (!settled.ok) throw settled.e;
  const { value: abuse, cpu: abuseCpu, window } = settled.r;
  log(`under abuse: ${abuse.rounds} rounds in ${abuse.seconds.toFixed(1)} s, ${abuse.acked} sends acknowledged; abuse ran ${abuseReport.seconds.toFixed(1)} s`);
  return { idle, abuse, window, cpu: { idle: idleCpu, abuse: abuseCpu }, abuseReport, ratios: ratiosOf(idle, abuse), loadBefore, loadAfter: loadAverage() };
}

const f = (v: number | undefined, digits = 1) => (v === undefined ? "–" : v.toFixed(digits));

/** One line per run: the ratios, then the figures they come from. */
export function formatRatios(run: FairnessRun): string {
  return run.ratios
    .map((r) => `${r.op} p50 ${f(r.p50, 2)}× (${f(r.idle.p50, 2)}→${f(r.abuse.p50, 2)} ms), p95 ${f(r.p95, 2)}× (${f(r.idle.p95, 2)}→${f(r.abuse.p95, 2)} ms)`)
    .join("; ");
}

/** The abuse counters, grouped for a log line. */
export function formatCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
}

/** CPU by process group, for a log line: "server 97%, abuser 88%, …". */
export function formatCpu(cpu: Record<string, number>): string {
  return Object.entries(cpu)
    .map(([k, v]) => `${k} ${Math.round(v)}%`)
    .join(", ");
}
