import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createScratchDatabase } from "@anonchat/db";
import type { Room, Session } from "@anonchat/shared";
import { liveClient, startTestServer } from "../harness.js";
import { Ledger, type LedgerReport } from "./ledger.js";
import { runStorm, type StormClient, type StormResult } from "./storm.js";
import { TEST_PRIVATE_KEY } from "./test-env.js";
import { freePort, fullHistoryWire, must, registerWire, sleep, spawnServerProcess, trpcCall, type ServerProcess } from "./wire.js";

/**
 * The two fault scenarios, shared by the CI tests (fault-kill.test.ts, fault-postgres.test.ts) and
 * the longer campaign (campaign/fault-campaign.ts). They measure and return; the callers judge.
 */

const REPO = fileURLToPath(new URL("../../../..", import.meta.url));

type Log = (line: string) => void;

/** Users in rooms: clients are spread over `rooms` rooms, every client a member of its room. */
async function setUpRooms(url: string, clients: number, rooms: number, tag: string) {
  const sessions: Session[] = [];
  for (let i = 0; i < clients; i++) sessions.push(await registerWire(url, `f${i}`));
  const roomList: Room[] = [];
  for (let r = 0; r < rooms; r++) {
    const owner = sessions[r] as Session;
    roomList.push(must(await trpcCall<Room>(url, "room.create", { name: `${tag}-${r}`, maxMembers: clients }, { token: owner.accessToken }), "create"));
  }
  const stormClients: StormClient[] = sessions.map((s, i) => ({
    name: `c${i}`,
    token: s.accessToken,
    roomId: (roomList[i % rooms] as Room).id,
  }));
  for (const [i, c] of stormClients.entries()) {
    must(await trpcCall<Room>(url, "room.join", { roomId: c.roomId }, { token: (sessions[i] as Session).accessToken }), "join");
  }
  return { sessions, rooms: roomList, stormClients };
}

async function historiesOf(url: string, stormClients: readonly StormClient[]) {
  const byRoom = new Map<string, Awaited<ReturnType<typeof fullHistoryWire>>>();
  for (const c of stormClients) {
    if (!byRoom.has(c.roomId)) byRoom.set(c.roomId, await fullHistoryWire(url, c.token, c.roomId));
  }
  return byRoom;
}

// ---- kill -9 of the server process --------------------------------------------------------

export interface KillRunOptions {
  kills: number;
  clients: number;
  rooms: number;
  /** Messages each client sends at most; the storm ends earlier once the kills are over and afterMessages more were acknowledged. */
  perClient: number;
  /** Acknowledgements to wait for after the last restart before the storm may end (default clients * 10). */
  afterMessages?: number;
  /** PostgreSQL database for the server (else PGlite in the run's DATA_DIR). */
  databaseUrl?: string | undefined;
  /** Time from a (re)start to the next SIGKILL, drawn uniformly from [min, max] ms. */
  killAfterMs?: [number, number];
  log?: Log;
}

export interface KillRunResult {
  report: LedgerReport;
  kills: number;
  storm: StormResult;
  /** Milliseconds from SIGKILL to the restarted server answering /readyz. */
  downtimesMs: number[];
  /** Acknowledged messages per second of storm. */
  ackRate: number;
  output: string;
}

export async function runKillScenario(opts: KillRunOptions): Promise<KillRunResult> {
  const log = opts.log ?? (() => undefined);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "anonchat-kill-"));
  const port = await freePort();
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    JWT_PRIVATE_KEY: TEST_PRIVATE_KEY,
    ARGON2_MEMORY_KIB: "1024",
    ARGON2_TIME_COST: "1",
    RATE_LIMIT_PER_IP: "10000000",
    REGISTRATIONS_PER_IP: "10000000",
    SEND_LIMIT: "10000000",
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
  };
  let proc: ServerProcess = spawnServerProcess(port, env);
  let output = "";
  try {
    await proc.ready();
    const tag = `k${Date.now().toString(36)}`;
    const { stormClients } = await setUpRooms(proc.url, opts.clients, opts.rooms, tag);
    const ledger = new Ledger();
    let stormDone = false;
    let killsOver = false;
    let ackedAtLastRestart = 0;
    const tail = opts.afterMessages ?? opts.clients * 10;
    const storm = runStorm({
      url: proc.url,
      clients: stormClients,
      perClient: opts.perClient,
      ledger,
      tag,
      retryDelayMs: 150,
      giveUpMs: 90_000,
      // Keeps going while the kills go on, then a tail of sends on the last server.
      shouldStop: () => killsOver && ledger.acknowledged - ackedAtLastRestart >= tail,
    }).finally(() => (stormDone = true));

    const [min, max] = opts.killAfterMs ?? [400, 1500];
    const downtimesMs: number[] = [];
    let kills = 0;
    while (kills < opts.kills && !stormDone) {
      const wait = min + Math.random() * (max - min);
      const until = Date.now() + wait;
      while (Date.now() < until && !stormDone) await sleep(20);
      if (stormDone) break;
      const killedAt = Date.now();
      const acked = ledger.acknowledged;
      await proc.stop("SIGKILL");
      kills++;
      output += proc.output();
      log(`kill #${kills} after ${Math.round(wait)} ms (${acked} acknowledged so far)`);
      proc = spawnServerProcess(port, env);
      await proc.ready();
      downtimesMs.push(Date.now() - killedAt);
      ackedAtLastRestart = ledger.acknowledged;
    }
    killsOver = true;
    const stormResult = await storm;
    const report = ledger.check(await historiesOf(proc.url, stormClients));
    output += proc.output();
    return {
      report,
      kills,
      storm: stormResult,
      downtimesMs,
      ackRate: report.acknowledged / Math.max(0.001, stormResult.durationMs / 1000),
      output,
    };
  } finally {
    await proc.stop("SIGTERM").catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
}

// ---- PostgreSQL stopped under traffic -----------------------------------------------------

/** What scripts/pg-cluster.mjs's startCluster returns (the parts used here). */
export interface PgCluster {
  url: string;
  port: number;
  stopServer(mode?: "fast" | "immediate" | "smart"): Promise<unknown>;
  startServer(): Promise<unknown>;
  stop(): Promise<void>;
}

interface PgClusterModule {
  startCluster(opts?: { quiet?: boolean; maxConnections?: number }): Promise<PgCluster>;
  findPgBinDir(): string | null;
}

/** A throwaway cluster of this test's own, so stopping it disturbs no other test file. */
export async function startDedicatedCluster(): Promise<PgCluster> {
  const mod = (await import(pathToFileURL(path.join(REPO, "scripts/pg-cluster.mjs")).href)) as PgClusterModule;
  return mod.startCluster({ quiet: true, maxConnections: 100 });
}

export interface SubscriberLog {
  user: string;
  seqs: number[];
  error: string | undefined;
  completed: boolean;
}

export interface OutageRunOptions {
  cluster: PgCluster;
  clients: number;
  rooms: number;
  perClient: number;
  /** How long PostgreSQL stays down, at least. */
  outageMs: number;
  /**
   * Keep PostgreSQL down past outageMs until this many sends have been refused (started and
   * answered while it was down), so that a loaded machine cannot end the outage before the
   * refusals arrive. 0 (the default) keeps the outage at outageMs.
   */
  refusalsWhileDown?: number;
  /** Only ends a hang while waiting for refusalsWhileDown (default 60 s). */
  maxOutageMs?: number;
  log?: Log;
}

export interface OutageRunResult {
  report: LedgerReport;
  storm: StormResult;
  /** Tries that started after the stop completed and ended before the restart began. */
  triesWhileDown: number;
  /** Acknowledgements of such tries: must be 0. */
  ackedWhileDown: number;
  /** Failed tries while down (started after the stop, answered before the restart began). */
  refusedWhileDown: number;
  /** Failed tries while down, by kind (HTTP status and code). */
  errorsWhileDown: Record<string, number>;
  /** Refusals while down that did not say when to retry (no Retry-After). */
  withoutRetryAfter: number;
  /** How long a failed try took while down (the slowest), ms: errors must come fast. */
  slowestFailureMs: number;
  /** From the restart finishing to the first acknowledgement of a try started after it. */
  recoveryMs: number | undefined;
  /** Per subscriber, the seqs received, in order, per room. */
  subscribers: Array<SubscriberLog & { roomId: string; last: number }>;
  /** Server log lines at level error. */
  errorLogs: string[];
  /** Exceptions nobody caught while the scenario ran (the server runs in this process): each would kill a production server. */
  uncaught: string[];
}

export async function runPgOutageScenario(opts: OutageRunOptions): Promise<OutageRunResult> {
  const log = opts.log ?? (() => undefined);
  const scratch = await createScratchDatabase(opts.cluster.url);
  const errorLogs: string[] = [];
  const serverEnv = { JWT_PRIVATE_KEY: TEST_PRIVATE_KEY, ARGON2_MEMORY_KIB: "1024", ARGON2_TIME_COST: "1", DATABASE_POOL_MAX: "8", SHUTDOWN_TIMEOUT: "1", LOG_LEVEL: "warn" };
  const onLog = (line: string) => {
    if (line.includes('"level":"error"') && errorLogs.length < 50) errorLogs.push(line.slice(0, 600));
  };
  // Two servers on one database: the storm goes to the first; the second's subscribers learn of
  // messages only through LISTEN/NOTIFY, whose connection must come back and catch up by itself.
  const srv = await startTestServer({ databaseUrl: scratch.url, env: serverEnv, onLog });
  const other = await startTestServer({ databaseUrl: scratch.url, env: serverEnv, onLog }).catch(async (err: unknown) => {
    await srv.stop({ keepData: true });
    throw err;
  });
  const closers: Array<() => void> = [];
  const uncaught: string[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.on("uncaughtException", onUncaught);
  closers.push(() => process.off("uncaughtException", onUncaught));
  try {
    const tag = `o${Date.now().toString(36)}`;
    const { sessions, stormClients } = await setUpRooms(srv.url, opts.clients, opts.rooms, tag);

    // A subscriber in every room on each server (the README's recipe: it resumes from lastEventId by itself).
    const subscribers: Array<SubscriberLog & { roomId: string }> = [];
    for (let k = 0; k < opts.rooms * 2; k++) {
      const r = k % opts.rooms;
      const onOther = k >= opts.rooms;
      const c = stormClients[r] as StormClient;
      const live = liveClient(onOther ? other.url : srv.url, sessions[r] as Session);
      const sub: SubscriberLog & { roomId: string } = {
        user: `${c.name}@${onOther ? "second server" : "first server"}`,
        roomId: c.roomId,
        seqs: [],
        error: undefined,
        completed: false,
      };
      let started = false;
      const handle = live.client.room.onMessage.subscribe(
        { roomId: c.roomId, lastEventId: "0" },
        {
          onStarted: () => (started = true),
          onData: (e) => {
            if (e.data.type === "message") sub.seqs.push(e.data.message.seq);
          },
          onError: (err) => (sub.error = `${err.data?.code ?? "?"}: ${err.message}`),
          onComplete: () => (sub.completed = true),
        },
      );
      closers.push(() => handle.unsubscribe(), () => live.close());
      const until = Date.now() + 10_000;
      while (!started && Date.now() < until) await sleep(20);
      subscribers.push(sub);
    }

    const ledger = new Ledger();
    let downSince = Infinity;
    let upFrom = Infinity;
    let upAt = Infinity;
    let triesWhileDown = 0;
    let refusedWhileDown = 0;
    let ackedWhileDown = 0;
    let slowestFailureMs = 0;
    let withoutRetryAfter = 0;
    let recoveryMs: number | undefined;
    const errorsWhileDown: Record<string, number> = {};
    const inOutage = (t: { startedAt: number; endedAt: number }) => t.startedAt >= downSince && t.endedAt <= upFrom;

    const storm = runStorm({
      url: srv.url,
      clients: stormClients,
      perClient: opts.perClient,
      ledger,
      tag,
      pauseMs: 20,
      retryDelayMs: 100,
      giveUpMs: 60_000,
      onAck: (t) => {
        if (inOutage(t)) {
          triesWhileDown++;
          ackedWhileDown++;
        }
        if (recoveryMs === undefined && t.startedAt >= upAt) recoveryMs = t.endedAt - upAt;
      },
      onFailure: (t) => {
        if (!inOutage(t)) return;
        triesWhileDown++;
        refusedWhileDown++;
        const kind = `${t.error.httpStatus} ${t.error.code}`;
        errorsWhileDown[kind] = (errorsWhileDown[kind] ?? 0) + 1;
        if (!(t.error.retryAfter !== undefined && t.error.retryAfter >= 1)) withoutRetryAfter++;
        slowestFailureMs = Math.max(slowestFailureMs, t.endedAt - t.startedAt);
      },
    });

    // Stop PostgreSQL once traffic flows, keep it down, start it again.
    const flowing = Date.now() + 20_000;
    while (ledger.acknowledged < opts.clients * 3 && Date.now() < flowing) await sleep(20);
    log(`stopping PostgreSQL (immediate) after ${ledger.acknowledged} acknowledged`);
    await opts.cluster.stopServer("immediate");
    downSince = Date.now();
    await sleep(opts.outageMs);
    const outageBound = Date.now() + (opts.maxOutageMs ?? 60_000);
    while (refusedWhileDown < (opts.refusalsWhileDown ?? 0) && Date.now() < outageBound) await sleep(20);
    upFrom = Date.now();
    await opts.cluster.startServer();
    upAt = Date.now();
    log(`PostgreSQL back after ${upAt - downSince} ms; ${triesWhileDown} tries while down`);

    const stormResult = await storm;
    // A sentinel per room: once every subscriber has it, everything before it has arrived too.
    const lastByRoom = new Map<string, number>();
    for (const c of stormClients) {
      if (lastByRoom.has(c.roomId)) continue;
      const sent = must(await trpcCall<{ seq: number }>(srv.url, "room.send", { roomId: c.roomId, text: "sentinel" }, { token: c.token }), "sentinel");
      lastByRoom.set(c.roomId, sent.seq);
    }
    const until = Date.now() + 30_000;
    while (Date.now() < until && !subscribers.every((s) => s.seqs.includes(lastByRoom.get(s.roomId) ?? -1) || s.error || s.completed)) {
      await sleep(50);
    }
    const histories = await historiesOf(srv.url, stormClients);
    // The sentinels carry no clientMsgId: leave them out of the ledger's view of history (membership
    // items carry none either, but keep their place in the seq order).
    const withoutSentinels = new Map(
      [...histories].map(([room, list]) => [room, list.filter((m) => m.clientMsgId !== null || m.kind !== "text")]),
    );
    const report = ledger.check(withoutSentinels);
    // The sentinel is the newest message of its room (positions before it are checked above).
    for (const [room, list] of histories) {
      const last = list.at(-1);
      if (!last || last.clientMsgId !== null || last.seq !== list.length || last.seq !== lastByRoom.get(room)) {
        report.orderViolations++;
        report.problems.push(`room ${room}: the sentinel is not the last message, with seq ${lastByRoom.get(room)}`);
      }
    }
    return {
      report,
      storm: stormResult,
      triesWhileDown,
      refusedWhileDown,
      ackedWhileDown,
      errorsWhileDown,
      withoutRetryAfter,
      slowestFailureMs,
      recoveryMs,
      subscribers: subscribers.map((s) => ({ ...s, last: lastByRoom.get(s.roomId) ?? 0 })),
      errorLogs,
      uncaught,
    };
  } finally {
    for (const c of closers) c();
    await other.stop({ keepData: true }).catch(() => undefined);
    await srv.stop({ keepData: true }).catch(() => undefined);
    await scratch.drop().catch(() => undefined);
    await rm(srv.dataDir, { recursive: true, force: true });
    await rm(other.dataDir, { recursive: true, force: true });
  }
}
