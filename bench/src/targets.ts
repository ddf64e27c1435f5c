/**
 * The processes of a run: the system under test (the real server on PGlite or PostgreSQL, or the
 * baseline), a throwaway PostgreSQL cluster, and load-generator processes.
 */
import { spawn, spawnSync, type ChildProcess, fork } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import type { CpuGroup } from "./proc.js";
import type { GenCommand, GenReply } from "./protocol.js";
import { BENCH_DIR, freePort, log, ROOT, sleep, sourceNodeArgs } from "./util.js";

export type TargetKind = "baseline" | "baseline-cork" | "pglite" | "postgres";

export interface Target {
  kind: TargetKind;
  pid: number;
  httpUrl: string;
  /** WebSocket endpoint: /trpc on the server, /ws on the baseline. */
  wsUrl: string;
  logFile: string;
  /** CPU groups to sample: the target itself and, on PostgreSQL, the database. */
  cpuGroups(): CpuGroup[];
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
let cleanupInstalled = false;
function track(child: ChildProcess) {
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    process.once("exit", () => {
      for (const c of children) c.kill("SIGKILL");
    });
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function stopChild(child: ChildProcess, graceMs = 20_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  if (!(await waitExit(child, graceMs))) {
    child.kill("SIGKILL");
    await waitExit(child, 5000);
  }
}

// ---- PostgreSQL ------------------------------------------------------------------------------------

interface PgCluster {
  url: string;
  dataDir: string;
  stopServer(mode?: string): Promise<string>;
  describe(): { url: string; dataDir: string; logFile: string; options: string; pgCtl: string[] };
  stop(): Promise<void>;
  stopSync(): void;
}
interface PgClusterModule {
  findPgBinDir(): string | null;
  startCluster(opts?: { quiet?: boolean }): Promise<PgCluster>;
}

export interface PgHandle {
  url: string;
  settings: Record<string, string>;
  /**
   * pg_stat_statements is loaded (shared_preload_libraries, with pg_stat_statements.track=none
   * for the cluster, so it costs nothing elsewhere) and its view exists in the admin database:
   * a database created with trackStatements counts its top-level statements.
   */
  statements: boolean;
  postmasterPid(): number | undefined;
  newDatabase(opts?: { trackStatements?: boolean }): Promise<string>;
  /** A query on the admin connection (the cluster's own database): statistics views. */
  query<R extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  stop(): Promise<void>;
}

/**
 * A throwaway cluster from scripts/pg-cluster.mjs, restarted with fsync=on and
 * synchronous_commit=on (the test cluster turns fsync off): an acknowledged send is on disk.
 * Returns undefined when PostgreSQL's server binaries are not installed.
 */
export async function startPostgres(): Promise<PgHandle | undefined> {
  const mod = (await import(pathToFileURL(path.join(ROOT, "scripts", "pg-cluster.mjs")).href)) as PgClusterModule;
  if (!mod.findPgBinDir()) return undefined;
  const cluster = await mod.startCluster({ quiet: true });
  process.once("exit", () => cluster.stopSync());
  await cluster.stopServer("fast");
  const d = cluster.describe();
  // pg_stat_statements counts the reconnect storm's queries; it tracks nothing unless a database
  // asks for it (ALTER DATABASE … SET pg_stat_statements.track), so other scenarios pay nothing.
  const libDir = path.join(path.dirname(mod.findPgBinDir() ?? ""), "lib");
  const statements = existsSync(path.join(libDir, "pg_stat_statements.so"));
  const options =
    `${d.options.replace("-c fsync=off", "-c fsync=on")} -c synchronous_commit=on` +
    (statements ? " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=none" : "");
  const [cmd, ...pre] = d.pgCtl;
  const r = spawnSync(cmd as string, [...pre, "-D", d.dataDir, "-l", d.logFile, "-w", "-t", "60", "-o", options, "start"], {
    cwd: os.tmpdir(),
    encoding: "utf8",
  });
  if (r.status !== 0) {
    await cluster.stop();
    throw new Error(`pg_ctl start failed: ${r.stdout}${r.stderr}\n${tail(d.logFile)}`);
  }
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  if (statements) await admin.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  const settings: Record<string, string> = {};
  for (const name of ["server_version", "fsync", "synchronous_commit", "wal_sync_method", "max_connections", "shared_buffers"]) {
    const res = await admin.query<Record<string, string>>(`SHOW ${name}`);
    settings[name] = String(res.rows[0]?.[name] ?? "?");
  }
  settings.pg_stat_statements = statements ? "loaded (track=none except where a scenario asks)" : "not installed";
  let n = 0;
  return {
    url: cluster.url,
    settings,
    statements,
    async query<R extends Record<string, unknown>>(text: string, params: unknown[] = []) {
      return (await admin.query<R>(text, params)).rows;
    },
    postmasterPid() {
      try {
        return Number(readFileSync(path.join(d.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
      } catch {
        return undefined;
      }
    },
    async newDatabase(opts = {}) {
      const name = `bench_${process.pid}_${++n}`;
      await admin.query(`CREATE DATABASE ${name}`);
      if (opts.trackStatements && statements) await admin.query(`ALTER DATABASE ${name} SET pg_stat_statements.track = 'top'`);
      const u = new URL(cluster.url);
      u.pathname = `/${name}`;
      return u.toString();
    },
    async stop() {
      await admin.end().catch(() => undefined);
      await cluster.stop();
    },
  };
}

// ---- the server under test ---------------------------------------------------------------------------

export const JWT_SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

export interface ServerOptions {
  kind: "pglite" | "postgres";
  pg?: PgHandle;
  /** Environment variables on top of the defaults (the README's names). */
  env: Record<string, string>;
  /** Write a V8 CPU profile (node --cpu-prof) into this folder when the server exits. */
  profileDir?: string;
  runDir: string;
  /** PostgreSQL: count this database's statements in pg_stat_statements (when loaded). */
  trackStatements?: boolean;
  /** Listen on this port (a storm restarts the server where its clients reconnect); otherwise a free one. */
  port?: number;
}

let pgliteTemplate: string | undefined;

/**
 * A fresh PGlite data folder: a copy of one the server initialised and migrated once per run
 * (PGlite's first start takes several seconds; a copy starts in about two).
 */
async function freshPgliteDir(opts: ServerOptions): Promise<string> {
  if (!pgliteTemplate) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "anonchat-bench-template-"));
    const t = await launchServer({ ...opts, env: { LOG_LEVEL: "warn" }, profileDir: undefined }, dir, undefined);
    await t.stopOnly();
    pgliteTemplate = dir;
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "anonchat-bench-"));
  cpSync(pgliteTemplate, dataDir, { recursive: true });
  return dataDir;
}

export interface ServerTarget extends Target {
  port: number;
  /** The server's DATA_DIR (PGlite keeps its database in DATA_DIR/pgdata). */
  dataDir: string;
  /** The PostgreSQL database (postgres targets). */
  databaseUrl: string | undefined;
  /** Stops the process (SIGTERM, as an operator's restart does) and keeps the data. */
  halt(): Promise<void>;
  /**
   * Stops this process (if running) and starts another on the same data with this environment
   * (e.g. limits back at their defaults after a seeding); samePort: where its clients reconnect.
   */
  relaunch(env: Record<string, string>, o?: { samePort?: boolean }): Promise<ServerTarget>;
}

export async function startServer(opts: ServerOptions): Promise<ServerTarget> {
  const dataDir = opts.kind === "pglite" ? await freshPgliteDir(opts) : mkdtempSync(path.join(os.tmpdir(), "anonchat-bench-"));
  const databaseUrl =
    opts.kind === "postgres" ? await (opts.pg as PgHandle).newDatabase(opts.trackStatements ? { trackStatements: true } : {}) : undefined;
  const wrap = (t: Target & { port: number; stopOnly(): Promise<void> }, o: ServerOptions): ServerTarget => ({
    ...t,
    dataDir,
    databaseUrl,
    halt: () => t.stopOnly(),
    async stop() {
      await t.stopOnly();
      rmSync(dataDir, { recursive: true, force: true });
    },
    async relaunch(env, r = {}) {
      await t.stopOnly();
      const next: ServerOptions = { ...o, env };
      if (r.samePort) next.port = t.port;
      else delete next.port;
      return wrap(await launchServer(next, dataDir, databaseUrl), next);
    },
  });
  return wrap(await launchServer(opts, dataDir, databaseUrl), opts);
}

/** One server process (any ROLE, from opts.env) on dataDir and databaseUrl; the split scenario starts several on one database. */
export async function launchServer(
  opts: ServerOptions,
  dataDir: string,
  databaseUrl: string | undefined,
): Promise<Target & { port: number; stopOnly(): Promise<void> }> {
  const port = opts.port ?? (await freePort());
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? os.tmpdir(),
    TSX_TSCONFIG_PATH: path.join(ROOT, "apps/server/tsconfig.json"),
    PORT: String(port),
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    JWT_SECRET,
    LOG_LEVEL: "warn",
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...opts.env,
  };
  const logFile = path.join(opts.runDir, `server-${opts.kind}-${port}.log`);
  const fd = openSync(logFile, "a");
  const args = [
    ...(opts.profileDir ? ["--cpu-prof", "--cpu-prof-dir", opts.profileDir] : []),
    ...sourceNodeArgs(path.join(ROOT, "apps/server")),
    path.join(ROOT, "apps/server/src/main.ts"),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  track(child);
  const httpUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}) while starting:\n${tail(logFile)}`);
    try {
      const res = await fetch(`${httpUrl}/readyz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server not ready after 90 s:\n${tail(logFile)}`);
    }
    await sleep(100);
  }
  const pgHandle = opts.pg;
  return {
    kind: opts.kind,
    port,
    pid: child.pid as number,
    httpUrl,
    wsUrl: `ws://127.0.0.1:${port}/trpc`,
    logFile,
    cpuGroups() {
      const groups: CpuGroup[] = [{ name: "server", pids: [child.pid as number] }];
      const pm = opts.kind === "postgres" ? pgHandle?.postmasterPid() : undefined;
      if (pm) groups.push({ name: "postgres", pids: [], withChildrenOf: pm });
      return groups;
    },
    stopOnly: () => stopChild(child),
    stop: () => stopChild(child),
  };
}

/** The bare ws baseline; on `port` when given (a storm restarts it where its clients reconnect). */
export async function startBaseline(runDir: string, corked: boolean, fixedPort?: number): Promise<Target> {
  const logFile = path.join(runDir, `baseline${corked ? "-cork" : ""}.log`);
  const child = spawn(process.execPath, [...sourceNodeArgs(BENCH_DIR), path.join(BENCH_DIR, "src/baseline-server.ts")], {
    cwd: BENCH_DIR,
    env: { PATH: process.env.PATH ?? "", PORT: String(fixedPort ?? 0), BASELINE_CORK: corked ? "1" : "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  track(child);
  const port = await new Promise<number>((resolve, reject) => {
    let buf = "";
    const t = setTimeout(() => reject(new Error("baseline did not start")), 30_000);
    child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      const m = /listening (\d+)/.exec(buf);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => reject(new Error(`baseline exited ${code}`)));
  });
  return {
    kind: corked ? "baseline-cork" : "baseline",
    pid: child.pid as number,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    logFile,
    cpuGroups: () => [{ name: "server", pids: [child.pid as number] }],
    stop: () => stopChild(child, 5000),
  };
}

// ---- load generators ----------------------------------------------------------------------------------

export class Generator {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(private readonly child: ChildProcess) {
    child.on("message", (raw: unknown) => {
      const reply = raw as GenReply;
      const w = this.waiting.get(reply.reqId);
      if (!w) return;
      this.waiting.delete(reply.reqId);
      if (reply.ok) w.resolve(reply.result);
      else w.reject(new Error(`generator: ${reply.error}`));
    });
    child.once("exit", (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`generator exited (${code ?? signal})`));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  static async start(): Promise<Generator> {
    const child = fork(path.join(BENCH_DIR, "src/generator.ts"), [], {
      cwd: BENCH_DIR,
      execArgv: sourceNodeArgs(BENCH_DIR),
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    track(child);
    const gen = new Generator(child);
    gen.waiting.set(0, { resolve: () => undefined, reject: () => undefined });
    await new Promise<void>((resolve, reject) => {
      gen.waiting.set(0, { resolve: () => resolve(), reject });
    });
    return gen;
  }

  call<T>(cmd: GenCommand): Promise<T> {
    const reqId = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(reqId, { resolve: (v) => resolve(v as T), reject });
      this.child.send({ ...cmd, reqId });
    });
  }

  async stop(): Promise<void> {
    await this.call({ cmd: "close" }).catch(() => undefined);
    this.child.disconnect();
    if (!(await waitExit(this.child, 5000))) this.child.kill("SIGKILL");
  }
}

export function makeRunDir(base: string): string {
  mkdirSync(base, { recursive: true });
  return base;
}

export function exists(p: string): boolean {
  return existsSync(p);
}
