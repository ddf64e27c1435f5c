/** The fairness scenario's targets, checks and BENCHMARKS.md section (see report.ts). */
import type { FairnessRun, OpRatio } from "./fairness.js";
import type { FairnessResult } from "./fairness-scenario.js";
import type { TargetKind } from "./targets.js";
import { fmt } from "./util.js";

const LABEL: Record<TargetKind, string> = {
  baseline: "bare ws baseline",
  "baseline-cork": "bare ws baseline, corked writes",
  pglite: "server on PGlite",
  postgres: "server on PostgreSQL",
};

/** The issue's target: the victim's latency under abuse within this factor of the idle server's. */
export const FAIRNESS_GOAL = 2;

export interface FairnessTargetRow {
  what: string;
  server: TargetKind;
  goal: string;
  baseline: string;
  measured: string;
  ratio: string;
  met: boolean | undefined;
  note: string;
}

const ms = (v: number | undefined) => (v === undefined ? "–" : v >= 100 ? `${Math.round(v)} ms` : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`);
const ratio = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? "–" : `${v.toFixed(2)}×`);

/** Everything the victim must never see, however slow: a refusal, an error, a message lost, doubled or reordered. */
export function victimProblems(run: FairnessRun): string[] {
  const out: string[] = [];
  for (const v of [run.idle, run.abuse]) {
    const failed = Object.values(v.failures).reduce((n, x) => n + x, 0);
    if (failed) out.push(`${v.phase}: ${failed} victim calls failed (${v.failureSamples[0] ?? ""})`);
    if (v.acked !== v.rounds) out.push(`${v.phase}: ${v.acked} of ${v.rounds} sends acknowledged`);
    const d = v.delivery;
    if (d.missing || d.duplicated || d.outOfOrder) out.push(`${v.phase}: delivery missing ${d.missing}, duplicated ${d.duplicated}, out of order ${d.outOfOrder}`);
  }
  const serverErrors = Object.entries(run.abuseReport.counts).filter(([k, n]) => /status\.5\d\d$/.test(k) && n > 0);
  if (serverErrors.length) out.push(`abusers got server errors: ${serverErrors.map(([k, n]) => `${k}=${n}`).join(", ")}`);
  if ((run.abuseReport.counts["replay.out_of_order"] ?? 0) > 0) out.push(`replays out of order: ${run.abuseReport.counts["replay.out_of_order"]}`);
  return out;
}

export function fairnessTargets(results: FairnessResult[]): FairnessTargetRow[] {
  const rows: FairnessTargetRow[] = [];
  for (const f of results) {
    const run = f.mix;
    if (!run) {
      rows.push({ what: "fairness: the victim under abuse", server: f.target, goal: `≤ ${FAIRNESS_GOAL}× idle`, baseline: "–", measured: "failed", ratio: "–", met: undefined, note: f.error ?? "" });
      continue;
    }
    const clean = victimProblems(run).length === 0;
    for (const r of run.ratios) {
      const met = r.p50 !== undefined && r.p95 !== undefined ? r.p50 <= FAIRNESS_GOAL && r.p95 <= FAIRNESS_GOAL && clean : undefined;
      rows.push({
        what: `fairness: victim's ${r.op} p50 / p95 under abuse`,
        server: f.target,
        goal: `≤ ${FAIRNESS_GOAL}× idle`,
        baseline: `${ms(r.idle.p50)} / ${ms(r.idle.p95)}`,
        measured: `${ms(r.abuse.p50)} / ${ms(r.abuse.p95)}`,
        ratio: `${ratio(r.p50)} / ${ratio(r.p95)}`,
        met,
        note: `${run.idle.rounds} and ${run.abuse.rounds} rounds; load ${run.loadBefore} → ${run.loadAfter}${clean ? "" : `; ${victimProblems(run)[0]}`}`,
      });
    }
  }
  return rows;
}

export function fairnessProblems(results: FairnessResult[]): string[] {
  const out: string[] = [];
  for (const f of results) {
    const tag = `fairness/${f.target}`;
    if (f.error) out.push(`${tag}: ${f.error}`);
    if (f.mix) for (const p of victimProblems(f.mix)) out.push(`${tag}: ${p}`);
    for (const part of f.parts) {
      if (part.error) out.push(`${tag} ${part.name}: ${part.error}`);
      if (part.run) for (const p of victimProblems(part.run)) out.push(`${tag} ${part.name}: ${p}`);
    }
    if (f.logIssues?.errors) out.push(`${tag}: ${f.logIssues.errors} errors logged (${f.logIssues.samples[0] ?? ""})`);
  }
  return out;
}

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

const both = (r: OpRatio | undefined) => (r ? `${ratio(r.p50)} / ${ratio(r.p95)}` : "–");

/** The abuse counters that show each cap was reached, grouped for the reader. */
function refusals(c: Record<string, number>): string {
  const n = (k: string) => c[k] ?? 0;
  const parts = [
    `batches: ${fmt(n("batch.requests"))} sent, ${fmt(n("batch.calls.ok"))} calls served, ${fmt(n("batch.status.429"))} refused whole and ${fmt(n("batch.calls.429"))} calls refused`,
    `replays: ${fmt(n("replay.started"))} started, ${fmt(n("replay.events"))} events, ${fmt(n("replay.completed"))} complete, ${fmt(n("replay.refused_429"))} refused`,
    `in flight: ${fmt(n("inflight.ok"))} served, ${fmt(n("inflight.429"))} refused`,
    `legacy: ${fmt(n("legacy.sent"))} frames sent, ${fmt(n("legacy.notices"))} refusal notices`,
    `sockets: ${fmt(n("socket.close.4429"))} closed 4429, ${fmt(n("upgrade.refused.429"))} upgrades refused 429`,
    `anonymous: ${fmt(n("anon.register.requests") + n("anon.login_batch.requests") + n("anon.login_v1.requests"))} requests (${fmt(n("anon.register.status.429") + n("anon.login_batch.status.429") + n("anon.login_v1.status.429"))} refused 429), ${fmt(n("garbage.sent"))} garbage frames`,
  ];
  return parts.join("; ");
}

export function fairnessSection(results: FairnessResult[] | undefined): string {
  if (!results || results.length === 0) return "";
  const s = results[0]?.sizes;
  const out: string[] = [];
  out.push("## 6. Fairness: another user's latency while one user and one anonymous client abuse the server");
  out.push("");
  out.push(
    "The server at its **default limits** (restarted after a seeding with raised limits; `TRUST_PROXY=127.0.0.1`, so each party's `X-Forwarded-For` is its address; `LOG_LEVEL=info`, argon2 at its defaults). " +
      `Seeded: a room of ${fmt(s?.bigRoomMessages)} messages, and ${fmt(s?.rooms)} rooms of another user with ${fmt(s?.roomMessages)} unread messages each, all with the abusive user as a member. ` +
      `**Victim** (bench/src/victim.ts, its own process): one request at a time, \`auth.me\`, \`room.send\` over HTTP and \`GET /healthz\`, a round every ${s?.paceMs} ms, ${s?.samples} rounds a phase ` +
      `(a phase ends after ${(s?.maxPhaseMs ?? 0) / 1000} s whatever the count), one address per operation and phase; a live subscription of theirs checks that every message arrives once, in order. ` +
      "First idle, then under abuse (after " + `${s?.warmupMs} ms of it). ` +
      `**Abuse** (bench/src/abuse.ts, its own process), going on after every refusal (the replays first, the user's other kinds once they deliver, as its request budget is shared): the abusive user, spread over ${s?.abuserAddresses} addresses so that its per-user limits are what holds it, ` +
      "sends 4 loops of max-size HTTP batches (32 calls: room.list and room.history of the big room), holds 4 sockets × 32 subscriptions replaying the big room from seq 0 (renewed when done or refused), " +
      "2 sockets keeping 48 room.list calls in flight, 14 more sockets past MAX_CONNECTIONS_PER_USER (reopened when closed), and 4 legacy sockets that send frames as fast as TCP takes them " +
      "(these start once every other kind has been refused at its cap); the anonymous client registers, sends batches of 32 failed logins and /api/v1 logins, and throws garbage frames at 2 anonymous tRPC sockets. " +
      `Target: the victim's p50 and p95 under abuse at most ${FAIRNESS_GOAL}× the idle ones.`,
  );
  out.push("");
  const rows: string[][] = [];
  for (const f of results) {
    const run = f.mix;
    if (!run) {
      rows.push([LABEL[f.target], f.error ? `failed: ${f.error.slice(0, 80)}` : "–", "", "", "", "", "", "", ""]);
      continue;
    }
    for (const r of run.ratios) {
      rows.push([
        LABEL[f.target],
        r.op,
        ms(r.idle.p50),
        ms(r.idle.p95),
        ms(r.abuse.p50),
        ms(r.abuse.p95),
        ms(r.abuse.max),
        ratio(r.p50),
        ratio(r.p95),
      ]);
    }
  }
  out.push(table(["target", "operation", "idle p50", "idle p95", "abuse p50", "abuse p95", "abuse max", "p50 ×", "p95 ×"], rows));
  out.push("");
  for (const f of results) {
    const run = f.mix;
    if (!run) continue;
    const cpu = (c: Record<string, number>) => Object.entries(c).map(([k, v]) => `${k} ${Math.round(v)}%`).join(", ");
    out.push(
      `- ${LABEL[f.target]}: ${run.idle.rounds} rounds idle in ${run.idle.seconds.toFixed(1)} s, ${run.abuse.rounds} under abuse in ${run.abuse.seconds.toFixed(1)} s; ` +
        `CPU idle ${cpu(run.cpu.idle)}; under abuse ${cpu(run.cpu.abuse)}; load average ${run.loadBefore} → ${run.loadAfter}. ` +
        `${victimProblems(run).length ? `**Victim problems: ${victimProblems(run).join("; ")}.**` : "Every victim call answered 200; nothing lost, doubled or reordered."} ` +
        `Abuse: ${refusals(run.abuseReport.counts)}.`,
    );
  }
  out.push("");
  const withParts = results.filter((f) => f.parts.length > 0);
  if (withParts.length) {
    out.push("**Each kind of abuse alone** (a restarted server each, so fresh budgets; fewer rounds): p50 / p95 under abuse ÷ idle.");
    out.push("");
    const partRows: string[][] = [];
    for (const f of withParts) {
      for (const p of f.parts) {
        const by = (op: string) => p.run?.ratios.find((r) => r.op === op);
        partRows.push([
          LABEL[f.target],
          `${p.name}: ${p.what}`,
          p.error ? `failed: ${p.error.slice(0, 60)}` : both(by("auth.me")),
          both(by("room.send")),
          both(by("healthz")),
          p.run ? `${Math.round(p.run.cpu.abuse.server ?? 0)}%` : "–",
          p.run ? `${Math.round(p.run.cpu.abuse.abuser ?? 0)}%` : "–",
        ]);
      }
    }
    out.push(table(["target", "abuse", "auth.me", "room.send", "healthz", "server CPU", "abuser CPU"], partRows));
    out.push("");
  }
  return out.join("\n");
}
