import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Message, Session } from "@anonchat/shared";

/**
 * tRPC over plain fetch and the real server as a child process, without vitest (the fault
 * campaign script uses these outside the test runner).
 */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface WireError {
  code: string;
  httpStatus: number;
  message: string;
  retryAfter: number | undefined;
}

export type WireResult<T> =
  | { ok: true; status: number; data: T }
  | { ok: false; status: number; error: WireError }
  /** No HTTP answer at all: refused, reset, timed out. */
  | { ok: false; status: 0; error: WireError };

/** One tRPC call over HTTP (no batching), with a deadline; never throws. */
export async function trpcCall<T>(
  url: string,
  procedure: string,
  input: unknown,
  opts: { token?: string; kind?: "query" | "mutation"; timeoutMs?: number } = {},
): Promise<WireResult<T>> {
  const kind = opts.kind ?? "mutation";
  const headers: Record<string, string> = {};
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let target = `${url}/trpc/${procedure}`;
  let body: string | undefined;
  if (kind === "query") {
    if (input !== undefined) target += `?input=${encodeURIComponent(JSON.stringify(input))}`;
  } else {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(input ?? null);
  }
  try {
    const res = await fetch(target, {
      method: kind === "query" ? "GET" : "POST",
      headers,
      body,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
    const text = await res.text();
    let parsed: { result?: { data?: T }; error?: { message?: string; data?: { code?: string; httpStatus?: number; retryAfter?: number } } };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      return { ok: false, status: res.status, error: { code: "NOT_JSON", httpStatus: res.status, message: text.slice(0, 200), retryAfter: undefined } };
    }
    if (res.ok && parsed.result) return { ok: true, status: res.status, data: parsed.result.data as T };
    const retryHeader = res.headers.get("retry-after");
    return {
      ok: false,
      status: res.status,
      error: {
        code: parsed.error?.data?.code ?? "UNKNOWN",
        httpStatus: parsed.error?.data?.httpStatus ?? res.status,
        message: parsed.error?.message ?? "",
        retryAfter: retryHeader ? Number(retryHeader) : parsed.error?.data?.retryAfter,
      },
    };
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string }; code?: string };
    const code = e.cause?.code ?? e.code ?? e.name ?? "NETWORK";
    return { ok: false, status: 0, error: { code: `NET_${code}`, httpStatus: 0, message: String(err), retryAfter: undefined } };
  }
}

/** Unwraps a result or throws with its error. */
export function must<T>(r: WireResult<T>, what: string): T {
  if (r.ok) return r.data;
  throw new Error(`${what}: ${r.status} ${r.error.code} ${r.error.message}`);
}

let userCounter = 0;
export async function registerWire(url: string, prefix: string): Promise<Session> {
  userCounter++;
  const tag = `${prefix}${process.pid % 10000}x${userCounter}x${Math.floor(Math.random() * 1e5)}`.slice(0, 32);
  return must(
    await trpcCall<Session>(url, "auth.register", { login: tag, email: `${tag}@example.test`, password: `pw-${tag}-secret` }),
    "register",
  );
}

/** Every message of a room, oldest first, walking history pages backwards. */
export async function fullHistoryWire(url: string, token: string, roomId: string): Promise<Message[]> {
  const pages: Message[][] = [];
  let beforeSeq: number | undefined;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = must(
      await trpcCall<{ messages: Message[]; hasMore: boolean }>(
        url,
        "room.history",
        { roomId, limit: 100, ...(beforeSeq ? { beforeSeq } : {}) },
        { token, kind: "query", timeoutMs: 20_000 },
      ),
      "history",
    );
    pages.unshift(page.messages);
    const first = page.messages[0];
    if (!page.hasMore || !first) break;
    beforeSeq = first.seq;
  }
  return pages.flat();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const REPO = fileURLToPath(new URL("../../../..", import.meta.url));
const MAIN = path.join(REPO, "apps/server/src/main.ts");
const TSX_LOADER = new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
/**
 * node's arguments to run the server's TypeScript sources: tsx's loader, and the condition under
 * which the workspace packages export their sources (without it node would load their built dist/,
 * which may be missing or stale).
 */
export const SOURCE_NODE_ARGS: readonly string[] = ["--conditions=@anonchat/source", "--import", TSX_LOADER];
/** The built entry point (tsc -b tsconfig.build.json), as production runs it: plain node, no condition. */
export const BUILT_MAIN = path.join(REPO, "apps/server/dist/main.js");

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** The last 200 kB of stdout and stderr. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Polls /readyz until it answers 200; throws when the process exits or the deadline passes. */
  ready(timeoutMs?: number): Promise<void>;
  /** Sends the signal and waits for the exit (SIGKILL after 10 s for anything else). */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * The real entry point in its own process, on 127.0.0.1:port: its sources under tsx by default, or
 * what `argv` names (e.g. [BUILT_MAIN]).
 */
export function spawnServerProcess(port: number, env: Record<string, string>, argv: readonly string[] = [...SOURCE_NODE_ARGS, MAIN]): ServerProcess {
  const child = spawn(process.execPath, argv, {
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: os.tmpdir(),
      HOST: "127.0.0.1",
      PORT: String(port),
      LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-200_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    child,
    output: () => out,
    exited,
    async ready(timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${out.slice(-3000)}`);
        }
        try {
          const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
          if (res.ok) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`server not ready within ${timeoutMs} ms:\n${out.slice(-3000)}`);
        await sleep(100);
      }
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(force);
    },
  };
}
