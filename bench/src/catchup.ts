/**
 * Catch-up (issue 12): one subscriber resumes after missing `catchupMessages` messages (seeded
 * with SQL into `catchupRooms` rooms, resumed in turn so that each first pass reads cold pages),
 * while another user's requests (auth.me, room.send, /healthz, with their own live subscription
 * checking every sent message arrives once) are measured, first on the idle server, then during
 * the catch-ups. Figures: how long a catch-up takes, and the other user's p50/p99 against idle.
 * Every catch-up must deliver every missed message exactly once, in order.
 */
import type { Room, Session } from "@anonchat/shared";
import type { CatchupRun, CatchupSpec } from "./catchup-client.js";
import type { Config } from "./config.js";
import { Histogram, summarize, type LatencySummary } from "./histogram.js";
import { TrpcHttp } from "./http.js";
import { cpuPercent, sampleCpu } from "./proc.js";
import type { Ctx } from "./scenarios.js";
import { seedHistory } from "./seed-sql.js";
import { Generator, startServer, type ServerTarget, type TargetKind } from "./targets.js";
import { log, mapLimit, mono, randomId } from "./util.js";
import { VICTIM_OPS, type VictimOp, type VictimResult, type VictimSpec } from "./victim.js";

export interface CatchupOpFigures {
  op: VictimOp;
  idle: LatencySummary;
  during: LatencySummary;
  p50Ratio: number | undefined;
  p99Ratio: number | undefined;
}

export interface CatchupResult {
  target: TargetKind;
  pid?: number;
  messages: number;
  rooms: number;
  seedSeconds?: number;
  idle?: VictimResult;
  during?: VictimResult;
  ops: CatchupOpFigures[];
  catchups: CatchupRun[];
  /** Seconds per catch-up: the first pass over the rooms (pages read from the database) and all. */
  firstPass?: LatencySummary;
  all?: LatencySummary;
  cpu?: { idle: Record<string, number>; during: Record<string, number> };
  window?: [number, number];
  logIssues?: { warnings: number; errors: number; samples: string[] };
  error?: string;
}

/** Setup only: raised limits to create the users and rooms quickly. */
const SETUP_ENV: Record<string, string> = {
  RATE_LIMIT_PER_IP: "10000000",
  REGISTRATIONS_PER_IP: "10000000",
  RATE_LIMIT_PER_USER: "10000000",
  ARGON2_MEMORY_KIB: "1024",
  ARGON2_TIME_COST: "1",
  LOG_LEVEL: "warn",
};

/** Measured: the product's defaults; 127.0.0.1 is a proxy so that each party has its own address. */
function measuredEnv(cfg: Config): Record<string, string> {
  return { TRUST_PROXY: "127.0.0.1", LOG_LEVEL: "warn", ...cfg.serverEnv };
}

function addresses(phase: number): VictimSpec["addresses"] {
  return { "auth.me": `192.0.2.${phase * 10 + 1}`, "room.send": `192.0.2.${phase * 10 + 2}`, healthz: `192.0.2.${phase * 10 + 3}`, subscribe: `192.0.2.${phase * 10 + 4}` };
}

export function catchupProblems(c: CatchupResult): string[] {
  const out: string[] = [];
  const tag = `catchup/${c.target}`;
  if (c.error) out.push(`${tag}: ${c.error}`);
  if (!c.error && c.catchups.length === 0) out.push(`${tag}: no catch-up ran`);
  for (const [i, r] of c.catchups.entries()) {
    if (r.error) out.push(`${tag} #${i + 1}: ${r.error}`);
    if (r.missing || r.duplicated || r.outOfOrder) out.push(`${tag} #${i + 1}: missing ${r.missing}, duplicated ${r.duplicated}, out of order ${r.outOfOrder}`);
  }
  for (const v of [c.idle, c.during]) {
    if (!v) continue;
    const failed = Object.values(v.failures).reduce((n, x) => n + x, 0);
    if (failed) out.push(`${tag} ${v.phase}: ${failed} of the other user's calls failed (${v.failureSamples[0] ?? ""})`);
    const d = v.delivery;
    if (v.acked !== v.rounds || d.missing || d.duplicated || d.outOfOrder) {
      out.push(`${tag} ${v.phase}: acked ${v.acked}/${v.rounds}, missing ${d.missing}, duplicated ${d.duplicated}, out of order ${d.outOfOrder}`);
    }
  }
  return out;
}

export async function catchup(ctx: Ctx, kind: TargetKind): Promise<CatchupResult> {
  const { cfg } = ctx;
  if (kind !== "pglite" && kind !== "postgres") throw new Error("the catch-up scenario runs against the server");
  const result: CatchupResult = { target: kind, messages: cfg.catchupMessages, rooms: cfg.catchupRooms, ops: [], catchups: [] };
  let target: ServerTarget | undefined;
  const gens: Generator[] = [];
  try {
    target = await startServer({ kind, ...(ctx.pg ? { pg: ctx.pg } : {}), env: SETUP_ENV, runDir: ctx.runDir });
    const api = new TrpcHttp(target.httpUrl, 8);
    const tag = randomId(5);
    const register = (who: string) => api.mutation<Session>("auth.register", { login: `c${tag}${who}`, email: `c${tag}${who}@catchup.test`, password: `pw-${tag}-${who}-secret` });
    const [writer, catcher, victim] = [await register("writer"), await register("catcher"), await register("victim")];
    const rooms = await mapLimit(Array.from({ length: cfg.catchupRooms }, (_, i) => i), 4, async (i) => {
      const room = await api.mutation<Room>("room.create", { name: `catch-up ${i}`, maxMembers: 10 }, writer.accessToken);
      await api.mutation<Room>("room.join", { roomId: room.id }, catcher.accessToken);
      return room;
    });
    const victimRoom = await api.mutation<Room>("room.create", { name: "other user's room", maxMembers: 10 }, victim.accessToken);
    api.close();

    await target.halt();
    const t0 = performance.now();
    const seeded = await seedHistory(
      target,
      rooms.map((r) => ({ roomId: r.id, senderId: writer.user.id, senderLogin: writer.user.login })),
      cfg.catchupMessages,
      cfg.textBytes,
    );
    result.seedSeconds = (performance.now() - t0) / 1000;
    log(`  catchup/${kind}: seeded ${cfg.catchupRooms} rooms × ${cfg.catchupMessages} messages with SQL in ${result.seedSeconds.toFixed(1)} s`);
    // A fresh process at the product's defaults: nothing of the history is in its memory.
    target = await target.relaunch(measuredEnv(cfg));
    result.pid = target.pid;
    gens.push(await Generator.start(), await Generator.start());
    const [victimGen, catcherGen] = gens as [Generator, Generator];
    const wsBase = target.wsUrl.replace(/\/trpc$/, "");
    const groups = [...target.cpuGroups(), { name: "catcher", pids: [catcherGen.pid] }, { name: "other user", pids: [victimGen.pid] }];
    const spec = (phase: string, n: number): VictimSpec => ({
      httpUrl: target?.httpUrl ?? "",
      wsBase,
      token: victim.accessToken,
      roomId: victimRoom.id,
      phase,
      addresses: addresses(n),
      samples: cfg.catchupSamples,
      paceMs: cfg.catchupPaceMs,
      maxMs: cfg.catchupMaxPhaseMs,
    });

    await victimGen.call({ cmd: "victimSubscribe", spec: spec("idle", 1) });
    let a = sampleCpu(groups);
    let ts = performance.now();
    result.idle = await victimGen.call<VictimResult>({ cmd: "victimRun" });
    const idleCpu = cpuPercent(a, sampleCpu(groups), (performance.now() - ts) / 1000);

    await victimGen.call({ cmd: "victimSubscribe", spec: spec("catchup", 2) });
    const cspec: CatchupSpec = { wsBase, token: catcher.accessToken, rooms: seeded, address: "198.51.100.1", timeoutMs: 120_000, max: 0 };
    a = sampleCpu(groups);
    ts = performance.now();
    const w0 = mono();
    await catcherGen.call({ cmd: "catchupStart", spec: cspec });
    let during: VictimResult | undefined;
    try {
      during = await victimGen.call<VictimResult>({ cmd: "victimRun" });
    } finally {
      result.catchups = await catcherGen.call<CatchupRun[]>({ cmd: "catchupStop" });
    }
    result.window = [w0, mono()];
    result.cpu = { idle: idleCpu, during: cpuPercent(a, sampleCpu(groups), (performance.now() - ts) / 1000) };
    result.during = during;

    const secs = (rs: CatchupRun[]) => {
      const h = new Histogram();
      for (const r of rs) if (!r.error) h.add(r.seconds * 1000);
      return summarize(h);
    };
    result.firstPass = secs(result.catchups.slice(0, seeded.length));
    result.all = secs(result.catchups);
    for (const op of VICTIM_OPS) {
      const i = summarize(Histogram.fromJSON(result.idle.latency[op]));
      const d = summarize(Histogram.fromJSON(during.latency[op]));
      const ratio = (x: number | undefined, y: number | undefined) => (x !== undefined && y ? x / y : undefined);
      result.ops.push({ op, idle: i, during: d, p50Ratio: ratio(d.p50, i.p50), p99Ratio: ratio(d.p99, i.p99) });
    }
    const f = (v: number | undefined) => (v === undefined ? "–" : v.toFixed(2));
    log(
      `  catchup/${kind}: ${result.catchups.length} catch-ups of ${cfg.catchupMessages}: first pass median ${f((result.firstPass.p50 ?? 0) / 1000)} s, all median ${f((result.all.p50 ?? 0) / 1000)} s` +
        ` (${Math.round(cfg.catchupMessages / ((result.all.p50 ?? 1) / 1000))} messages/s); ` +
        result.ops.map((o) => `${o.op} p50 ${f(o.idle.p50)}→${f(o.during.p50)} ms, p99 ${f(o.idle.p99)}→${f(o.during.p99)} ms`).join("; "),
    );
    const bad = catchupProblems(result);
    if (bad.length) log(`  catchup/${kind}: PROBLEMS ${bad.slice(0, 3).join("; ")}`);
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    log(`  catchup/${kind}: FAILED ${result.error}`);
  } finally {
    for (const g of gens) await g.stop();
    await target?.stop();
  }
  return result;
}

// ---- report ---------------------------------------------------------------------------------------

const LABEL: Record<string, string> = { pglite: "PGlite", postgres: "PostgreSQL" };
const ms = (v: number | undefined) => (v === undefined ? "–" : v >= 100 ? `${Math.round(v)} ms` : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`);
const sec = (v: number | undefined) => (v === undefined ? "–" : `${(v / 1000).toFixed(2)} s`);
const ratio = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? "–" : `${v.toFixed(2)}×`);
const n = (v: number) => v.toLocaleString("en-US");

export interface CatchupTargetRow {
  what: string;
  server: TargetKind;
  goal: string;
  baseline: string;
  measured: string;
  ratio: string;
  met: boolean | undefined;
  note: string;
}

/** Reported figures (the issue states no goal for them); missed only when something was lost or doubled. */
export function catchupTargets(results: CatchupResult[]): CatchupTargetRow[] {
  const rows: CatchupTargetRow[] = [];
  for (const c of results) {
    const clean = catchupProblems(c).length === 0;
    const p50 = c.all?.p50;
    rows.push({
      what: `catch-up: one subscriber resumes ${n(c.messages)} missed messages`,
      server: c.target,
      goal: "reported; nothing lost or doubled",
      baseline: "",
      measured: c.error ? "failed" : `${sec(p50)} (median of ${c.catchups.length})`,
      ratio: "",
      met: clean ? undefined : false,
      note: c.error ?? (p50 ? `${n(Math.round(c.messages / (p50 / 1000)))} messages/s; first pass over cold rooms: median ${sec(c.firstPass?.p50)}` : ""),
    });
    for (const o of c.ops) {
      rows.push({
        what: `catch-up: another user's ${o.op} p99 while it runs`,
        server: c.target,
        goal: "reported (vs the idle server)",
        baseline: ms(o.idle.p99),
        measured: ms(o.during.p99),
        ratio: ratio(o.p99Ratio),
        met: clean ? undefined : false,
        note: `p50 ${ms(o.idle.p50)} → ${ms(o.during.p50)}`,
      });
    }
  }
  return rows;
}

export function catchupSection(results: CatchupResult[], cfg: Config): string {
  if (results.length === 0) return "";
  const out: string[] = [];
  out.push(`## Catch-up: one subscriber resumes ${n(cfg.catchupMessages)} missed messages`);
  out.push("");
  out.push(
    `${cfg.catchupRooms} rooms each hold ${n(cfg.catchupMessages)} messages of ${cfg.textBytes} characters, written with SQL (\`INSERT … SELECT generate_series\`) into the stopped server's database; ` +
      "the server then starts afresh at the product's defaults (nothing of the history in its memory). One user resumes `room.onMessage` in each room in turn, on a fresh socket each time, " +
      "with `lastEventId` = the seq before the seeded messages, and reads until the newest: every seq must arrive once, in order. " +
      `Meanwhile another user does ${cfg.catchupSamples} rounds of \`auth.me\`, \`room.send\` (over HTTP) and \`GET /healthz\`, one every ${cfg.catchupPaceMs} ms, ` +
      "with a live subscription checking each sent message arrives once; the same rounds ran on the idle server just before. Each party has its own address (TRUST_PROXY=127.0.0.1).",
  );
  out.push("");
  out.push(
    table(
      ["server", "catch-ups", "first pass (cold) median", "all: median", "all: max", "messages/s (median)", "missing", "duplicated", "out of order", "server CPU during", "PostgreSQL CPU"],
      results.map((c) => {
        const sum = (k: "missing" | "duplicated" | "outOfOrder") => n(c.catchups.reduce((a, r) => a + r[k], 0));
        return [
          LABEL[c.target] ?? c.target,
          c.error ? `failed: ${c.error.slice(0, 80)}` : `${c.catchups.length}${c.catchups.some((r) => r.error) ? ` (${c.catchups.filter((r) => r.error).length} failed)` : ""}`,
          sec(c.firstPass?.p50),
          sec(c.all?.p50),
          sec(c.all?.max),
          c.all?.p50 ? n(Math.round(c.messages / (c.all.p50 / 1000))) : "–",
          sum("missing"),
          sum("duplicated"),
          sum("outOfOrder"),
          c.cpu?.during.server !== undefined ? `${Math.round(c.cpu.during.server)}%` : "–",
          c.cpu?.during.postgres !== undefined ? `${Math.round(c.cpu.during.postgres)}%` : "–",
        ];
      }),
    ),
  );
  out.push("");
  out.push("The other user's latency, idle → during the catch-ups:");
  out.push("");
  out.push(
    table(
      ["server", "operation", "p50 idle", "p50 during", "×", "p99 idle", "p99 during", "×", "failed calls"],
      results.flatMap((c) =>
        c.ops.map((o) => [
          LABEL[c.target] ?? c.target,
          `\`${o.op}\``,
          ms(o.idle.p50),
          ms(o.during.p50),
          ratio(o.p50Ratio),
          ms(o.idle.p99),
          ms(o.during.p99),
          ratio(o.p99Ratio),
          String((c.idle?.failures[o.op] ?? 0) + (c.during?.failures[o.op] ?? 0)),
        ]),
      ),
    ),
  );
  out.push("");
  return out.join("\n");
}

function table(head: string[], rows: string[][]): string {
  const a = head.map((_, i) => (i === 0 ? "---" : "---:"));
  return [`| ${head.join(" | ")} |`, `|${a.join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}
