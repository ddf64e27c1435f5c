import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The monorepo root (bench/src/util.ts → ../..). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BENCH_DIR = path.join(ROOT, "bench");

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** CLOCK_MONOTONIC in microseconds: the clock of V8 CPU profiles, the same in every process. */
export function mono(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The tsx ESM+CJS loader of a package folder's tsx, as a URL for `node --import`. */
export function tsxLoaderFrom(dir: string): string {
  const req = createRequire(path.join(dir, "package.json"));
  const pkg = req.resolve("tsx/package.json");
  return pathToFileURL(path.join(path.dirname(pkg), "dist", "loader.mjs")).href;
}

/**
 * node's arguments to run TypeScript sources: tsx's loader (from dir's dependencies) and the
 * condition under which the workspace packages export their sources (by default node would load
 * their built dist/, which may be missing or stale).
 */
export function sourceNodeArgs(dir: string): string[] {
  return ["--conditions=@anonchat/source", "--import", tsxLoaderFrom(dir)];
}

/** Runs fn over items with at most `limit` in flight; resolves with the results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** 12345 → "12,345"; 0.1234 → "0.12". */
export function fmt(n: number | undefined | null, digits?: number): string {
  if (n === undefined || n === null || !Number.isFinite(n)) return "–";
  const d = digits ?? (Number.isInteger(n) || Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);
  return n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

export function log(msg: string): void {
  const t = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[bench ${t}] ${msg}\n`);
}

/** A short random id of [A-Za-z0-9]. */
export function randomId(len: number): string {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < len; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}
