#!/usr/bin/env node
// A throwaway PostgreSQL cluster for tests, started from the machine's own (Debian) binaries.
//
//   import { startCluster } from "./pg-cluster.mjs";
//   const pg = await startCluster();   // { url, port, dataDir, pgCtl, stop(), stopServer(), startServer(), ... }
//   ...
//   await pg.stop();                   // pg_ctl stop -m fast, then removes the folder
//
// CLI:
//   node scripts/pg-cluster.mjs                 starts a cluster, prints its URL, stops it on Ctrl-C/SIGTERM
//   node scripts/pg-cluster.mjs CMD [ARGS...]   runs CMD with TEST_DATABASE_URL set, then stops the cluster
//
// PostgreSQL refuses to run as root: as root, initdb/pg_ctl run as the `postgres` user via runuser and
// the cluster folder (under os.tmpdir()) belongs to that user. The port is picked free at run time.
// fsync is off (a throwaway cluster); synchronous_commit keeps its default.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, chownSync, chmodSync, mkdtempSync, rmSync, readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/**
 * The folder holding initdb/pg_ctl/postgres, or null when PostgreSQL's server binaries are missing.
 * Order: $PG_BINDIR, `pg_config --bindir` (when it really holds initdb: libpq-dev's pg_config exists
 * without the server), the highest /usr/lib/postgresql/<version>/bin.
 */
export function findPgBinDir() {
  const ok = (dir) => dir && ["initdb", "pg_ctl", "postgres"].every((b) => existsSync(path.join(dir, b)));
  if (process.env.PG_BINDIR) return ok(process.env.PG_BINDIR) ? process.env.PG_BINDIR : null;
  const r = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
  if (r.status === 0 && ok(r.stdout.trim())) return r.stdout.trim();
  const base = "/usr/lib/postgresql";
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const dir = path.join(base, v, "bin");
      if (ok(dir)) return dir;
    }
  }
  return null;
}

/** A TCP port that was free on 127.0.0.1 a moment ago (the kernel picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function postgresIds() {
  const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(
      "running as root, but there is no `postgres` user to run PostgreSQL as (PostgreSQL refuses to run as root); " +
        "install Debian's postgresql package (it creates the user) or run as a normal user",
    );
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** [command, args] for running a PostgreSQL binary, as `postgres` when we are root. */
function asPgUser(bin, args, runAs) {
  return runAs ? ["runuser", ["-u", runAs, "--", bin, ...args]] : [bin, args];
}

/** Runs a command to completion; rejects with its output on a non-zero exit. */
function run(cmd, args, { cwd, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} failed (${signal ?? `exit ${code}`}):\n${out.trim()}`));
    });
  });
}

function tail(file, lines = 30) {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Starts a fresh cluster. Throws a clear error when PostgreSQL's binaries are missing
 * (check findPgBinDir() first to skip instead).
 *
 * @param {{ bindir?: string, maxConnections?: number, quiet?: boolean }} [opts]
 */
export async function startCluster(opts = {}) {
  const bindir = opts.bindir ?? findPgBinDir();
  if (!bindir) {
    throw new Error(
      "PostgreSQL server binaries not found (no initdb/pg_ctl via pg_config --bindir or /usr/lib/postgresql/*/bin); " +
        "on Debian: apt-get install -y postgresql",
    );
  }
  const initdb = path.join(bindir, "initdb");
  const pgCtl = path.join(bindir, "pg_ctl");
  const runAs = isRoot ? "postgres" : null;
  const ids = runAs ? postgresIds() : null;

  // Short path: the socket lives here too and unix socket paths are limited to ~107 bytes.
  const baseDir = mkdtempSync(path.join(os.tmpdir(), "anonchat-pg-"));
  const dataDir = path.join(baseDir, "data");
  const logFile = path.join(baseDir, "postgres.log");
  const socketDir = baseDir;
  const remove = () => rmSync(baseDir, { recursive: true, force: true });
  if (ids) {
    chownSync(baseDir, ids.uid, ids.gid);
    chmodSync(baseDir, 0o700);
  }

  try {
    const [c, a] = asPgUser(
      initdb,
      ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
      runAs,
    );
    await run(c, a, { cwd: baseDir });
  } catch (e) {
    remove();
    throw e;
  }

  const maxConnections = opts.maxConnections ?? 300;
  let port = 0;
  let options = "";
  const ctl = (args, timeoutMs) => {
    const [c, a] = asPgUser(pgCtl, args, runAs);
    return run(c, a, { cwd: baseDir, timeoutMs });
  };
  const startServer = () =>
    ctl(["-D", dataDir, "-l", logFile, "-w", "-t", "60", "-o", options, "start"], 90_000).catch((e) => {
      throw new Error(`${e.message}\n--- ${logFile} ---\n${tail(logFile)}`);
    });

  // The port was free when picked; another process may take it before postgres binds: retry.
  let lastErr;
  for (let attempt = 0; attempt < 4; attempt++) {
    port = await freePort();
    options = [
      `-p ${port}`,
      `-k ${socketDir}`,
      "-c listen_addresses=127.0.0.1",
      "-c fsync=off",
      `-c max_connections=${maxConnections}`,
    ].join(" ");
    try {
      await startServer();
      lastErr = undefined;
      break;
    } catch (e) {
      lastErr = e;
    }
  }
  if (lastErr) {
    remove();
    throw lastErr;
  }

  let stopped = false;
  const cluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    host: "127.0.0.1",
    port,
    user: "postgres",
    bindir,
    pgCtl,
    baseDir,
    dataDir,
    socketDir,
    logFile,
    /** The -o string pg_ctl start needs (port, socket dir, settings). */
    options,
    /** The user PostgreSQL runs as via runuser (we are root), or null. */
    runAs,
    /** Fault injection: stop the server (mode fast|immediate|smart); the cluster stays. */
    stopServer: (mode = "fast") => ctl(["-D", dataDir, "-m", mode, "-w", "stop"], 90_000),
    /** Fault injection: start it again on the same port. */
    startServer,
    restart: async (mode = "fast") => {
      await cluster.stopServer(mode);
      await startServer();
    },
    /**
     * How another process (a test worker) controls this cluster: the argv to run for
     * `pg_ctl ARGS...` (runuser prefix included) plus the paths. test.mjs passes it as TEST_PG_CLUSTER.
     */
    describe: () => ({
      url: cluster.url,
      port,
      dataDir,
      logFile,
      options,
      pgCtl: asPgUser(pgCtl, [], runAs).flat(),
    }),
    /** pg_ctl stop -m fast, then removes the folder. Safe to call twice. */
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await ctl(["-D", dataDir, "-m", "fast", "-w", "stop"], 90_000);
      } catch (e) {
        // Already stopped (fault injection left it down) is fine; otherwise try harder.
        if (existsSync(path.join(dataDir, "postmaster.pid"))) {
          await ctl(["-D", dataDir, "-m", "immediate", "-w", "stop"], 30_000).catch(() => {});
        }
        if (!opts.quiet && !/not running|No such file|does not exist/i.test(String(e.message))) {
          process.stderr.write(`pg-cluster: stop: ${e.message}\n`);
        }
      }
      remove();
    },
    /** Synchronous best-effort stop for process 'exit' handlers. */
    stopSync() {
      if (stopped) return;
      stopped = true;
      const [c, a] = asPgUser(pgCtl, ["-D", dataDir, "-m", "immediate", "-w", "stop"], runAs);
      spawnSync(c, a, { cwd: baseDir, stdio: "ignore", timeout: 30_000 });
      remove();
    },
  };
  return cluster;
}

/**
 * For a test worker: runs `pg_ctl ARGS...` on the cluster test.mjs started (env TEST_PG_CLUSTER),
 * e.g. pgCtlFromEnv(["stop", "-m", "immediate"]) then pgCtlFromEnv(["start"]).
 * "-D", "-l", "-o" and "-w" are added for you.
 */
export async function pgCtlFromEnv(args, env = process.env) {
  if (!env.TEST_PG_CLUSTER) throw new Error("TEST_PG_CLUSTER is not set (start tests with npm test)");
  const d = JSON.parse(env.TEST_PG_CLUSTER);
  const [cmd, ...pre] = d.pgCtl;
  const extra = args.includes("start") || args.includes("restart") ? ["-l", d.logFile, "-o", d.options] : [];
  return run(cmd, [...pre, "-D", d.dataDir, "-w", ...extra, ...args], { cwd: os.tmpdir() });
}

// ---------- CLI ----------

async function main(argv) {
  if (argv[0] === "--help" || argv[0] === "-h") {
    process.stdout.write("usage: node scripts/pg-cluster.mjs [COMMAND ARGS...]\n");
    return 0;
  }
  if (!findPgBinDir()) {
    process.stderr.write("pg-cluster: PostgreSQL server binaries not found (on Debian: apt-get install -y postgresql)\n");
    return 1;
  }
  const cluster = await startCluster();
  process.on("exit", () => cluster.stopSync());
  const env = { ...process.env, TEST_DATABASE_URL: cluster.url, TEST_PG_CLUSTER: JSON.stringify(cluster.describe()) };
  if (argv.length === 0) {
    process.stdout.write(`${cluster.url}\n`);
    process.stderr.write(`pg-cluster: running (data ${cluster.dataDir}); Ctrl-C stops it\n`);
    const keepAlive = setInterval(() => {}, 1 << 30); // signal listeners alone do not keep node running
    await new Promise((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
      process.once("SIGHUP", resolve);
    });
    clearInterval(keepAlive);
    await cluster.stop();
    return 0;
  }
  const child = spawn(argv[0], argv.slice(1), { stdio: "inherit", env });
  const forward = (sig) => child.kill(sig);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, forward);
  const code = await new Promise((resolve) => {
    child.on("error", (e) => {
      process.stderr.write(`pg-cluster: ${e.message}\n`);
      resolve(127);
    });
    child.on("close", (c, s) => resolve(c ?? 128 + (os.constants.signals[s] ?? 0)));
  });
  await cluster.stop();
  return code;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`pg-cluster: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
