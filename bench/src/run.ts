/**
 * `pnpm bench` / `pnpm bench:smoke`: runs the scenarios against the bare ws baseline and the real
 * server (PGlite, PostgreSQL) in one run, writes BENCHMARKS.md, bench/results/latest.json and
 * docs/bench-latency.svg (full run), and exits non-zero when the harness itself failed (smoke: also
 * when any message was lost or doubled). Figures are never asserted.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseConfig, type Config } from "./config.js";
import { latencySvg } from "./plot.js";
import { loadAverage } from "./proc.js";
import { formatProfile, isMainThreadProfile, summarizeProfile } from "./profile.js";
import { benchmarksMarkdown, correctnessProblems, evaluateTargets, plotPanels, TARGET_LABEL, type Machine, type Results } from "./report.js";
import { catchup } from "./catchup.js";
import { reconnectStorm } from "./storm.js";
import { splitScenario } from "./split.js";
import { failoverScenario } from "./failover.js";
import { historyScenario } from "./history.js";
import { fairness } from "./fairness-scenario.js";
import { auth, connections, fanoutScenario, runsOf, sendPath, type Ctx } from "./scenarios.js";
import { startPostgres, type TargetKind } from "./targets.js";
import { BUSY_LOAD_PER_CORE, BUSY_STEAL_PCT, formatMachine, MachineMeter, startVerdict } from "./machine.js";
import { BENCH_DIR, log, now, ROOT } from "./util.js";

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}

function machine(): Machine {
  let osName = os.type();
  try {
    osName = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? osName;
  } catch {
    // keep os.type()
  }
  return {
    cpu: os.cpus()[0]?.model.trim() ?? "?",
    cores: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: osName,
    kernel: os.release(),
    loadBefore: loadAverage(),
    loadAfter: "",
  };
}

function commandLine(cfg: Config, argv: string[]): string {
  const rest = argv.filter((a) => a !== "--smoke");
  return [cfg.smoke ? "pnpm bench:smoke" : "pnpm bench", ...rest].join(" ");
}

/** BENCHMARKS.md, the results and the plot, into the repository or a run folder. */
function writeOutputs(results: Results, toRepo: boolean, runDir: string): void {
  const svgRel = "docs/bench-latency.svg";
  const m = results.machine;
  const panels = plotPanels(results);
  const caption = `AnonChat ${results.commit}, ${results.date}, ${m.cores} cores (${m.cpu}); ${results.command}; medians of the runs at each load`;
  const svg = panels.length ? latencySvg(panels, caption) : undefined;
  if (toRepo) {
    mkdirSync(path.join(BENCH_DIR, "results"), { recursive: true });
    writeFileSync(path.join(BENCH_DIR, "results", "latest.json"), JSON.stringify(results, null, 2) + "\n");
    if (svg) writeFileSync(path.join(ROOT, svgRel), svg);
    writeFileSync(path.join(ROOT, "BENCHMARKS.md"), benchmarksMarkdown(results, svgRel));
    log(`wrote BENCHMARKS.md, bench/results/latest.json${svg ? `, ${svgRel}` : ""}`);
  } else {
    writeFileSync(path.join(runDir, "results.json"), JSON.stringify(results, null, 2) + "\n");
    if (svg) writeFileSync(path.join(runDir, "bench-latency.svg"), svg);
    writeFileSync(path.join(runDir, "BENCHMARKS.md"), benchmarksMarkdown(results, "bench-latency.svg"));
    log(`wrote ${runDir}/{BENCHMARKS.md,results.json${svg ? ",bench-latency.svg" : ""}}`);
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const cfg = parseConfig(argv, process.env);
  if (cfg.render) {
    const results = JSON.parse(readFileSync(cfg.render, "utf8")) as Results;
    writeOutputs(results, true, "");
    return 0;
  }
  const t0 = now();
  const runDir = mkdtempSync(path.join(os.tmpdir(), "anonchat-bench-run-"));
  const profileDir = cfg.profile ? path.join(runDir, "profiles") : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  log(`${cfg.smoke ? "smoke" : "full"} run: scenarios ${cfg.scenarios.join(", ")}; servers ${cfg.servers.join(", ")}; logs in ${runDir}`);

  const m = machine();
  // Judged before anything of ours runs: later samples would count the run's own load.
  const verdict = await startVerdict();
  m.start = verdict;
  log(
    `machine at the start: load ${verdict.load1?.toFixed(2) ?? "?"} on ${verdict.cores} cores, steal ${verdict.stealPct?.toFixed(1) ?? "?"}%` +
      (verdict.busy ? ` — BUSY (${verdict.reasons.join("; ")})` : " — quiet"),
  );
  let pg: Ctx["pg"];
  if (cfg.servers.includes("postgres")) {
    pg = await startPostgres();
    if (!pg) {
      log("PostgreSQL server binaries not found (Debian: apt-get install -y postgresql): PostgreSQL targets skipped");
      cfg.servers = cfg.servers.filter((s) => s !== "postgres");
    } else {
      log(`PostgreSQL ${pg.settings.server_version}: fsync=${pg.settings.fsync}, synchronous_commit=${pg.settings.synchronous_commit}`);
    }
  }
  const ctx: Ctx = { cfg, runDir, pg, profileDir, phase: 0 };
  const results: Results = {
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    command: commandLine(cfg, argv),
    commit: git(["rev-parse", "--short", "HEAD"]),
    dirty: git(["status", "--porcelain", "--untracked-files=no", "--", "apps/server/src", "packages"]) !== "",
    machine: m,
    postgres: pg?.settings,
    durationSeconds: 0,
    config: cfg,
    fanout: [],
    connections: [],
    auth: [],
    send: [],
    fairness: [],
    scenarioMachine: [],
  };
  const profiles: { title: string; file: string; windows: [number, number][] }[] = [];
  /** Attributes each server main-thread profile written during fn to its result, by pid. */
  const profiled = async <T extends { target: TargetKind; pid?: number }>(
    scenario: string,
    fn: () => Promise<T[]>,
    windows: (r: T) => [number, number][],
  ): Promise<T[]> => {
    const before = new Set(profileDir ? readdirSync(profileDir) : []);
    const rs = await fn();
    if (profileDir) {
      for (const f of readdirSync(profileDir)) {
        if (before.has(f) || !f.endsWith(".cpuprofile")) continue;
        const pid = Number(/^CPU\.\d+\.\d+\.(\d+)\./.exec(f)?.[1]);
        const r = rs.find((x) => x.pid === pid);
        const title = `${scenario} ${r?.target ?? "?"}`;
        const named = path.join(profileDir, `${title.replace(/[^A-Za-z0-9]+/g, "-")}-${f}`);
        renameSync(path.join(profileDir, f), named);
        if (r && isMainThreadProfile(f)) profiles.push({ title, file: named, windows: windows(r) });
      }
    }
    return rs;
  };
  const one = async <T>(fn: () => Promise<T>): Promise<T[]> => [await fn()];
  const withBaseline = (yes: boolean): TargetKind[] => [...(yes ? (["baseline"] as TargetKind[]) : []), ...cfg.servers];
  const onlyServers = cfg.profile; // profiling is about the server: skip the baseline then

  try {
    for (const scenario of cfg.scenarios) {
      log(`scenario ${scenario}`);
      const meter = new MachineMeter();
      try {
        await runScenario(scenario);
      } finally {
        const w = meter.stop();
        (results.scenarioMachine ??= []).push({ scenario, machine: w });
        log(`scenario ${scenario}: ${w.seconds.toFixed(0)} s, ${formatMachine(w)}`);
      }
    }
  } finally {
    await pg?.stop();
  }

  async function runScenario(scenario: Config["scenarios"][number]): Promise<void> {
    if (scenario === "wide" || scenario === "many") {
      const kinds = withBaseline(!onlyServers);
      const corked: TargetKind[] = scenario === "wide" && cfg.corkedBaseline && !onlyServers ? ["baseline-cork"] : [];
      results.fanout.push(
        ...(await profiled(scenario, () => fanoutScenario(ctx, scenario, [...kinds, ...corked], corked), (r) => runsOf(r).map((x) => x.window))),
      );
    } else if (scenario === "conns") {
      for (const kind of withBaseline(!onlyServers)) {
        results.connections.push(...(await profiled("conns", () => one(() => connections(ctx, kind)), (r) => [r.window])));
      }
    } else if (scenario === "auth") {
      for (const kind of cfg.servers) {
        results.auth.push(
          ...(await profiled("auth", () => one(() => auth(ctx, kind)), (r) => [...r.loginWindows, ...[r.refresh, r.me].flatMap((x) => (x ? [x.window] : []))])),
        );
      }
    } else if (scenario === "fairness") {
      for (const kind of cfg.servers) {
        (results.fairness ??= []).push(...(await profiled("fairness", () => one(() => fairness(ctx, kind)), (r) => (r.mix ? [r.mix.window] : []))));
      }
    } else if (scenario === "catchup") {
      for (const kind of cfg.servers) {
        (results.catchup ??= []).push(...(await profiled("catchup", () => one(() => catchup(ctx, kind)), (r) => (r.window ? [r.window] : []))));
      }
    } else if (scenario === "storm") {
      for (const kind of cfg.servers) {
        (results.storm ??= []).push(...(await profiled("storm", () => one(() => reconnectStorm(ctx, kind)), (r) => (r.window ? [r.window] : []))));
      }
    } else if (scenario === "split") {
      (results.split ??= []).push(...(await splitScenario(ctx)));
    } else if (scenario === "history") {
      for (const kind of cfg.servers) (results.history ??= []).push(await historyScenario(ctx, kind));
    } else if (scenario === "failover") {
      (results.failover ??= []).push(...(await failoverScenario(ctx)));
    } else if (scenario === "send") {
      // Both transports: the socket (the recommendation) and HTTP (what the recipe used to do).
      for (const via of cfg.smoke ? [cfg.sendVia] : (["ws", "http"] as const)) {
        for (const kind of cfg.servers) {
          results.send.push(...(await profiled("send", () => one(() => sendPath(ctx, kind, via)), (r) => (r.ops ? [r.ops.window] : []))));
        }
      }
    }
  }

  m.loadAfter = loadAverage();
  results.durationSeconds = (now() - t0) / 1000;

  // A run that started on a busy machine does not replace the committed figures unless told to.
  const refused = cfg.write && verdict.busy && !cfg.force;
  if (refused) {
    log(
      `NOT overwriting BENCHMARKS.md: the machine was busy when the run started (${verdict.reasons.join("; ")}; ` +
        `the rule: load average > ${BUSY_LOAD_PER_CORE} × cores or steal > ${BUSY_STEAL_PCT}%). Pass --force to write it anyway.`,
    );
  }
  writeOutputs(results, cfg.write && !refused, runDir);

  const rows = evaluateTargets(results);
  if (rows.length) {
    process.stdout.write("\nTargets (ratios to the bare ws server, or for fairness to the idle server, in this run):\n");
    for (const r of rows) {
      const mark = r.met === undefined ? " - " : r.met ? " ok" : "MISS";
      process.stdout.write(
        `  [${mark}] ${r.what} (${TARGET_LABEL[r.server]}): ${r.measured}${r.baseline ? ` vs ${r.baseline}` : ""}${r.ratio ? ` = ${r.ratio}` : ""}; goal ${r.goal}${r.note ? `; ${r.note}` : ""}\n`,
      );
    }
  }

  if (profiles.length) {
    const body = profiles.map((p) => formatProfile(summarizeProfile(p.file, 25, p.windows), `server profile: ${p.title}`)).join("\n");
    const text =
      "# Where the server's time goes\n\n" +
      `Written by \`${results.command}\` on ${results.date}, commit \`${results.commit}\`${results.dirty ? " (with uncommitted changes)" : ""}: ` +
      "the server's main thread under `node --cpu-prof`, only the samples inside the measurement windows (setup and startup excluded). " +
      "Self time by function and package, and the time each package is anywhere on the stack. " +
      "Native threads (argon2 on libuv's pool, PostgreSQL's processes) are not in these profiles; see the CPU columns of BENCHMARKS.md. " +
      `Load average before: ${m.loadBefore}, after: ${m.loadAfter}.\n\n` +
      body;
    writeFileSync(path.join(runDir, "PROFILE.md"), text);
    mkdirSync(path.join(BENCH_DIR, "results"), { recursive: true });
    writeFileSync(path.join(BENCH_DIR, "results", "profile.md"), text);
    process.stdout.write(`\n${text}\nprofiles in ${profileDir}; summary in bench/results/profile.md\n`);
  }

  const problems = correctnessProblems(results);
  const failures = [
    ...results.fanout.filter((f) => f.error).map((f) => `${f.scenario}/${f.target}: ${f.error}`),
    ...results.connections.filter((c) => c.error).map((c) => `conns/${c.target}: ${c.error}`),
    ...results.auth.filter((a) => a.error).map((a) => `auth/${a.target}: ${a.error}`),
    ...results.send.filter((s) => s.error).map((s) => `send/${s.target}: ${s.error}`),
    ...(results.fairness ?? []).filter((f) => f.error).map((f) => `fairness/${f.target}: ${f.error}`),
    ...(results.catchup ?? []).filter((c) => c.error).map((c) => `catchup/${c.target}: ${c.error}`),
    ...(results.storm ?? []).filter((s) => s.error).map((s) => `storm/${s.target}: ${s.error}`),
    ...(results.split ?? []).filter((s) => s.error).map((s) => `split/${s.replicas}×chat/${s.bus}: ${s.error}`),
    ...(results.failover ?? []).filter((f) => f.error).map((f) => `failover/${f.fault}: ${f.error}`),
    ...(results.history ?? []).filter((h) => h.error).map((h) => `history/${h.target}: ${h.error}`),
  ];
  if (problems.length) {
    process.stdout.write(`\n${cfg.smoke ? "FAILED" : "Problems"}:\n${problems.map((p) => `  - ${p}`).join("\n")}\n`);
  }
  process.stdout.write(`\nbench ${cfg.smoke ? "smoke " : ""}finished in ${results.durationSeconds.toFixed(0)} s\n`);
  if (cfg.smoke) return problems.length ? 1 : 0;
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
