#!/usr/bin/env node
// A throwaway Redis for tests, started from the machine's own (Debian) redis-server, the way
// pg-cluster.mjs starts PostgreSQL: a free port, no persistence, its own folder, stopped at exit.
//
//   import { startRedis } from "./redis-server.mjs";
//   const redis = await startRedis();   // { url, port, stop(), stopSync() }
//
// CLI: node scripts/redis-server.mjs   starts one, prints its URL, stops it on Ctrl-C/SIGTERM.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./pg-cluster.mjs";

/** The redis-server binary ($REDIS_SERVER or the one on PATH), or null when it is not installed. */
export function findRedisServer() {
  const bin = process.env.REDIS_SERVER || "redis-server";
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  return r.status === 0 ? bin : null;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port and answers PING. */
async function waitForPing(port, deadlineMs) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.setTimeout(1000);
      s.on("connect", () => s.write("PING\r\n"));
      s.on("data", (d) => {
        resolve(d.toString().startsWith("+PONG"));
        s.destroy();
      });
      s.on("error", () => resolve(false));
      s.on("timeout", () => {
        resolve(false);
        s.destroy();
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startRedis() {
  const bin = findRedisServer();
  if (!bin) throw new Error("redis-server is not installed (Debian: apt-get install -y redis-server)");
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), "anonchat-redis-"));
  const child = spawn(
    bin,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const exited = new Promise((resolve) => child.on("exit", resolve));
  try {
    await Promise.race([
      waitForPing(port, 15_000),
      exited.then((code) => {
        throw new Error(`redis-server exited (${code}) before it answered`);
      }),
    ]);
  } catch (e) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      if (stopped) return;
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      stopSync();
    },
    stopSync,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const redis = await startRedis();
  process.stdout.write(`${redis.url}\n`);
  const bye = () => redis.stop().then(() => process.exit(0));
  process.on("SIGINT", bye);
  process.on("SIGTERM", bye);
}
