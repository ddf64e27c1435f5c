/**
 * Failover (issue 13): the split deployment (gateway + auth + 2 chat replicas on PostgreSQL,
 * product defaults for every upstream timeout and check) under a steady flow of messages, and one
 * chat replica is killed (SIGKILL) or frozen (SIGSTOP) mid-flow. The clients are the reconnect
 * storm's (storm-client.ts): subscribed tRPC sockets through the gateway that reconnect when their
 * socket closes and resume from their last seq, and a publisher over HTTP through the gateway that
 * repeats a failed send with its clientMsgId.
 *
 * Figures per fault: how many sockets the fault cut off (those that reached the victim), the time
 * from the fault until the last of them resumed on the live replica and until it had caught up,
 * the longest any single send attempt took (no request may hang past the gateway's timeouts), the
 * sends that had to be repeated, and after the flow stops: every subscriber holds its room's whole
 * stream, each seq once.
 *
 * Not here: a replica removed from DNS (the gateway's look-ups go through the system resolver;
 * the bench does not rewrite /etc/hosts).
 */
import type { Room, Session } from "@anonchat/shared";
import type { Config } from "./config.js";
import { TrpcHttp } from "./http.js";
import type { Ctx } from "./scenarios.js";
import { startDeployment, websocketsOf, type Deployment } from "./split.js";
import { merge } from "./storm.js";
import type { StormFinal, StormSpec, StormStatus } from "./storm-client.js";
import { Generator } from "./targets.js";
import { log, mapLimit, randomId, sleep } from "./util.js";

export type Fault = "kill" | "freeze";
const FAULTS: Fault[] = ["kill", "freeze"];

/** The product defaults the figures depend on (apps/server/src/config.ts). */
const UPSTREAM_TIMEOUT_MS = 15_000;
const UPSTREAM_CONNECT_TIMEOUT_MS = 2_000;

export interface FailoverResult {
  fault: Fault;
  subs: number;
  rooms: number;
  /** Sockets on the victim replica when the fault struck. */
  onVictim?: number;
  /** Of them, how many the fault cut off (their socket closed), resumed and caught up. */
  dropped?: number;
  resumed?: number;
  caughtUp?: number;
  /** ms from the fault until the last cut-off socket resumed / caught up. */
  resumedMs?: number;
  caughtUpMs?: number;
  /** The longest single send attempt (ms), answered or failed. */
  longestSendMs?: number;
  final?: StormFinal & { complete: number; missing: number };
  error?: string;
}

export function failoverProblems(r: FailoverResult): string[] {
  const tag = `failover/${r.fault}`;
  if (r.error) return [`${tag}: ${r.error}`];
  const out: string[] = [];
  if (r.onVictim === undefined || r.onVictim === 0) out.push(`${tag}: no socket reached the victim replica`);
  if (r.caughtUp !== r.onVictim) out.push(`${tag}: ${r.caughtUp ?? 0} of ${r.onVictim ?? 0} cut-off sockets caught up in time`);
  const f = r.final;
  if (f) {
    if (f.complete !== f.subs || f.missing) out.push(`${tag}: after the drain ${f.complete}/${f.subs} subscribers complete, ${f.missing} deliveries missing`);
    if (f.duplicated) out.push(`${tag}: ${f.duplicated} deliveries doubled`);
    if (f.sends.failedForGood) out.push(`${tag}: ${f.sends.failedForGood} sends never acknowledged`);
  }
  return out;
}

async function oneFault(ctx: Ctx, fault: Fault): Promise<FailoverResult> {
  const { cfg } = ctx;
  const pg = ctx.pg;
  const result: FailoverResult = { fault, subs: cfg.failoverRooms * cfg.failoverSubsPerRoom, rooms: cfg.failoverRooms };
  if (!pg) return { ...result, error: "needs PostgreSQL" };
  let dep: Deployment | undefined;
  let gen: Generator | undefined;
  let frozenPid: number | undefined;
  try {
    // The upstream settings stay at the product defaults: the figures are what an operator gets.
    dep = await startDeployment(ctx, pg, 2, "postgres", undefined);
    const api = new TrpcHttp(dep.gatewayUrl, 8);
    const tag = randomId(4);
    const register = (who: string) =>
      api.mutation<Session>("auth.register", { login: `f${tag}${who}`, email: `f${tag}${who}@failover.test`, password: `pw-${tag}-${who}-secret` });
    const rooms = await mapLimit(Array.from({ length: cfg.failoverRooms }, (_, i) => i), 4, async (i) => {
      const owner = await register(`r${i}o`);
      const room = await api.mutation<Room>("room.create", { name: `failover ${i}`, maxMembers: 10 }, owner.accessToken);
      const pub = await register(`r${i}p`);
      await api.mutation<Room>("room.join", { roomId: room.id }, pub.accessToken);
      return { room, owner, pub };
    });
    api.close();

    gen = await Generator.start();
    const before = await Promise.all(dep.chatUrls.map(websocketsOf));
    const spec: StormSpec = {
      wsUrl: `${dep.gatewayUrl.replace(/^http/, "ws")}/trpc`,
      httpUrl: dep.gatewayUrl,
      subs: rooms.flatMap((r) => Array.from({ length: cfg.failoverSubsPerRoom }, () => ({ roomId: r.room.id, token: r.owner.accessToken }))),
      pubs: rooms.map((r) => ({ roomId: r.room.id, token: r.pub.accessToken })),
      sendRate: cfg.failoverSendRate,
      retry: "fixed",
      retryMs: cfg.stormRetryMs,
      connectConcurrency: 1, // one at a time: the gateway's turns spread them over both replicas
      timeoutMs: 30_000,
    };
    const c = await gen.call<{ established: number; failed: number }>({ cmd: "stormStart", spec });
    if (c.established !== result.subs) throw new Error(`${result.subs - c.established} of ${result.subs} subscriptions failed before the fault`);
    const after = await Promise.all(dep.chatUrls.map(websocketsOf));
    result.onVictim = (after[1] ?? 0) - (before[1] ?? 0);
    log(`  failover/${fault}: ${result.subs} sockets (${result.onVictim} on the victim), ${cfg.failoverSendRate} msgs/s over ${cfg.failoverRooms} rooms`);
    await gen.call({ cmd: "stormPublish" });
    await sleep(cfg.stormBeforeMs);

    const victim = dep.chatPids[1] as number;
    const at = performance.timeOrigin + performance.now();
    await gen.call({ cmd: "stormMark", at });
    if (fault === "kill") process.kill(victim, "SIGKILL");
    else {
      process.kill(victim, "SIGSTOP");
      frozenPid = victim;
    }
    const deadline = performance.now() + cfg.stormTimeoutMs;
    let st: StormStatus;
    for (;;) {
      st = merge([await gen.call<StormStatus>({ cmd: "stormStatus" })]);
      if ((st.dropped >= result.onVictim && st.caughtUp >= st.dropped) || performance.now() > deadline) break;
      await sleep(100);
    }
    result.dropped = st.dropped;
    result.resumed = st.resumed;
    result.caughtUp = st.caughtUp;
    if (st.resumed >= st.dropped && st.dropped > 0) result.resumedMs = st.lastResumedMs;
    if (st.caughtUp >= st.dropped && st.dropped > 0) result.caughtUpMs = st.lastCaughtUpMs;
    const s = (v: number | undefined) => (v === undefined ? "not all" : `${(v / 1000).toFixed(2)} s`);
    log(`  failover/${fault}: ${st.dropped}/${result.onVictim} cut off, ${st.resumed} resumed (${s(result.resumedMs)} after the fault), ${st.caughtUp} caught up (${s(result.caughtUpMs)})`);
    await sleep(cfg.stormAfterMs);
    const final = await gen.call<StormFinal>({ cmd: "stormStop", drainMs: 30_000 });
    result.final = final;
    result.longestSendMs = final.sends.longestAttemptMs;
    log(
      `  failover/${fault}: after the drain ${final.complete}/${final.subs} complete, missing ${final.missing}, doubled ${final.duplicated}; ` +
        `sends ${final.sends.ok} acknowledged, ${final.sends.retried} repeated, longest attempt ${Math.round(final.sends.longestAttemptMs)} ms; closes ${JSON.stringify(final.closes)}`,
    );
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    log(`  failover/${fault}: FAILED ${result.error}`);
  } finally {
    if (frozenPid) {
      try {
        process.kill(frozenPid, "SIGCONT");
      } catch {
        // gone
      }
    }
    await gen?.stop();
    await dep?.stop();
  }
  return result;
}

export async function failoverScenario(ctx: Ctx): Promise<FailoverResult[]> {
  if (!ctx.pg) {
    log("  failover: needs PostgreSQL (servers=postgres): skipped");
    return [];
  }
  const out: FailoverResult[] = [];
  for (const fault of FAULTS) out.push(await oneFault(ctx, fault));
  return out;
}

// ---- report ---------------------------------------------------------------------------------------

const sec = (v: number | undefined) => (v === undefined ? "–" : `${(v / 1000).toFixed(2)} s`);
const n = (v: number | undefined) => (v === undefined ? "–" : Math.round(v).toLocaleString("en-US"));
const HANG_BOUND_MS = UPSTREAM_TIMEOUT_MS + UPSTREAM_CONNECT_TIMEOUT_MS;
const FAULT_LABEL: Record<Fault, string> = { kill: "killed (SIGKILL)", freeze: "frozen (SIGSTOP)" };

export function failoverTargets(results: FailoverResult[]) {
  return results.map((r) => ({
    what: `failover: a chat replica ${FAULT_LABEL[r.fault]} under load, until every cut-off client caught up`,
    server: "postgres" as const,
    goal: `no send attempt past the gateway's timeouts (${HANG_BOUND_MS / 1000} s); nothing lost or doubled`,
    baseline: "",
    measured: r.error ? "failed" : sec(r.caughtUpMs),
    ratio: "",
    met: r.error ? false : failoverProblems(r).length === 0 && (r.longestSendMs ?? Infinity) <= HANG_BOUND_MS + 1000,
    note: r.error?.slice(0, 100) ?? `${n(r.dropped)} of ${n(r.subs)} sockets cut off; longest send attempt ${sec(r.longestSendMs)}`,
  }));
}

export function failoverSection(results: FailoverResult[], cfg: Config): string {
  if (results.length === 0) return "";
  const out: string[] = [];
  out.push("## Failover: a chat replica killed or frozen under load");
  out.push("");
  out.push(
    `Gateway + auth + 2 chat replicas on one PostgreSQL (\`BUS=postgres\`), every upstream setting at the product default (health check every 5 s with a 2 s timeout, ` +
      `sockets moved after 2 failed checks, request timeout ${UPSTREAM_TIMEOUT_MS / 1000} s). ` +
      `${n(results[0]?.subs)} tRPC sockets (one \`room.onMessage\` subscription each) over ${cfg.failoverRooms} rooms through the gateway, spread over both replicas; ` +
      `${cfg.failoverSendRate} messages/s over HTTP through the gateway, a failed send repeated with its clientMsgId. After ${cfg.stormBeforeMs / 1000} s the second replica is killed (SIGKILL) or frozen (SIGSTOP). ` +
      "A client whose socket closes reconnects (every ~0.5 s) through the gateway and resumes from the last seq it saw. Times are from the fault; *caught up*: the client holds every message its room had acknowledged when it resumed. " +
      `After all caught up the flow goes on ${cfg.stormAfterMs / 1000} s, stops, and every subscriber must hold its room's whole stream, each seq once. ` +
      "A frozen replica keeps its sockets open and silent: the gateway closes them (1012) once the replica failed 2 health checks in a row; a send that reached it is answered 504 at the request timeout and repeated.",
  );
  out.push("");
  const head = ["fault", "sockets on the victim", "cut off", "all resumed", "all caught up", "longest send attempt", "sends acknowledged", "repeated", "missing", "doubled"];
  const rows = results.map((r) => [
    FAULT_LABEL[r.fault],
    n(r.onVictim),
    r.error ? `failed: ${r.error.slice(0, 80)}` : n(r.dropped),
    r.resumedMs !== undefined ? sec(r.resumedMs) : `${n(r.resumed)} of ${n(r.dropped)}`,
    r.caughtUpMs !== undefined ? sec(r.caughtUpMs) : `${n(r.caughtUp)} of ${n(r.dropped)}`,
    sec(r.longestSendMs),
    n(r.final?.sends.ok),
    n(r.final?.sends.retried),
    n(r.final?.missing),
    n(r.final?.duplicated),
  ]);
  out.push([`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n"));
  out.push("");
  return out.join("\n");
}
