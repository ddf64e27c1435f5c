/**
 * Reconnect storm (issue 12): `stormSubs` subscribed tRPC sockets over `stormRooms` rooms, in
 * `stormGenerators` processes, while messages flow (HTTP room.send with a clientMsgId, retried
 * while the server is down). The server is stopped (SIGTERM, as an operator's restart: it tells
 * each socket to reconnect, 1012) and started again on the same port and data; every client
 * reconnects on its own schedule (storm-client.ts) and resumes from its last seq. Figures: time
 * from the stop until every socket has resumed and until every socket has caught up (holds every
 * message its room had acknowledged when it resumed), connection attempts, and on PostgreSQL the
 * statements the database ran from the stop until all caught up (pg_stat_statements), per room.
 * Nothing may be lost or doubled: after the flow stops, every subscriber holds its room's whole
 * stream since it first subscribed, gap-free, each seq once.
 */
import type { Config } from "./config.js";
import type { Ctx } from "./scenarios.js";
import { loadEnv, prepare, serverLogIssues, type Layout } from "./scenarios.js";
import type { StormFinal, StormSpec, StormStatus } from "./storm-client.js";
import { Generator, startServer, type ServerTarget, type TargetKind } from "./targets.js";
import { log, mono, sleep } from "./util.js";

export interface StormResult {
  target: TargetKind;
  pid?: number;
  subs: number;
  rooms: number;
  established?: number;
  /** ms from the stop (SIGTERM) until the new process answered /readyz. */
  restartMs?: number;
  /** ms from the stop until the last socket resumed / caught up (undefined: not all did in time). */
  resumedMs?: number;
  caughtUpMs?: number;
  /** How many did, at the end of the wait. */
  resumed?: number;
  caughtUp?: number;
  /** Connection attempts from the stop until all caught up (failed ones while the server was down included). */
  attempts?: number;
  /** Statements PostgreSQL ran from the stop until all caught up (the publisher's sends included), and per room. */
  statements?: number;
  statementsPerRoom?: number;
  topStatements?: { query: string; calls: number }[];
  final?: StormFinal;
  window?: [number, number];
  logIssues?: { warnings: number; errors: number; samples: string[] };
  error?: string;
}

export function merge(ss: StormStatus[]): StormStatus {
  const closes: Record<string, number> = {};
  for (const s of ss) for (const [k, v] of Object.entries(s.closes)) closes[k] = (closes[k] ?? 0) + v;
  const maxOf = (xs: (number | undefined)[]) => (xs.some((x) => x === undefined) ? undefined : Math.max(...(xs as number[])));
  return {
    subs: ss.reduce((n, s) => n + s.subs, 0),
    live: ss.reduce((n, s) => n + s.live, 0),
    dropped: ss.reduce((n, s) => n + s.dropped, 0),
    resumed: ss.reduce((n, s) => n + s.resumed, 0),
    caughtUp: ss.reduce((n, s) => n + s.caughtUp, 0),
    lastResumedMs: maxOf(ss.map((s) => s.lastResumedMs)),
    lastCaughtUpMs: maxOf(ss.map((s) => s.lastCaughtUpMs)),
    attempts: ss.reduce((n, s) => n + s.attempts, 0),
    gaps: ss.reduce((n, s) => n + s.gaps, 0),
    duplicated: ss.reduce((n, s) => n + s.duplicated, 0),
    closes,
    errors: ss.flatMap((s) => s.errors).slice(0, 10),
    sends: {
      ok: ss.reduce((n, s) => n + s.sends.ok, 0),
      retried: ss.reduce((n, s) => n + s.sends.retried, 0),
      failedForGood: ss.reduce((n, s) => n + s.sends.failedForGood, 0),
      longestAttemptMs: Math.max(0, ...ss.map((s) => s.sends.longestAttemptMs)),
    },
  };
}

export function stormProblems(s: StormResult): string[] {
  const tag = `storm/${s.target}`;
  const out: string[] = [];
  if (s.error) out.push(`${tag}: ${s.error}`);
  if (!s.error && s.caughtUp !== s.subs) out.push(`${tag}: ${s.caughtUp ?? 0} of ${s.subs} caught up in time`);
  const f = s.final;
  if (f) {
    if (f.complete !== f.subs || f.missing) out.push(`${tag}: after the drain ${f.complete}/${f.subs} subscribers complete, ${f.missing} deliveries missing`);
    if (f.duplicated) out.push(`${tag}: ${f.duplicated} deliveries doubled`);
    if (f.sends.failedForGood) out.push(`${tag}: ${f.sends.failedForGood} sends never acknowledged`);
    if (f.errors.length) out.push(`${tag}: ${f.errors[0]}`);
  }
  return out;
}

export async function reconnectStorm(ctx: Ctx, kind: TargetKind): Promise<StormResult> {
  const { cfg } = ctx;
  if (kind !== "pglite" && kind !== "postgres") throw new Error("the storm runs against the server");
  const perRoom = Math.ceil(cfg.stormSubs / cfg.stormRooms);
  const layout: Layout = { rooms: cfg.stormRooms, subsPerRoom: perRoom, usersPerRoom: cfg.stormUsersPerRoom, pubsPerRoom: 1 };
  const result: StormResult = { target: kind, subs: perRoom * cfg.stormRooms, rooms: cfg.stormRooms };
  const env = loadEnv(cfg);
  let target: ServerTarget | undefined;
  const gens: Generator[] = [];
  const statements = kind === "postgres" && !!ctx.pg?.statements;
  try {
    target = await startServer({ kind, ...(ctx.pg ? { pg: ctx.pg } : {}), env, runDir: ctx.runDir, trackStatements: statements });
    const prep = await prepare(target, layout);
    const g = cfg.stormGenerators;
    for (let i = 0; i < g; i++) gens.push(await Generator.start());
    // Rooms are split between the processes, so each one's publisher knows what its subscribers must get.
    const rooms = prep.roomIds.map((id, r) => ({ id, gen: r % g }));
    const specs: StormSpec[] = gens.map((_, i) => {
      const mine = new Set(rooms.filter((r) => r.gen === i).map((r) => r.id));
      return {
        wsUrl: (target as ServerTarget).wsUrl,
        httpUrl: (target as ServerTarget).httpUrl,
        subs: prep.subs.filter((s) => mine.has(s.roomId)),
        pubs: prep.pubs.filter((p) => mine.has(p.roomId)),
        sendRate: cfg.stormSendRate / g,
        retry: cfg.stormRetry === "wslink" ? "wslink" : "fixed",
        retryMs: cfg.stormRetryMs,
        connectConcurrency: cfg.connectConcurrency,
        timeoutMs: 30_000,
      };
    });
    const connected = await Promise.all(gens.map((gen, i) => gen.call<{ established: number; failed: number }>({ cmd: "stormStart", spec: specs[i] as StormSpec })));
    result.established = connected.reduce((n, c) => n + c.established, 0);
    if (result.established !== result.subs) throw new Error(`${result.subs - result.established} of ${result.subs} subscriptions failed before the storm`);
    log(`  storm/${kind}: ${result.established} sockets subscribed over ${cfg.stormRooms} rooms; messages flow at ${cfg.stormSendRate}/s`);
    await Promise.all(gens.map((gen) => gen.call({ cmd: "stormPublish" })));
    await sleep(cfg.stormBeforeMs);

    const pg = ctx.pg;
    const dbName = target.databaseUrl ? new URL(target.databaseUrl).pathname.slice(1) : "";
    if (statements && pg) await pg.query("SELECT pg_stat_statements_reset()");
    const stopAt = performance.timeOrigin + performance.now();
    await Promise.all(gens.map((gen) => gen.call({ cmd: "stormMark", at: stopAt })));
    const w0 = mono();
    target = await target.relaunch(env, { samePort: true });
    result.pid = target.pid;
    result.restartMs = performance.timeOrigin + performance.now() - stopAt;
    log(`  storm/${kind}: restarted in ${(result.restartMs / 1000).toFixed(1)} s`);
    const deadline = performance.now() + cfg.stormTimeoutMs;
    let st: StormStatus;
    for (;;) {
      st = merge(await Promise.all(gens.map((gen) => gen.call<StormStatus>({ cmd: "stormStatus" }))));
      if (st.caughtUp >= result.subs || performance.now() > deadline) break;
      await sleep(100);
    }
    result.window = [w0, mono()];
    result.resumed = st.resumed;
    result.caughtUp = st.caughtUp;
    result.attempts = st.attempts;
    if (st.resumed >= result.subs && st.lastResumedMs !== undefined) result.resumedMs = st.lastResumedMs;
    if (st.caughtUp >= result.subs && st.lastCaughtUpMs !== undefined) result.caughtUpMs = st.lastCaughtUpMs;
    if (statements && pg) {
      const rows = await pg.query<{ query: string; calls: string }>(
        "SELECT s.query, s.calls::text AS calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1 ORDER BY s.calls DESC",
        [dbName],
      );
      result.statements = rows.reduce((n, r) => n + Number(r.calls), 0);
      result.statementsPerRoom = result.statements / cfg.stormRooms;
      result.topStatements = rows.slice(0, 5).map((r) => ({ query: r.query.replace(/\s+/g, " ").slice(0, 160), calls: Number(r.calls) }));
    }
    const f = (v: number | undefined) => (v === undefined ? "not all" : `${(v / 1000).toFixed(2)} s`);
    log(
      `  storm/${kind}: ${st.resumed}/${result.subs} resumed (${f(result.resumedMs)} after the stop), ${st.caughtUp} caught up (${f(result.caughtUpMs)}), ` +
        `${st.attempts} connection attempts${result.statements !== undefined ? `, ${result.statements} statements (${Math.round(result.statementsPerRoom ?? 0)} per room)` : ""}`,
    );
    await sleep(cfg.stormAfterMs);
    const finals = await Promise.all(gens.map((gen) => gen.call<StormFinal>({ cmd: "stormStop", drainMs: 30_000 })));
    const m = merge(finals);
    result.final = { ...m, complete: finals.reduce((n, x) => n + x.complete, 0), missing: finals.reduce((n, x) => n + x.missing, 0) };
    log(
      `  storm/${kind}: after the drain ${result.final.complete}/${result.final.subs} complete, missing ${result.final.missing}, doubled ${result.final.duplicated}; ` +
        `sends ${result.final.sends.ok} acknowledged (${result.final.sends.retried} retries); closes ${JSON.stringify(result.final.closes)}`,
    );
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    log(`  storm/${kind}: FAILED ${result.error}`);
  } finally {
    for (const gen of gens) await gen.stop();
    await target?.stop();
    if (target) result.logIssues = serverLogIssues(target);
  }
  return result;
}

// ---- report ---------------------------------------------------------------------------------------

const LABEL: Record<string, string> = { pglite: "PGlite", postgres: "PostgreSQL" };
const sec = (v: number | undefined) => (v === undefined ? "–" : `${(v / 1000).toFixed(2)} s`);
const n = (v: number | undefined) => (v === undefined ? "–" : Math.round(v).toLocaleString("en-US"));

export function stormTargets(results: StormResult[]) {
  return results.map((s) => ({
    what: `reconnect storm: ${n(s.subs)} sockets resume after a restart, until all caught up`,
    server: s.target,
    goal: "reported; nothing lost or doubled",
    baseline: "",
    measured: s.error ? "failed" : sec(s.caughtUpMs),
    ratio: "",
    met: stormProblems(s).length ? false : undefined,
    note:
      s.error?.slice(0, 100) ??
      `restart ${sec(s.restartMs)}, all resumed ${sec(s.resumedMs)} after the stop` + (s.statementsPerRoom !== undefined ? `; ${n(s.statementsPerRoom)} statements per room` : ""),
  }));
}

export function stormSection(results: StormResult[], cfg: Config): string {
  if (results.length === 0) return "";
  const out: string[] = [];
  out.push(`## Reconnect storm: ${n(results[0]?.subs)} sockets resume after a restart`);
  out.push("");
  out.push(
    `${n(results[0]?.subs)} tRPC sockets, one \`room.onMessage\` subscription each, over ${cfg.stormRooms} rooms (${cfg.stormUsersPerRoom} member users per room), in ${cfg.stormGenerators} processes; ` +
      `${cfg.stormSendRate} messages/s flow to the rooms over HTTP (a send that fails while the server is down is retried with its clientMsgId). ` +
      `After ${cfg.stormBeforeMs / 1000} s the server is stopped with SIGTERM (it asks every socket to reconnect) and started again on the same port and data. ` +
      `Each client reconnects ${cfg.stormRetry === "wslink" ? "on tRPC wsLink's default backoff" : `after ${cfg.stormRetryMs} ms ±50%, again and again until the server answers`}, ` +
      "and resumes from the last seq it saw (`lastEventId`). *Resumed*: its new subscription started; *caught up*: it holds every message its room had acknowledged when it resumed. " +
      "Times are from the stop. *Statements* (PostgreSQL, `pg_stat_statements`): everything the database ran from the stop until all caught up, the senders' messages included. " +
      `After all caught up the flow goes on ${cfg.stormAfterMs / 1000} s, stops, and every subscriber must hold its room's whole stream since it subscribed, each seq once.`,
  );
  out.push("");
  const head = ["server", "restart", "all resumed", "all caught up", "connection attempts", "statements", "per room", "sends acknowledged", "missing", "doubled", "socket closes"];
  const rows = results.map((s) => [
    LABEL[s.target] ?? s.target,
    sec(s.restartMs),
    s.resumedMs !== undefined ? sec(s.resumedMs) : `${n(s.resumed)} of ${n(s.subs)}`,
    s.caughtUpMs !== undefined ? sec(s.caughtUpMs) : `${n(s.caughtUp)} of ${n(s.subs)}`,
    n(s.attempts),
    n(s.statements),
    n(s.statementsPerRoom),
    n(s.final?.sends.ok),
    n(s.final?.missing),
    n(s.final?.duplicated),
    s.final ? Object.entries(s.final.closes).map(([k, v]) => `${k}: ${v}`).join(", ") : s.error ? `failed: ${s.error.slice(0, 80)}` : "–",
  ]);
  out.push([`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n"));
  const top = results.find((s) => s.topStatements?.length);
  if (top?.topStatements) {
    out.push("");
    out.push(`The statements PostgreSQL ran most during the storm: ${top.topStatements.map((t) => `${n(t.calls)} × \`${t.query.replace(/`/g, "'")}\``).join("; ")}.`);
  }
  out.push("");
  return out.join("\n");
}
