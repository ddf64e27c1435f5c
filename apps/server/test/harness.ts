import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createTRPCClient, createWSClient, httpBatchLink, splitLink, wsLink, type TRPCClient } from "@trpc/client";
import WebSocket from "ws";
import type { AppRouter } from "@anonchat/api";
import { createScratchDatabase } from "@anonchat/db";
import type { Session } from "@anonchat/shared";
import { createLogger, loadConfig, startServer, type RunningServer } from "../src/index.js";
import { startSplit } from "./split-harness.js";

/** Which database the integration tests run on: PostgreSQL when TEST_DATABASE_URL is set. */
export const DB_KIND: "postgres" | "pglite" = process.env.TEST_DATABASE_URL ? "postgres" : "pglite";

/**
 * all: one all-in-one server in this process. split: gateway + auth + two chat replicas as
 * separate processes (PostgreSQL only); the same client-facing tests then run through the gateway.
 */
export const TOPOLOGY: "all" | "split" = process.env.TEST_TOPOLOGY === "split" ? "split" : "all";

export interface TestServer {
  url: string;
  wsUrl: string;
  port: number;
  /** The in-process server (all-in-one topology only). */
  server: RunningServer;
  dataDir: string;
  databaseUrl: string | undefined;
  /** Graceful stop, then removes the scratch database / data folder unless keepData. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

export interface StartOptions {
  /** Extra environment variables (the same names as in production). */
  env?: Record<string, string>;
  /** Reuse a data folder / database (restart tests). */
  dataDir?: string;
  databaseUrl?: string;
  /** Receives every JSON log line (the level is forced to debug when set). */
  onLog?: (line: string) => void;
}


/**
 * Limits raised for tests that are not about them (each limit has tests of its own that set it
 * low again). Per-user concurrency stays at its default, so calls still take turns.
 */
export const UNLIMITED_ENV: Record<string, string> = {
  RATE_LIMIT_PER_IP: "1000000",
  RATE_LIMIT_PER_USER: "1000000",
  CALL_QUEUE_PER_USER: "100000",
  LOGIN_FAILS_PER_IP: "1000000",
  REGISTRATIONS_PER_IP: "1000000",
  SEND_LIMIT: "1000000",
};

/** Starts the real server on 127.0.0.1 and a free port, on a fresh database of DB_KIND. */
export async function startTestServer(opts: StartOptions = {}): Promise<TestServer> {
  if (TOPOLOGY === "split") return startSplitAsTestServer(opts);
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), "anonchat-test-")));
  let databaseUrl = opts.databaseUrl;
  let dropDb: (() => Promise<void>) | undefined;
  if (!databaseUrl && DB_KIND === "postgres") {
    const scratch = await createScratchDatabase(process.env.TEST_DATABASE_URL as string);
    databaseUrl = scratch.url;
    dropDb = scratch.drop;
  }
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    ...UNLIMITED_ENV,
    LOG_LEVEL: opts.onLog ? "debug" : (process.env.TEST_LOG_LEVEL ?? "silent"),
    ...opts.env,
  });
  const server = await startServer(config, createLogger(config.logLevel, {}, opts.onLog));
  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    wsUrl: `ws://127.0.0.1:${server.port}`,
    port: server.port,
    server,
    dataDir,
    databaseUrl,
    async stop(o = {}) {
      await server.close();
      if (o.keepData) return;
      await dropDb?.();
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export type Client = TRPCClient<AppRouter>;

/** Calls per HTTP batch, within the server's MAX_BATCH_CALLS (32 by default), as the README's recipe sets. */
export const MAX_BATCH_ITEMS = 32;

/** A tRPC client over HTTP only, with the given access token (or a getter). */
export function httpClient(url: string, token?: string | (() => string | undefined)): Client {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${url}/trpc`,
        maxItems: MAX_BATCH_ITEMS,
        headers: () => {
          const t = typeof token === "function" ? token() : token;
          return t ? { Authorization: `Bearer ${t}` } : {};
        },
      }),
    ],
  });
}

/**
 * The README's client recipe: HTTP for queries and mutations, a lazy WebSocket for subscriptions
 * whose connectionParams hand over a fresh access token (refreshing it first when it is close to
 * expiry), so reconnects after expiry resume from lastEventId.
 */
export function liveClient(url: string, session: Session) {
  let current = session;
  let refreshing: Promise<Session> | undefined;
  const plain = httpClient(url);
  const fresh = async (): Promise<string> => {
    const msLeft = Date.parse(current.accessTokenExpiresAt) - Date.now();
    if (msLeft < 1500) {
      refreshing ??= plain.auth.refresh.mutate({ refreshToken: current.refreshToken }).finally(() => {
        refreshing = undefined;
      });
      current = await refreshing;
    }
    return current.accessToken;
  };
  const ws = createWSClient({
    url: `${url.replace(/^http/, "ws")}/trpc`,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    lazy: { enabled: true, closeMs: 1000 },
    connectionParams: async () => ({ token: await fresh() }),
    retryDelayMs: () => 100,
  });
  const client = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: wsLink({ client: ws }),
        false: httpBatchLink({
          url: `${url}/trpc`,
          maxItems: MAX_BATCH_ITEMS,
          headers: async () => ({ Authorization: `Bearer ${await fresh()}` }),
        }),
      }),
    ],
  });
  return {
    client,
    ws,
    session: () => current,
    close: () => ws.close(),
  };
}

let counter = 0;
/** Registers a fresh user through tRPC; returns the session and an authenticated HTTP client. */
export async function registerUser(url: string, prefix = "user"): Promise<{ session: Session; client: Client; password: string }> {
  counter++;
  const tag = `${prefix}${process.pid % 10000}${counter}${Math.floor(Math.random() * 1e4)}`.slice(0, 32);
  const password = `pw-${tag}-secret`;
  const session = await httpClient(url).auth.register.mutate({ login: tag, email: `${tag}@example.test`, password });
  return { session, client: httpClient(url, session.accessToken), password };
}

/** Waits until cond() is true, polling; throws with label after timeoutMs. */
export async function waitFor(cond: () => boolean, timeoutMs = 30_000, label = "condition"): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The split deployment behind the TestServer interface: tests talk to the gateway. */
async function startSplitAsTestServer(opts: StartOptions): Promise<TestServer> {
  if (opts.dataDir || opts.databaseUrl || opts.onLog) throw new Error("this test needs the all-in-one topology");
  const d = await startSplit({ env: opts.env ?? {} });
  const port = Number(new URL(d.url).port);
  const noServer = new Proxy({} as RunningServer, {
    get() {
      throw new Error("the split topology has no in-process server; this test needs TEST_TOPOLOGY=all");
    },
  });
  return { url: d.url, wsUrl: d.wsUrl, port, server: noServer, dataDir: "", databaseUrl: d.databaseUrl, stop: () => d.stop() };
}
