/** Targets, checks and the BENCHMARKS.md text from a run's results. */
import { catchupProblems, catchupSection, catchupTargets, type CatchupResult } from "./catchup.js";
import type { Config } from "./config.js";
import { splitProblems, splitSection, type SplitResult } from "./split.js";
import { failoverProblems, failoverSection, failoverTargets, type FailoverResult } from "./failover.js";
import { historyProblems, historySection, historyTargets, type HistoryResult } from "./history.js";
import { stormProblems, stormSection, stormTargets, type StormResult } from "./storm.js";
import { BUSY_LOAD_PER_CORE, BUSY_STEAL_PCT, type MachineWindow, type StartVerdict } from "./machine.js";
import { fairnessProblems, fairnessSection, fairnessTargets } from "./fairness-report.js";
import type { FairnessResult } from "./fairness-scenario.js";
import type { Panel, Series } from "./plot.js";
import { median, overloaded, runsAt, runsOf, type AuthResult, type ConnectionsResult, type FanoutResult, type RunSummary, type SendResult } from "./scenarios.js";
import type { TargetKind } from "./targets.js";
import { fmt } from "./util.js";

export interface Machine {
  cpu: string;
  cores: number;
  memGiB: number;
  node: string;
  os: string;
  kernel: string;
  loadBefore: string;
  loadAfter: string;
  /** Load and steal sampled before anything of the run started (absent in older results). */
  start?: StartVerdict;
}

export interface Results {
  date: string;
  command: string;
  commit: string;
  dirty: boolean;
  machine: Machine;
  postgres: Record<string, string> | undefined;
  durationSeconds: number;
  config: Config;
  fanout: FanoutResult[];
  connections: ConnectionsResult[];
  auth: AuthResult[];
  send: SendResult[];
  /** Absent from the results of runs before the scenario existed. */
  fairness?: FairnessResult[];
  catchup?: CatchupResult[];
  storm?: StormResult[];
  split?: SplitResult[];
  failover?: FailoverResult[];
  history?: HistoryResult[];
  /** The machine over each scenario: load average at its start and end, CPU steal in between. */
  scenarioMachine?: { scenario: string; machine: MachineWindow }[];
}

export const TARGET_LABEL: Record<TargetKind, string> = {
  baseline: "bare ws baseline",
  "baseline-cork": "bare ws baseline, corked writes",
  pglite: "server on PGlite",
  postgres: "server on PostgreSQL",
};

const SERVERS: TargetKind[] = ["pglite", "postgres"];

export interface TargetRow {
  what: string;
  server: TargetKind;
  goal: string;
  baseline: string;
  measured: string;
  ratio: string;
  met: boolean | undefined;
  note: string;
}

function clean(r: RunSummary | undefined): boolean {
  return !!r && r.undelivered === 0 && r.duplicated === 0 && r.sendErrors === 0 && r.closedSockets === 0 && !r.drainTimedOut;
}

/** Delivered messages per CPU-second of the target (server plus PostgreSQL): robust to a busy machine. */
function perCpuSecond(r: RunSummary): number | undefined {
  const cpu = (r.cpu.server ?? 0) + (r.cpu.postgres ?? 0);
  return cpu > 0 ? r.deliveredPerSec / (cpu / 100) : undefined;
}

function peakFrom(f: FanoutResult): string {
  const p = f.peak;
  if (!p) return "";
  return p.mode === "closed" ? "closed loop" : `open loop, ${fmt(p.offeredDelivered)}/s offered`;
}

function ratioStr(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? "–" : `${n.toFixed(2)}×`;
}

function ms(v: number | undefined): string {
  return v === undefined ? "–" : v >= 100 ? `${Math.round(v)} ms` : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`;
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

/** Raw argon2 verifies per second over all rounds. */
export function rawArgon2(a: AuthResult): number | undefined {
  return a.rawArgon2?.opsPerSec;
}

export function evaluateTargets(res: Results): TargetRow[] {
  const rows: TargetRow[] = [];
  const rate = res.config.targetRate;
  for (const scenario of ["wide", "many"] as const) {
    const name = scenario === "wide" ? "wide room" : "many rooms";
    const base = res.fanout.find((f) => f.scenario === scenario && f.target === "baseline");
    for (const server of SERVERS) {
      const s = res.fanout.find((f) => f.scenario === scenario && f.target === server);
      if (!s) continue;
      const bSat = base?.peak?.deliveredPerSec;
      const sSat = s.peak?.deliveredPerSec;
      const ratio = bSat && sSat !== undefined ? sSat / bSat : undefined;
      const lost = runsOf(s).reduce((n, r) => n + r.undelivered, 0);
      const doubled = runsOf(s).reduce((n, r) => n + r.duplicated, 0);
      const tracked = !s.error && runsOf(s).every((r) => r.undelivered === 0 && r.duplicated === 0 && r.sendErrors === 0 && r.closedSockets === 0);
      // Issue 12's milestone: the wide room at the idiomatic baseline; many rooms at half of it
      // on PostgreSQL and a quarter on PGlite (one process holds the database too).
      const goalX = scenario === "wide" ? 1 : server === "pglite" ? 0.25 : 0.5;
      rows.push({
        what: `${name}: saturation throughput`,
        server,
        goal: `≥ ${goalX}× baseline, nothing lost or doubled`,
        baseline: bSat ? `${fmt(bSat)}/s` : "–",
        measured: sSat !== undefined ? `${fmt(sSat)}/s` : s.error ? "failed" : "–",
        ratio: ratioStr(ratio),
        met: ratio === undefined ? undefined : ratio >= goalX && tracked,
        note: tracked ? "" : s.error ? s.error.slice(0, 100) : `undelivered ${lost}, duplicated ${doubled}, send errors or dropped sockets in some phase`,
      });
      // The median over the interleaved runs at this load: one busy spell cannot decide it.
      const bs = runsAt(base, rate);
      const ss = runsAt(s, rate);
      const bp = median(bs.flatMap((r) => (r.latency.p99 !== undefined ? [r.latency.p99] : [])));
      const sp = median(ss.flatMap((r) => (r.latency.p99 !== undefined ? [r.latency.p99] : [])));
      const lr = bp && sp !== undefined ? sp / bp : undefined;
      const sustained = ss.length > 0 && ss.every((r) => clean(r) && !overloaded(r));
      const spread = (rs: RunSummary[]) => rs.map((r) => ms(r.latency.p99)).join(", ");
      rows.push({
        what: `${name}: p99 latency at ${fmt(rate)} delivered/s`,
        server,
        goal: "≤ 3× baseline",
        baseline: ms(bp),
        measured: ms(sp),
        ratio: ratioStr(lr),
        met: lr === undefined ? undefined : lr <= 3 && sustained,
        note:
          ss.length === 0
            ? "not run"
            : `median of ${ss.length} runs (server: ${spread(ss)}; baseline: ${spread(bs)})` +
              (sustained ? "" : `; load not sustained: delivered ${ss.map((r) => fmt(r.deliveredPerSec)).join(", ")}/s`),
      });
    }
  }
  const cb = res.connections.find((c) => c.target === "baseline");
  for (const server of SERVERS) {
    const c = res.connections.find((x) => x.target === server);
    if (!c) continue;
    // RSS can shrink after a collection: with few connections the delta is noise, not a figure.
    const ratio = cb && cb.bytesPerConn > 0 && c.bytesPerConn > 0 ? c.bytesPerConn / cb.bytesPerConn : undefined;
    const held = !c.error && c.failed === 0 && c.established === c.requested && c.closedSockets === 0 && c.delivery?.received === c.delivery?.expected;
    rows.push({
      what: "connections: memory per authenticated, subscribed connection",
      server,
      goal: "≤ 3× baseline per socket",
      baseline: cb ? kb(cb.bytesPerConn) : "–",
      measured: kb(c.bytesPerConn),
      ratio: ratioStr(ratio),
      met: ratio === undefined ? undefined : ratio <= 3,
      note: "",
    });
    rows.push({
      what: `connections: ${fmt(c.requested)} held with no error`,
      server,
      goal: "all established, none dropped, all deliver",
      baseline: cb ? `${fmt(cb.established)} (${fmt(cb.connPerSec)}/s)` : "–",
      measured: `${fmt(c.established)} (${fmt(c.connPerSec)}/s)`,
      ratio: "",
      met: held,
      note: held ? "" : `failed ${c.failed}, closed ${c.closedSockets}, delivered ${c.delivery?.received ?? "?"}/${c.delivery?.expected ?? "?"}${c.error ? `, ${c.error}` : ""}`,
    });
  }
  for (const a of res.auth) {
    const raw = rawArgon2(a);
    const login = a.login?.opsPerSec;
    const ratio = raw && login !== undefined ? login / raw : undefined;
    const rounds = a.rounds.map((r) => (r.rawArgon2.opsPerSec ? (r.login.opsPerSec / r.rawArgon2.opsPerSec).toFixed(2) : "–")).join(", ");
    const perCpu = (r: { opsPerSec: number; cpu: Record<string, number> } | undefined, who: "server" | "generator") => {
      const used = r ? (who === "generator" ? (r.cpu.generator ?? 0) : (r.cpu.server ?? 0) + (r.cpu.postgres ?? 0)) : 0;
      return r && used > 0 ? r.opsPerSec / (used / 100) : undefined;
    };
    const lc = perCpu(a.login, "server");
    const rc = perCpu(a.rawArgon2, "generator");
    rows.push({
      what: "auth: logins/s vs raw argon2id verifies/s",
      server: a.target,
      goal: "≥ 0.9× raw argon2",
      baseline: raw !== undefined ? `${fmt(raw, 1)}/s` : "–",
      measured: login !== undefined ? `${fmt(login, 1)}/s` : "–",
      ratio: ratioStr(ratio),
      met: ratio === undefined ? undefined : ratio >= 0.9,
      note: a.error ?? `per round: ${rounds}; per CPU-second: ${lc !== undefined && rc ? ratioStr(lc / rc) : "–"}`,
    });
    // No telling users apart by time: an unknown email costs what a wrong password does (one
    // argon2 verification each; attack-login.test.ts counts them, this measures the time).
    const wrongP50 = a.wrongPassword?.latency.p50;
    const unknownP50 = a.unknownUser?.latency.p50;
    const failRatio = wrongP50 && unknownP50 !== undefined ? unknownP50 / wrongP50 : undefined;
    rows.push({
      what: "auth: failed login p50, unknown email vs wrong password",
      server: a.target,
      goal: "0.8–1.25×",
      baseline: wrongP50 !== undefined ? ms(wrongP50) : "–",
      measured: unknownP50 !== undefined ? ms(unknownP50) : "–",
      ratio: ratioStr(failRatio),
      met: failRatio === undefined ? undefined : failRatio >= 0.8 && failRatio <= 1.25,
      note: a.error ?? "",
    });
  }
  for (const s of res.send) {
    const goal = s.target === "postgres" ? 5000 : 3000;
    const ops = s.ops?.opsPerSec;
    rows.push({
      what: `send path: acknowledged room.send/s over ${s.via === "http" ? "HTTP" : "the tRPC socket"}, synchronous_commit=on`,
      server: s.target,
      goal: `≥ ${fmt(goal)}/s${s.via === "http" ? " (the socket is the recommended transport)" : ""}`,
      baseline: "",
      measured: ops !== undefined ? `${fmt(ops)}/s` : "–",
      ratio: "",
      met: ops === undefined ? undefined : ops >= goal,
      note: s.error ?? "",
    });
  }
  rows.push(...fairnessTargets(res.fairness ?? []));
  rows.push(...catchupTargets(res.catchup ?? []));
  rows.push(...stormTargets(res.storm ?? []));
  rows.push(...historyTargets(res.history ?? []));
  rows.push(...failoverTargets(res.failover ?? []));
  return rows;
}

/** Harness health: what the smoke test (and CI) insists on. Figures are never asserted. */
export function correctnessProblems(res: Results): string[] {
  const out: string[] = [];
  for (const f of res.fanout) {
    const tag = `${f.scenario}/${f.target}`;
    if (f.error) out.push(`${tag}: ${f.error}`);
    const runs = runsOf(f);
    if (!f.error && (!f.peak || f.peak.deliveredPerSec <= 0)) out.push(`${tag}: nothing delivered`);
    for (const r of runs) {
      if (r.undelivered) out.push(`${tag} phase ${r.phase}: ${r.undelivered} undelivered`);
      if (r.duplicated) out.push(`${tag} phase ${r.phase}: ${r.duplicated} duplicated`);
      if (r.sendErrors) out.push(`${tag} phase ${r.phase}: ${r.sendErrors} send errors (${r.sendErrorSamples[0] ?? ""})`);
      if (r.closedSockets) out.push(`${tag} phase ${r.phase}: ${r.closedSockets} sockets closed`);
    }
  }
  for (const c of res.connections) {
    const tag = `conns/${c.target}`;
    if (c.error) out.push(`${tag}: ${c.error}`);
    if (c.established !== c.requested || c.failed) out.push(`${tag}: ${c.established}/${c.requested} established`);
    if (c.delivery && c.delivery.received !== c.delivery.expected) out.push(`${tag}: delivered ${c.delivery.received}/${c.delivery.expected}`);
    if (c.delivery?.duplicated) out.push(`${tag}: ${c.delivery.duplicated} duplicated`);
    if (c.closedSockets) out.push(`${tag}: ${c.closedSockets} sockets closed`);
  }
  for (const a of res.auth) {
    const tag = `auth/${a.target}`;
    if (a.error) out.push(`${tag}: ${a.error}`);
    for (const [name, r] of [
      ["login", a.login],
      ["refresh", a.refresh],
      ["me", a.me],
      ["argon2", a.rawArgon2],
      ["failed login (wrong password)", a.wrongPassword],
      ["failed login (unknown email)", a.unknownUser],
    ] as const) {
      if (!a.error && (!r || r.ops <= 0)) out.push(`${tag}: no ${name} completed`);
      if (r?.errors) out.push(`${tag}: ${r.errors} ${name} errors (${r.errorSamples[0] ?? ""})`);
    }
  }
  for (const s of res.send) {
    const tag = `send/${s.target}/${s.via}`;
    if (s.error) out.push(`${tag}: ${s.error}`);
    if (!s.error && (!s.ops || s.ops.ops <= 0)) out.push(`${tag}: no send acknowledged`);
    if (s.ops?.errors) out.push(`${tag}: ${s.ops.errors} errors (${s.ops.errorSamples[0] ?? ""})`);
    if (s.ops && s.stored !== undefined && s.stored !== s.ops.total) out.push(`${tag}: ${s.stored} stored but ${s.ops.total} acknowledged`);
  }
  out.push(...fairnessProblems(res.fairness ?? []));
  for (const c of res.catchup ?? []) out.push(...catchupProblems(c));
  for (const s of res.storm ?? []) out.push(...stormProblems(s));
  for (const s of res.split ?? []) out.push(...splitProblems(s));
  for (const f of res.failover ?? []) out.push(...failoverProblems(f));
  for (const h of res.history ?? []) out.push(...historyProblems(h));
  return out;
}

const COLORS: Record<TargetKind, string> = {
  baseline: "#1f77b4",
  "baseline-cork": "#17becf",
  pglite: "#d62728",
  postgres: "#2ca02c",
};

export function plotPanels(res: Results): Panel[] {
  const panels: Panel[] = [];
  for (const scenario of ["wide", "many"] as const) {
    const series: Series[] = [];
    for (const f of res.fanout.filter((x) => x.scenario === scenario && x.steps.length > 0)) {
      // At each offered load, the median over its runs (the ascending step and any repeats).
      const loads = [...new Set(f.steps.map((s) => s.offeredDelivered))].sort((a, b) => a - b);
      const at = loads.map((x) => ({ x, runs: runsAt(f, x).filter((r) => r.latency.count > 0) })).filter((p) => p.runs.length > 0);
      const med = (runs: RunSummary[], pick: (r: RunSummary) => number | undefined) => median(runs.flatMap((r) => (pick(r) !== undefined ? [pick(r) as number] : []))) ?? 0;
      series.push({
        label: TARGET_LABEL[f.target],
        color: COLORS[f.target],
        p50: at.map((p) => [p.x, med(p.runs, (r) => r.latency.p50)]),
        p99: at.map((p) => [p.x, med(p.runs, (r) => r.latency.p99)]),
        overloadedAt: at.filter((p) => p.runs.filter((r) => overloaded(r)).length * 2 > p.runs.length).map((p) => p.x),
      });
    }
    const l = res.fanout.find((x) => x.scenario === scenario)?.layout;
    const title =
      scenario === "wide"
        ? `wide room: 1 room × ${fmt(l?.subsPerRoom ?? 0)} subscribers`
        : `many rooms: ${fmt(l?.rooms ?? 0)} rooms × ${fmt(l?.subsPerRoom ?? 0)} subscribers`;
    if (series.length) panels.push({ title, series });
  }
  return panels;
}

// ---- markdown --------------------------------------------------------------------------------------------

function table(head: string[], rows: string[][], align?: string[]): string {
  const a = align ?? head.map((_, i) => (i === 0 ? "---" : "---:"));
  return [`| ${head.join(" | ")} |`, `|${a.join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function cpu(c: Record<string, number>, name: string): string {
  const v = c[name];
  return v === undefined ? "–" : `${Math.round(v)}%`;
}

function fanoutSection(res: Results, scenario: "wide" | "many"): string {
  const fs = res.fanout.filter((f) => f.scenario === scenario);
  if (fs.length === 0) return "";
  const l = fs[0]?.layout;
  const c = res.config;
  const out: string[] = [];
  out.push(
    scenario === "wide"
      ? `## 1. Wide room: 1 room × ${fmt(l?.subsPerRoom)} subscribers`
      : `## 2. Many rooms: ${fmt(l?.rooms)} rooms × ${fmt(l?.subsPerRoom)} subscribers`,
  );
  out.push("");
  out.push(
    scenario === "wide"
      ? `${fmt(l?.subsPerRoom)} subscriber sockets (one subscription each) of ${fmt(l?.usersPerRoom)} member users; ${fmt(l?.pubsPerRoom)} publishers. ` +
          `Saturation: closed loop, at most ${c.wideWindow} messages in flight (sent but not yet delivered to every subscriber).`
      : `${fmt(l?.subsPerRoom)} subscriber sockets per room (${fmt(l?.usersPerRoom)} member users per room), one publisher per room. ` +
          `Saturation: closed loop, at most ${c.manyWindow} messages in flight per room.`,
  );
  out.push("");
  out.push(
    "**Saturation**: the most delivered messages per second of any run below (the closed loop or an open-loop step), " +
      "with CPU in % of one core over that run's window, and the same throughput per CPU-second of the target (server + PostgreSQL), which a busy machine distorts less.",
  );
  out.push("");
  const base = fs.find((f) => f.target === "baseline")?.peak;
  out.push(
    table(
      ["target", "delivered/s", "× baseline", "measured in", "per CPU-second", "× baseline", "server CPU", "PostgreSQL CPU", "generator CPU", "undelivered (all runs)", "duplicated (all runs)"],
      fs.map((f) => {
        const s = f.peak;
        if (!s) return [TARGET_LABEL[f.target], f.error ? `failed: ${f.error.slice(0, 80)}` : "–", "", "", "", "", "", "", "", "", ""];
        const eff = perCpuSecond(s);
        const baseEff = base ? perCpuSecond(base) : undefined;
        return [
          TARGET_LABEL[f.target],
          fmt(s.deliveredPerSec),
          base ? ratioStr(s.deliveredPerSec / base.deliveredPerSec) : "–",
          peakFrom(f),
          fmt(eff),
          eff !== undefined && baseEff ? ratioStr(eff / baseEff) : "–",
          cpu(s.cpu, "server"),
          cpu(s.cpu, "postgres"),
          cpu(s.cpu, "generator"),
          fmt(runsOf(f).reduce((n, r) => n + r.undelivered, 0)),
          fmt(runsOf(f).reduce((n, r) => n + r.duplicated, 0)),
        ];
      }),
    ),
  );
  out.push("");
  out.push(
    `**Latency at fixed offered loads** (open loop, each message stamped with its scheduled send time; ${c.stepMs / 1000} s per step after ${c.warmupMs / 1000} s warm-up; ` +
      `steps go up until the target is overloaded — it falls 10% short, or more than ${c.shedAfterMs / 1000} s behind so that sends are shed — plus always ${fmt(c.targetRate)}/s). ` +
      "The closed-loop run is listed first.",
  );
  out.push("");
  const rows: string[][] = [];
  for (const f of fs) {
    for (const s of runsOf(f)) {
      rows.push([
        TARGET_LABEL[f.target],
        s.mode === "closed"
          ? `closed loop (${scenario === "wide" ? c.wideWindow : c.manyWindow} in flight${scenario === "many" ? " per room" : ""})`
          : `${fmt(s.offeredDelivered)}${f.repeats.includes(s) ? " (repeat)" : ""}`,
        fmt(s.deliveredPerSec),
        ms(s.latency.p50),
        ms(s.latency.p99),
        ms(s.latency.p999),
        ms(s.latency.max),
        cpu(s.cpu, "server"),
        cpu(s.cpu, "postgres"),
        cpu(s.cpu, "generator"),
        fmt(s.undelivered),
        fmt(s.duplicated),
        s.mode === "open" && overloaded(s) ? `overloaded${s.shed ? `, ${fmt(s.shed)} sends shed` : ""}` : "",
      ]);
    }
  }
  out.push(
    table(
      ["target", "offered/s", "delivered/s", "p50", "p99", "p99.9", "max", "server CPU", "PostgreSQL CPU", "generator CPU", "undelivered", "duplicated", ""],
      rows,
    ),
  );
  out.push("");
  const issues = fs.filter((f) => f.logIssues && (f.logIssues.warnings || f.logIssues.errors));
  for (const f of issues) {
    out.push(`Server log (${TARGET_LABEL[f.target]}): ${f.logIssues?.warnings} warnings, ${f.logIssues?.errors} errors, e.g. \`${f.logIssues?.samples[0] ?? ""}\``);
    out.push("");
  }
  return out.join("\n");
}

function connectionsSection(res: Results): string {
  if (res.connections.length === 0) return "";
  const c = res.connections;
  const base = c.find((x) => x.target === "baseline");
  const out = [
    `## 3. Connections: ${fmt(res.config.conns)} sockets, each subscribed to a room`,
    "",
    `${fmt(res.config.connRooms)} rooms; ${res.config.connGenerators} generator processes open the sockets (${res.config.connectConcurrency} handshakes in flight each). ` +
      "A connection counts when its subscription is confirmed (`started`): upgrade, connectionParams with the access token, subscribe. " +
      `Memory is the server's RSS after minus before, over the count, 2 s after the last one; then the sockets are held ${res.config.holdMs / 1000} s and one message per room must reach every one of them.`,
    "",
    table(
      ["target", "established", "per second", "RSS before", "RSS after", "per connection", "× baseline", "server CPU", "generator CPU", "delivered after hold", "closed", "errors"],
      c.map((x) => [
        TARGET_LABEL[x.target],
        `${fmt(x.established)} / ${fmt(x.requested)}`,
        fmt(x.connPerSec),
        `${fmt(x.rssBefore / 2 ** 20, 1)} MiB`,
        `${fmt(x.rssAfter / 2 ** 20, 1)} MiB`,
        kb(x.bytesPerConn),
        base && base.bytesPerConn > 0 ? ratioStr(x.bytesPerConn / base.bytesPerConn) : "–",
        cpu(x.cpu, "server"),
        cpu(x.cpu, "generator"),
        x.delivery ? `${fmt(x.delivery.received)} / ${fmt(x.delivery.expected)}` : "–",
        fmt(x.closedSockets),
        x.error ? x.error.slice(0, 80) : x.failed ? String(x.failed) : "0",
      ]),
    ),
    "",
  ];
  return out.join("\n");
}

function authSection(res: Results): string {
  if (res.auth.length === 0) return "";
  const a0 = res.auth[0];
  const out = [
    "## 4. Auth",
    "",
    `argon2id with the product defaults (memory ${a0?.argon2.memoryCost} KiB, time cost ${a0?.argon2.timeCost}, parallelism ${a0?.argon2.parallelism}), ` +
      `HASH_CONCURRENCY ${a0?.argon2.hashConcurrency}; ${res.config.authConcurrency} clients in a closed loop over HTTP (\`auth.login\`, \`auth.refresh\` rotating each client's own token, \`auth.me\`). ` +
      `Raw argon2: \`argon2.verify\` of a hash with the same parameters, ${a0?.argon2.hashConcurrency} at a time, in a separate process while the server idles; ` +
      `raw verifies and logins alternate in ${res.config.authRounds} rounds so that a drifting machine load hits both alike, and each row sums its rounds. ` +
      "Failed logins (a wrong password; an email nobody has, which must cost the same one argon2 verification) alternate in rounds the same way. " +
      "Per CPU-second: operations per CPU-second of the server and PostgreSQL (argon2 runs on libuv's threads, counted too), or of the generator for raw argon2.",
    "",
    table(
      ["target", "operation", "per second", "p50", "p99", "per CPU-second", "server CPU", "PostgreSQL CPU", "generator CPU", "errors"],
      res.auth.flatMap((a) =>
        (
          [
            ["raw argon2id verify", a.rawArgon2, "generator"],
            ["login", a.login, "server"],
            ["refresh", a.refresh, "server"],
            ["failed login, wrong password", a.wrongPassword, "server"],
            ["failed login, unknown email", a.unknownUser, "server"],
            ["me (token verification + one query)", a.me, "server"],
          ] as const
        ).map(([name, r, who]) => {
          const used = r ? (who === "generator" ? (r.cpu.generator ?? 0) : (r.cpu.server ?? 0) + (r.cpu.postgres ?? 0)) : 0;
          return [
            TARGET_LABEL[a.target],
            name,
            r ? fmt(r.opsPerSec, r.opsPerSec < 1000 ? 1 : 0) : a.error ? "failed" : "–",
            ms(r?.latency.p50),
            ms(r?.latency.p99),
            r && used > 0 ? fmt(r.opsPerSec / (used / 100), r.opsPerSec < 1000 ? 1 : 0) : "–",
            r ? cpu(r.cpu, "server") : "–",
            r ? cpu(r.cpu, "postgres") : "–",
            r ? cpu(r.cpu, "generator") : "–",
            r ? fmt(r.errors) : "–",
          ];
        }),
      ),
    ),
    "",
  ];
  return out.join("\n");
}

function sendSection(res: Results): string {
  if (res.send.length === 0) return "";
  const s0 = res.send[0];
  const out = [
    "## 5. Send path",
    "",
    `Acknowledged \`room.send\` calls (as mutations over a tRPC socket, and as POST /trpc/room.send; text ${res.config.textBytes} characters, a clientMsgId each), ` +
      `${s0?.concurrency} in flight in a closed loop, from ${s0?.users} users in ${s0?.rooms} rooms, no subscribers. ` +
      "Stored = the rooms' newest seq summed, checked against the acknowledged count.",
    "",
    table(
      ["target", "via", "sends/s", "p50", "p99", "p99.9", "server CPU", "PostgreSQL CPU", "generator CPU", "acknowledged", "stored", "errors"],
      res.send.map((s) => [
        TARGET_LABEL[s.target],
        s.via === "http" ? "HTTP" : "socket",
        s.ops ? fmt(s.ops.opsPerSec) : s.error ? `failed: ${s.error.slice(0, 60)}` : "–",
        ms(s.ops?.latency.p50),
        ms(s.ops?.latency.p99),
        ms(s.ops?.latency.p999),
        s.ops ? cpu(s.ops.cpu, "server") : "–",
        s.ops ? cpu(s.ops.cpu, "postgres") : "–",
        s.ops ? cpu(s.ops.cpu, "generator") : "–",
        s.ops ? fmt(s.ops.total) : "–",
        s.stored !== undefined ? fmt(s.stored) : "–",
        s.ops ? fmt(s.ops.errors) : "–",
      ]),
    ),
    "",
  ];
  return out.join("\n");
}

/** How busy the machine was at the start and during each scenario: ratios from a busy machine are not comparable. */
function machineSection(res: Results): string {
  const v = res.machine.start;
  const ws = res.scenarioMachine ?? [];
  if (!v && ws.length === 0) return "";
  const out: string[] = [];
  if (v) {
    out.push(
      `**The machine at the start**: 1-minute load average ${v.load1?.toFixed(2) ?? "?"} on ${v.cores} cores, CPU steal ${v.stealPct?.toFixed(1) ?? "?"}% over a 2 s sample: ` +
        (v.busy ? `**busy** (${v.reasons.join("; ")}): these figures are not comparable with a quiet run's.` : "quiet.") +
        ` A run that starts with the load average above ${BUSY_LOAD_PER_CORE} × the cores, or steal above ${BUSY_STEAL_PCT}%, does not overwrite this file unless given \`--force\`.`,
    );
    out.push("");
  }
  if (ws.length) {
    out.push(
      "Each scenario's load average (1 min) at its start and end, CPU steal (time the hypervisor gave our cores to someone else) and all CPU in use on the machine over it, in % of all cores " +
        "(the run's own processes included: a scenario that saturates the machine shows ~100%; a steal above a few % means the figures are low):",
    );
    out.push("");
    const f = (x: number | undefined, d = 2) => (x === undefined ? "?" : x.toFixed(d));
    out.push(
      table(
        ["scenario", "duration", "load at start", "load at end", "steal", "machine busy"],
        ws.map(({ scenario, machine: w }) => [scenario, `${Math.round(w.seconds)} s`, f(w.load1Start), f(w.load1End), `${f(w.stealPct, 1)}%`, `${f(w.busyPct, 0)}%`]),
      ),
    );
    out.push("");
  }
  return out.join("\n");
}

export function benchmarksMarkdown(res: Results, svgPath: string): string {
  const m = res.machine;
  const targets = evaluateTargets(res);
  const out: string[] = [];
  out.push("# Benchmarks");
  out.push("");
  out.push(
    "How many people AnonChat holds and how fast a message arrives, measured against the physical limit of the machine: " +
      "a bare `ws` broadcast server (no auth, no storage, the same frames and message size) measured **in the same run**, " +
      "so the ratios below hold even on a noisy machine. Absolute figures are for orientation only.",
  );
  out.push("");
  out.push("This file is written by the harness; do not edit it by hand. Regenerate it with:");
  out.push("");
  out.push("```sh");
  out.push(res.command);
  out.push("```");
  out.push("");
  out.push(
    `Run ${res.date} on commit \`${res.commit}\`${res.dirty ? " (with uncommitted changes)" : ""}, ${Math.round(res.durationSeconds / 60)} min. ` +
      `Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, ${m.os}, Linux ${m.kernel}, Node ${m.node}; ` +
      `the server, the baseline, PostgreSQL and the load generators all share these cores. Load average before: ${m.loadBefore}, after: ${m.loadAfter}.` +
      (res.postgres
        ? ` PostgreSQL ${res.postgres.server_version} (a throwaway cluster from scripts/pg-cluster.mjs) with fsync=${res.postgres.fsync}, synchronous_commit=${res.postgres.synchronous_commit}, wal_sync_method=${res.postgres.wal_sync_method}, shared_buffers=${res.postgres.shared_buffers}.`
        : " PostgreSQL was not available: PostgreSQL figures are missing."),
  );
  out.push("");
  out.push(machineSection(res));
  out.push("## Targets");
  out.push("");
  out.push("Ratios to the bare ws server measured in the same run, and for fairness to the same server idle (the issues' targets). ✅ met, ❌ missed, – not measured.");
  out.push("");
  out.push(
    table(
      ["target", "server", "goal", "baseline", "measured", "ratio", "met", "note"],
      targets.map((t) => [
        t.what,
        TARGET_LABEL[t.server].replace("server on ", ""),
        t.goal,
        t.baseline,
        t.measured,
        t.ratio,
        t.met === undefined ? "–" : t.met ? "✅" : "❌",
        t.note,
      ]),
      ["---", "---", "---", "---:", "---:", "---:", ":---:", "---"],
    ),
  );
  out.push("");
  out.push(`![p50 and p99 latency against offered load](${svgPath})`);
  out.push("");
  out.push("Where the server's time goes in each scenario (CPU profiles cut to the measurement windows): [bench/results/profile.md](bench/results/profile.md), from `pnpm bench --profile`.");
  out.push("");
  out.push(fanoutSection(res, "wide"));
  out.push(fanoutSection(res, "many"));
  out.push(connectionsSection(res));
  out.push(authSection(res));
  out.push(sendSection(res));
  out.push(fairnessSection(res.fairness));
  out.push(catchupSection(res.catchup ?? [], res.config));
  out.push(stormSection(res.storm ?? [], res.config));
  out.push(splitSection(res.split ?? [], res.config, res.machine.cores));
  out.push(historySection(res.history ?? [], res.config));
  out.push(failoverSection(res.failover ?? [], res.config));
  const c = res.config;
  const env = Object.entries({
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
    WS_SEND_BUFFER_MAX: String(c.wsSendBufferMax),
    SUBSCRIBER_QUEUE_MAX: String(c.subscriberQueueMax),
    ARGON2_MEMORY_KIB: "1024 (not in the auth scenario)",
    ARGON2_TIME_COST: "1 (not in the auth scenario)",
    LOG_LEVEL: "warn",
    ...c.serverEnv,
  })
    .map(([k, v]) => `\`${k}=${v}\``)
    .join(", ");
  out.push("## How it is measured");
  out.push("");
  out.push(
    [
      "- **Processes.** The server runs all-in-one from its sources under tsx's loader (`node --conditions=@anonchat/source --import tsx apps/server/src/main.ts`; `npm start` runs the same code compiled by tsc, `node apps/server/dist/main.js`) on PGlite in a fresh data folder, " +
        "or on a fresh database of a throwaway PostgreSQL cluster. The load generators are separate Node processes (`bench/src/generator.ts`) on 127.0.0.1; " +
        "the baseline is `bench/src/baseline-server.ts`. Each scenario starts its target afresh.",
      `- **Server configuration.** Limits raised so the load, not a cap, is measured: ${env}. Everything else is the product default (DATABASE_POOL_MAX 10, HASH_CONCURRENCY 4, ws ping 30 s).`,
      "- **Clients.** Subscribers speak tRPC's WebSocket protocol as wsLink does (`?connectionParams=1`, a `connectionParams` message with the access token, " +
        "a `subscription` to `room.onMessage`, PING answered with PONG), one subscription per socket. " +
        `Publishers send \`room.send\` ${c.sendVia === "http" ? "over HTTP (POST /trpc/room.send with a Bearer token and keep-alive, as the README's recipe does)" : "as mutations over a WebSocket"}; ` +
        "the baseline's publishers send the same mutation frame over its socket.",
      `- **Messages.** ${c.textBytes} characters of text: \`b|phase|number|scheduled send time|xxx…\`. Subscribers read seq, phase and time from each frame; ` +
        "latency = receive time − scheduled send time (one clock, `performance.timeOrigin + performance.now()`), so a late send counts against latency (no coordinated omission).",
      "- **Saturation throughput** is the most delivered messages per second over a measurement window in any run: a closed loop (each room keeps a fixed number of messages in flight, " +
        "sent but not yet received by every subscriber) and the open-loop steps, where a target past its limit still delivers at its maximum rate.",
      `- **Latency steps** are open loop at fixed offered loads (delivered messages/s = sends/s × subscribers per room), ascending until the target is overloaded; ${fmt(c.targetRate)}/s, the load of the latency target, always runs. ` +
        `A target more than ${c.shedAfterMs / 1000} s behind has further scheduled sends skipped (shed, and the step marked overloaded) so that the backlog stays bounded.`,
      "- **Undelivered and duplicated** are counted per subscriber by seq, after each phase drains (up to " +
        `${c.drainMs / 1000} s): undelivered = acknowledged sends × subscribers of the room − distinct messages received; duplicated = frames with a seq at or below the last one seen.`,
      "- **CPU** is utime+stime from /proc/<pid>/stat over the measurement window, in % of one core (PostgreSQL: the postmaster and all its backends).",
      "- **Memory per connection** is the server's VmRSS after minus before the connections, divided by their number.",
    ].join("\n"),
  );
  out.push("");
  out.push("## Running it");
  out.push("");
  out.push(
    [
      "```sh",
      "pnpm bench                                   # the full run (~16 min; fairness ~6 of them): rewrites this file, bench/results/latest.json, " + svgPath,
      "pnpm bench:smoke                             # a seconds-long run; exits non-zero if anything is lost, doubled or fails",
      "pnpm bench --only=wide,many --servers=pglite # a subset; any option of bench/src/config.ts as --name=value",
      "pnpm bench --only=fairness --fairParts=false # the fairness figure alone, without the per-kind runs",
      "pnpm bench --profile                         # servers only, under node --cpu-prof: where the time goes, in bench/results/profile.md",
      "pnpm bench --env HASH_CONCURRENCY=2          # extra server environment",
      "pnpm bench --force                           # write this file even though the machine was busy at the start",
      "pnpm bench --only=catchup,storm              # the catch-up and the reconnect storm (~4 and ~5 min on both servers)",
      "pnpm bench --only=split --servers=postgres   # gateway + auth + 1–3 chat replicas × BUS postgres/redis (~4 min; needs postgresql and redis-server)",
      "pnpm bench --only=failover --servers=postgres # a chat replica killed, then one frozen, under load (~2 min)",
      "pnpm bench --only=history                    # room.send and room.history with 1,000,000 stored messages vs an empty room",
      "```",
      "",
      "Sizes and durations live in `bench/src/config.ts` (FULL and SMOKE); every field can be set with `--name=value` or `BENCH_NAME=value`.",
    ].join("\n"),
  );
  out.push("");
  return out.join("\n");
}
