import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTRPCClient, createWSClient, httpBatchLink, splitLink, wsLink } from "@trpc/client";
import WebSocket from "ws";
import { afterEach, describe, expect, it } from "vitest";
import type { AppRouter } from "@anonchat/api";
import { createScratchDatabase } from "@anonchat/db";
import type { RoomEvent } from "@anonchat/shared";
import { DB_KIND, httpClient, startTestServer, waitFor } from "./harness.js";
import { SOURCE_NODE_ARGS } from "./helpers/wire.js";
import {
  api,
  connectLegacy,
  createRoomLegacy,
  expectEnvelope,
  expectTokenPair,
  frameText,
  openLegacy,
  registerLegacy,
  sleep,
} from "./helpers/legacy.js";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));
const MAIN = path.join(REPO, "apps/server/src/main.ts");

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** A scratch database on PostgreSQL runs (dropped afterwards); undefined on PGlite. */
async function scratchDatabaseUrl(): Promise<string | undefined> {
  if (DB_KIND !== "postgres") return undefined;
  const db = await createScratchDatabase(process.env.TEST_DATABASE_URL as string);
  cleanups.push(() => db.drop());
  return db.url;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "anonchat-life-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The real entry point (its sources, under tsx) as the direct child node process. */
function spawnServer(env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [...SOURCE_NODE_ARGS, MAIN], { cwd: REPO, env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir(), ...env }, stdio: "pipe" });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** The process's log: one JSON object per line (a line that is not JSON fails the test). */
function jsonLines(out: string): Array<Record<string, unknown>> {
  return out
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function within<T>(p: Promise<T>, ms: number, label: string): Promise<T> {
  return Promise.race([p, sleep(ms).then((): T => Promise.reject(new Error(`${label}: not within ${ms} ms`)) as never)]);
}

describe("lifecycle", () => {
  it("a restart on the same data keeps users, rooms and messages", async () => {
    const dataDir = await tempDir();
    const databaseUrl = await scratchDatabaseUrl();
    const first = await startTestServer({ dataDir, databaseUrl });
    cleanups.push(() => first.stop({ keepData: true }));
    const u = await registerLegacy(first.url, "rs");
    const roomId = await createRoomLegacy(first.url, u.access_token, 5);
    const sock = await openLegacy(first, roomId, u.access_token);
    sock.send("before restart, via legacy");
    await sock.waitFrames(1);
    await sock.close();
    await httpClient(first.url, u.access_token).room.send.mutate({ roomId, text: "before restart, via tRPC" });
    const historyBefore = await httpClient(first.url, u.access_token).room.history.query({ roomId });
    await first.stop({ keepData: true });

    const second = await startTestServer({ dataDir, databaseUrl });
    cleanups.push(() => second.stop({ keepData: true }));
    const res = await api(second.url, "POST", "/api/v1/auth/login", { body: { email: u.email, password: u.password } });
    const pair = expectTokenPair(expectEnvelope(res, 200, "success"));
    const client = httpClient(second.url, pair.access_token);
    const rooms = await client.room.list.query();
    expect(rooms.map((r) => [r.id, r.maxMembers, r.memberCount])).toEqual([[roomId, 5, 1]]);
    const historyAfter = await client.room.history.query({ roomId });
    expect(historyAfter).toEqual(historyBefore);
    expect(historyAfter.messages.map((m) => [m.seq, m.text])).toEqual([
      [1, "before restart, via legacy"],
      [2, "before restart, via tRPC"],
    ]);
    expect((await client.room.send.mutate({ roomId, text: "after restart" })).seq).toBe(3);
    // The refresh token issued before the restart still rotates.
    expectEnvelope(await api(second.url, "POST", "/api/v1/auth/refresh", { body: { token: u.refresh_token } }), 200, "success");
  });

  it("SIGTERM closes live sockets and exits 0 without a crash", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const databaseUrl = await scratchDatabaseUrl();
    const proc = spawnServer({
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: await tempDir(),
      ARGON2_MEMORY_KIB: "4096",
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    });
    await waitFor(() => proc.stdout().includes('"msg":"listening"') || proc.child.exitCode !== null, 60_000, "listening");
    expect(proc.child.exitCode).toBeNull();
    expect((await api(url, "GET", "/healthz")).status).toBe(200);

    const u = await registerLegacy(url, "term");
    const roomId = await createRoomLegacy(url, u.access_token);
    const legacy = connectLegacy(url.replace("http", "ws"), roomId, u.access_token);
    await legacy.opened;

    const closes: Array<number | undefined> = [];
    const wsClient = createWSClient({
      url: `${url.replace("http", "ws")}/trpc`,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      connectionParams: () => ({ token: u.access_token }),
      onClose: (cause) => closes.push(cause?.code),
      retryDelayMs: () => 60_000,
    });
    cleanups.push(async () => wsClient.close());
    const client = createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: wsLink({ client: wsClient }),
          false: httpBatchLink({ url: `${url}/trpc`, headers: { Authorization: `Bearer ${u.access_token}` } }),
        }),
      ],
    });
    const events: RoomEvent[] = [];
    let started = false;
    const sub = client.room.onMessage.subscribe({ roomId }, { onStarted: () => (started = true), onData: (e) => events.push(e.data) });
    cleanups.push(async () => sub.unsubscribe());
    await waitFor(() => started, 10_000, "subscription start");
    // Both sockets are served before the signal: a message reaches each (the old protocol has no
    // readiness signal, so send until one arrives).
    for (let i = 0; i < 50 && (events.length === 0 || legacy.frames.length === 0); i++) {
      await client.room.send.mutate({ roomId, text: `live ${i}` });
      await sleep(100);
    }
    expect(events.length).toBeGreaterThan(0);
    expect(legacy.frames.length).toBeGreaterThan(0);
    for (const f of legacy.frames) expect(frameText(f)).toMatch(/^live \d+$/);

    proc.child.kill("SIGTERM");
    // The contract: exit 0 within a few seconds (a liveness bound, generous on a slow machine).
    const exit = await within(proc.exited, 8000, "exit after SIGTERM");
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await legacy.waitClose(1000)).toMatchObject({ code: 1012 });
    await waitFor(() => closes.length > 0, 2000, "tRPC socket close");
    expect(proc.stderr()).toBe("");
    const levels = proc
      .stdout()
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { level: string; msg: string }));
    expect(levels.filter((l) => l.level === "error")).toEqual([]);
    expect(levels.map((l) => l.msg)).toEqual(expect.arrayContaining(["shutting down", "stopped"]));
  });

  it("a bad configuration (PORT=abc) exits non-zero and names PORT", async () => {
    const proc = spawnServer({ PORT: "abc", DATA_DIR: await tempDir(), HOST: "127.0.0.1" });
    const exit = await within(proc.exited, 30_000, "exit on bad config");
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    // One JSON log line that names the setting.
    const lines = jsonLines(proc.stdout());
    expect(lines).toEqual([expect.objectContaining({ level: "error", msg: "invalid configuration", error: expect.stringMatching(/PORT/) })]);
  });

  it("an unreachable DATABASE_URL exits non-zero with a JSON line naming host, port and code, not the password", async () => {
    const port = await freePort(); // nothing listens there
    const proc = spawnServer({
      PORT: "0",
      HOST: "127.0.0.1",
      DATA_DIR: await tempDir(),
      DATABASE_URL: `postgres://anon:hunter2-secret@127.0.0.1:${port}/chat`,
    });
    const exit = await within(proc.exited, 30_000, "exit on an unreachable database");
    expect(exit.code).toBe(1);
    expect(proc.stdout() + proc.stderr()).not.toContain("hunter2-secret");
    const failure = jsonLines(proc.stdout()).find((l) => l.level === "error");
    expect(failure).toMatchObject({
      msg: "could not connect to the database",
      host: "127.0.0.1",
      port,
      code: "ECONNREFUSED",
      error: expect.stringContaining(`could not connect to the database at 127.0.0.1:${port} (ECONNREFUSED)`),
    });
    expect(proc.stdout()).not.toMatch(/migration/);
  });
});
