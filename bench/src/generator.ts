/**
 * A load-generator process: forked by run.ts, driven over IPC (see protocol.ts). It holds
 * subscriber sockets speaking tRPC's WebSocket wire protocol (or the baseline's copy of it),
 * publishes through HTTP or WebSocket, and measures delivery latency, loss and duplicates.
 *
 * Every message text is `b|<phase>|<message no>|<intended send time, epoch ms>|xxxx…`, so a
 * subscriber knows from the frame alone which phase and send it belongs to and how late it is.
 */
import argon2 from "argon2";
import WebSocket, { type RawData } from "ws";
import { Abuse } from "./abuse.js";
import { Catcher } from "./catchup-client.js";
import { Storm } from "./storm-client.js";
import { Histogram } from "./histogram.js";
import { TrpcHttp } from "./http.js";
import { cpuPercent, rssBytes, sampleCpu, type CpuGroup } from "./proc.js";
import type {
  Argon2Cmd,
  AuthLoopCmd,
  ConnectCmd,
  ConnectResult,
  ExpectCmd,
  ExpectResult,
  GenReply,
  GenRequest,
  OpsResult,
  PublishersCmd,
  PublishOnceResult,
  RunCmd,
  RunResult,
  SendLoopCmd,
  StatsResult,
} from "./protocol.js";
import { mono, now, sleep } from "./util.js";
import { Victim } from "./victim.js";

// ---- shared state ------------------------------------------------------------------------------

interface Sub {
  ws: WebSocket;
  room: number;
  lastSeq: number;
  open: boolean;
  started: boolean;
  onStarted: ((err?: Error) => void) | undefined;
  /** The server process it reached (split scenario: the chat replica), when known. */
  group?: number;
}

interface PhaseCounters {
  received: number;
  duplicated: number;
  unexpected: number;
}

/** A send whose deliveries are still being counted. */
interface Pending {
  room: number;
  remaining: number;
  /** Scheduled send time. */
  t: number;
  /** The publisher's server process (split scenario), when known. */
  group: number | undefined;
}

const roomIndex = new Map<string, number>();
const subsInRoom: number[] = [];
const subs: Sub[] = [];
const phases = new Map<number, PhaseCounters>();
const pending = new Map<number, Pending>();
let closedSockets = 0;
let errorFrames = 0;
const errorFrameSamples: string[] = [];
let duplicatedOutsidePhase = 0;

/** The measurement window of the running phase (receive and send times inside it count). */
let windowStart = Infinity;
let windowEnd = -Infinity;
let windowDelivered = 0;
let latency = new Histogram();
/** Deliveries from a publisher on one server process to a subscriber on another (both tagged). */
let crossLatency = new Histogram();

/** Called when a send is fully delivered (all local subscribers of its room have it). */
let onComplete: (room: number) => void = () => {};

function roomOf(roomId: string): number {
  let i = roomIndex.get(roomId);
  if (i === undefined) {
    i = roomIndex.size;
    roomIndex.set(roomId, i);
    subsInRoom[i] = 0;
  }
  return i;
}

function counters(phase: number): PhaseCounters {
  let c = phases.get(phase);
  if (!c) phases.set(phase, (c = { received: 0, duplicated: 0, unexpected: 0 }));
  return c;
}

function noteErrorFrame(text: string) {
  errorFrames++;
  if (errorFrameSamples.length < 5) errorFrameSamples.push(text.slice(0, 300));
}

// ---- subscribers ---------------------------------------------------------------------------------

const TEXT_MARK = '"text":"b|';
const SEQ_MARK = '"seq":';

/** The hot path: one delivered frame. Parses by position (both servers emit the same shape). */
function onSubFrame(sub: Sub, data: RawData) {
  const s = data.toString();
  const ti = s.indexOf(TEXT_MARK);
  if (ti === -1) return onControlFrame(sub, s);
  const si = s.indexOf(SEQ_MARK);
  const seq = si === -1 ? NaN : parseInt(s.slice(si + 6, si + 24), 10);
  const p0 = ti + TEXT_MARK.length;
  const p1 = s.indexOf("|", p0);
  const p2 = s.indexOf("|", p1 + 1);
  const p3 = s.indexOf("|", p2 + 1);
  const phase = Number(s.slice(p0, p1));
  const g = Number(s.slice(p1 + 1, p2));
  const t = Number(s.slice(p2 + 1, p3));
  if (!Number.isFinite(seq) || !Number.isFinite(t)) return noteErrorFrame(s);
  const c = phase > 0 ? counters(phase) : undefined;
  if (seq <= sub.lastSeq) {
    if (c) c.duplicated++;
    else duplicatedOutsidePhase++;
    return;
  }
  sub.lastSeq = seq;
  const recv = now();
  if (c) c.received++;
  if (recv >= windowStart && recv < windowEnd) windowDelivered++;
  const p = pending.get(g);
  if (t >= windowStart && t < windowEnd) {
    latency.add(recv - t);
    if (p?.group !== undefined && sub.group !== undefined && p.group !== sub.group) crossLatency.add(recv - t);
  }
  if (p) {
    if (--p.remaining === 0) {
      pending.delete(g);
      onComplete(p.room);
    }
  } else if (c) {
    c.unexpected++;
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

function onControlFrame(sub: Sub, s: string) {
  if (s === "PING") {
    sub.ws.send("PONG");
    return;
  }
  if (s === "PONG") return;
  let msg: unknown;
  try {
    msg = JSON.parse(s);
  } catch {
    return noteErrorFrame(s);
  }
  if (isObj(msg) && isObj(msg.result)) {
    const type = msg.result.type;
    if (type === "started") {
      sub.started = true;
      sub.onStarted?.();
      sub.onStarted = undefined;
      return;
    }
    if (type === "data") return; // a data frame that is not ours (e.g. a "removed" event)
    if (type === "stopped") return noteErrorFrame(s);
  }
  if (isObj(msg) && msg.method === "reconnect") return noteErrorFrame(s);
  noteErrorFrame(s);
  if (!sub.started) {
    sub.onStarted?.(new Error(s.slice(0, 200)));
    sub.onStarted = undefined;
  }
}

function openSub(protocol: ConnectCmd["protocol"], wsUrl: string, roomId: string, token: string, timeoutMs: number): Promise<Sub> {
  return new Promise((resolve, reject) => {
    const url = protocol === "trpc" ? `${wsUrl}?connectionParams=1` : wsUrl;
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
    const room = roomOf(roomId);
    const sub: Sub = { ws, room, lastSeq: 0, open: false, started: false, onStarted: undefined };
    const timer = setTimeout(() => finish(new Error("timed out")), timeoutMs);
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        ws.terminate();
        reject(err);
      } else {
        subs.push(sub);
        subsInRoom[room] = (subsInRoom[room] ?? 0) + 1;
        resolve(sub);
      }
    };
    sub.onStarted = finish;
    ws.on("open", () => {
      sub.open = true;
      if (protocol === "trpc") ws.send(JSON.stringify({ method: "connectionParams", data: { token } }));
      ws.send(JSON.stringify({ id: 1, method: "subscription", params: { path: "room.onMessage", input: { roomId } } }));
    });
    ws.on("message", (data) => onSubFrame(sub, data));
    ws.on("error", (e) => finish(e));
    ws.on("close", (code, reason) => {
      if (sub.open && sub.started) {
        closedSockets++;
        if (errorFrameSamples.length < 5) errorFrameSamples.push(`closed ${code} ${reason.toString()}`);
        const r = sub.room;
        subsInRoom[r] = (subsInRoom[r] ?? 1) - 1;
      }
      sub.open = false;
      finish(new Error(`closed ${code} ${reason.toString()}`));
    });
  });
}

async function connect(cmd: ConnectCmd): Promise<ConnectResult> {
  const start = now();
  const errors: string[] = [];
  let established = 0;
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < cmd.subs.length) {
      const spec = cmd.subs[next++];
      if (!spec) break;
      try {
        await openSub(cmd.protocol, cmd.wsUrl, spec.roomId, spec.token, cmd.timeoutMs);
        established++;
      } catch (e) {
        failed++;
        if (errors.length < 5) errors.push(e instanceof Error ? e.message : String(e));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(cmd.concurrency, cmd.subs.length)) }, worker));
  return { requested: cmd.subs.length, established, failed, elapsedMs: now() - start, errors };
}

// ---- publishers --------------------------------------------------------------------------------

/** A socket that sends tRPC mutations and matches the answers by id. */
class RpcSocket {
  private nextId = 100;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private constructor(private readonly ws: WebSocket) {}

  static open(protocol: ConnectCmd["protocol"], wsUrl: string, token: string): Promise<RpcSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(protocol === "trpc" ? `${wsUrl}?connectionParams=1` : wsUrl, {
        perMessageDeflate: false,
        skipUTF8Validation: true,
      });
      const sock = new RpcSocket(ws);
      ws.on("open", () => {
        if (protocol === "trpc") ws.send(JSON.stringify({ method: "connectionParams", data: { token } }));
        resolve(sock);
      });
      ws.on("error", reject);
      ws.on("message", (data) => sock.onFrame(data.toString()));
      ws.on("close", (code) => {
        for (const w of sock.waiting.values()) w.reject(new Error(`publisher socket closed ${code}`));
        sock.waiting.clear();
      });
    });
  }

  private onFrame(s: string) {
    if (s === "PING") return void this.ws.send("PONG");
    let msg: unknown;
    try {
      msg = JSON.parse(s);
    } catch {
      return;
    }
    if (!isObj(msg) || typeof msg.id !== "number") return;
    const w = this.waiting.get(msg.id);
    if (!w) return;
    this.waiting.delete(msg.id);
    if ("error" in msg) w.reject(new Error(JSON.stringify(msg.error).slice(0, 200)));
    else w.resolve();
  }

  mutation(path: string, input: unknown): Promise<void> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method: "mutation", params: { path, input } }));
    });
  }

  close() {
    this.ws.close();
  }
}

interface Pub {
  room: number;
  roomId: string;
  group?: number;
  send(text: string, clientMsgId: string): Promise<void>;
}

const pubs: Pub[] = [];
const pubsByRoom = new Map<number, Pub[]>();
let padding = "";
let textBytes = 100;
let http: TrpcHttp | undefined;
const rpcSockets: RpcSocket[] = [];

async function setPublishers(cmd: PublishersCmd): Promise<{ publishers: number }> {
  textBytes = cmd.textBytes;
  padding = "x".repeat(textBytes);
  if (cmd.via === "http") http = new TrpcHttp(cmd.httpUrl, cmd.httpSockets);
  for (const spec of cmd.pubs) {
    const room = roomOf(spec.roomId);
    let send: Pub["send"];
    if (cmd.via === "http") {
      const h = http as TrpcHttp;
      send = async (text, clientMsgId) => {
        await h.request("POST", "/trpc/room.send", JSON.stringify({ roomId: spec.roomId, text, clientMsgId }), spec.token);
      };
    } else {
      const sock = await RpcSocket.open(cmd.protocol, cmd.wsUrl, spec.token);
      rpcSockets.push(sock);
      send = (text, clientMsgId) => sock.mutation("room.send", { roomId: spec.roomId, text, clientMsgId });
    }
    const pub: Pub = { room, roomId: spec.roomId, send };
    pubs.push(pub);
    let list = pubsByRoom.get(room);
    if (!list) pubsByRoom.set(room, (list = []));
    list.push(pub);
  }
  return { publishers: pubs.length };
}

let messageNo = 0;

function textFor(phase: number, g: number, t: number): string {
  const head = `b|${phase}|${g}|${t.toFixed(3)}|`;
  return head + padding.slice(0, Math.max(1, textBytes - head.length));
}

// ---- phases -------------------------------------------------------------------------------------

async function run(cmd: RunCmd): Promise<RunResult> {
  if (pubs.length === 0) throw new Error("no publishers");
  const c = counters(cmd.phase);
  const ack = new Histogram();
  latency = new Histogram();
  crossLatency = new Histogram();
  windowDelivered = 0;
  const roomOutstanding = new Map<number, number>();
  const roomCursor = new Map<number, number>();
  let sent = 0;
  let shed = 0;
  let sendOk = 0;
  let sendErrors = 0;
  let expected = 0;
  let inFlight = 0;
  let windowSends = 0;
  let sending = true;
  const sendErrorSamples: string[] = [];
  const closedBefore = closedSockets;
  const errorFramesBefore = errorFrames;

  const t0 = now();
  windowStart = t0 + cmd.warmupMs;
  windowEnd = windowStart + cmd.measureMs;

  let completed = 0;
  const settle = (room: number) => {
    completed++;
    roomOutstanding.set(room, (roomOutstanding.get(room) ?? 1) - 1);
    if (cmd.mode === "closed") refill(room);
  };
  onComplete = settle;

  const send = (pub: Pub, intended: number) => {
    const g = ++messageNo;
    const room = pub.room;
    const local = subsInRoom[room] ?? 0;
    if (local > 0) pending.set(g, { room, remaining: local, t: intended, group: pub.group });
    roomOutstanding.set(room, (roomOutstanding.get(room) ?? 0) + 1);
    sent++;
    inFlight++;
    if (intended >= windowStart && intended < windowEnd) windowSends++;
    const started = now();
    pub.send(textFor(cmd.phase, g, intended), `b${g}`).then(
      () => {
        inFlight--;
        sendOk++;
        expected += local;
        const done = now();
        if (intended >= windowStart && intended < windowEnd) ack.add(done - started);
        if (local === 0) settle(room);
      },
      (err: unknown) => {
        inFlight--;
        sendErrors++;
        if (sendErrorSamples.length < 5) sendErrorSamples.push(err instanceof Error ? err.message : String(err));
        if (pending.delete(g) || local === 0) settle(room);
      },
    );
  };

  const refill = (room: number) => {
    if (!sending) return;
    const list = pubsByRoom.get(room);
    if (!list || list.length === 0) return;
    while ((roomOutstanding.get(room) ?? 0) < cmd.window) {
      const k = roomCursor.get(room) ?? 0;
      roomCursor.set(room, k + 1);
      send(list[k % list.length] as Pub, now());
    }
  };

  let cpuA: ReturnType<typeof sampleCpu> | undefined;
  let cpuB: ReturnType<typeof sampleCpu> | undefined;
  const win: [number, number] = [0, 0];
  const cpuStart = setTimeout(() => {
    cpuA = sampleCpu(cmd.cpu);
    win[0] = mono();
  }, cmd.warmupMs);
  const stopAt = new Promise<void>((resolve) =>
    setTimeout(() => {
      cpuB = sampleCpu(cmd.cpu);
      win[1] = mono();
      sending = false;
      resolve();
    }, cmd.warmupMs + cmd.measureMs),
  );

  if (cmd.mode === "closed") {
    for (const room of pubsByRoom.keys()) refill(room);
  } else {
    const interval = 1000 / cmd.sendRate;
    let k = 0;
    // Completions per second (smoothed): how fast the target is getting through its backlog.
    let rate: number | undefined;
    let rateAt = t0;
    let rateCompleted = 0;
    const tick = () => {
      if (!sending) return;
      const t = now();
      if (t - rateAt >= 200) {
        const inst = ((completed - rateCompleted) * 1000) / (t - rateAt);
        rate = rate === undefined ? inst : 0.5 * rate + 0.5 * inst;
        rateAt = t;
        rateCompleted = completed;
      }
      // Overloaded: the oldest undelivered message is already late, or the backlog would take
      // longer than that to get through at the current pace. Then scheduled sends are skipped.
      const oldest = pending.values().next().value;
      const behind =
        (oldest !== undefined && t - oldest.t > cmd.shedAfterMs) ||
        (rate !== undefined && pending.size > Math.max(1, rate) * (cmd.shedAfterMs / 1000));
      // Every send whose scheduled time has come, stamped with that time.
      while (sending && t0 + k * interval <= t) {
        if (behind) shed++;
        else send(pubs[k % pubs.length] as Pub, t0 + k * interval);
        k++;
      }
      setTimeout(tick, 1);
    };
    tick();
  }

  await stopAt;
  clearTimeout(cpuStart);
  const drainStart = now();
  while ((pending.size > 0 || inFlight > 0) && now() - drainStart < cmd.drainMs) await sleep(10);
  const drainedMs = now() - drainStart;
  const drainTimedOut = pending.size > 0 || inFlight > 0;
  onComplete = () => {};
  pending.clear();
  windowStart = Infinity;
  windowEnd = -Infinity;

  const seconds = cmd.measureMs / 1000;
  const perMessage = cmd.mode === "open" ? averageSubsPerPub() : 0;
  return {
    phase: cmd.phase,
    mode: cmd.mode,
    offeredDelivered: cmd.mode === "open" ? cmd.sendRate * perMessage : 0,
    sendRate: cmd.sendRate,
    measureSeconds: seconds,
    sent,
    sendOk,
    sendErrors,
    sendErrorSamples,
    shed,
    sendsPerSec: windowSends / seconds,
    deliveredPerSec: windowDelivered / seconds,
    expected,
    received: c.received,
    undelivered: Math.max(0, expected - (c.received - c.unexpected)),
    duplicated: c.duplicated,
    unexpected: c.unexpected,
    latency: latency.toJSON(),
    crossLatency: crossLatency.toJSON(),
    ack: ack.toJSON(),
    cpu: cpuA && cpuB ? cpuPercent(cpuA, cpuB, seconds) : {},
    closedSockets: closedSockets - closedBefore,
    errorFrames: errorFrames - errorFramesBefore,
    errorFrameSamples: errorFrameSamples.slice(0, 5),
    drainedMs,
    drainTimedOut,
    window: win,
  };
}

function averageSubsPerPub(): number {
  let n = 0;
  for (const p of pubs) n += subsInRoom[p.room] ?? 0;
  return pubs.length ? n / pubs.length : 0;
}

/** One message to each publisher's room (phase-tagged), for the connections scenario. */
async function publishOnce(phase: number): Promise<PublishOnceResult> {
  counters(phase);
  const errors: string[] = [];
  let ok = 0;
  await Promise.all(
    pubs.map(async (p) => {
      const g = ++messageNo;
      try {
        await p.send(textFor(phase, g, now()), `b${g}`);
        ok++;
      } catch (e) {
        if (errors.length < 5) errors.push(e instanceof Error ? e.message : String(e));
      }
    }),
  );
  return { sent: pubs.length, ok, errors };
}

async function expectDeliveries(cmd: ExpectCmd): Promise<ExpectResult> {
  const c = counters(cmd.phase);
  const start = now();
  const openSubs = () => subs.filter((s) => s.open).length;
  const expected = subs.length * cmd.perSub;
  while (c.received < expected && now() - start < cmd.timeoutMs) await sleep(20);
  return { subs: subs.length, openSubs: openSubs(), received: c.received, expected, duplicated: c.duplicated, elapsedMs: now() - start };
}

// ---- closed-loop request loops (send path, auth, raw argon2) ---------------------------------------

async function opsLoop(
  concurrency: number,
  warmupMs: number,
  measureMs: number,
  cpu: CpuGroup[],
  op: (worker: number) => Promise<void>,
): Promise<OpsResult> {
  const h = new Histogram();
  const t0 = now();
  const wStart = t0 + warmupMs;
  const wEnd = wStart + measureMs;
  let ops = 0;
  let total = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  let cpuA: ReturnType<typeof sampleCpu> | undefined;
  let cpuB: ReturnType<typeof sampleCpu> | undefined;
  const win: [number, number] = [0, 0];
  const ta = setTimeout(() => {
    cpuA = sampleCpu(cpu);
    win[0] = mono();
  }, warmupMs);
  const tb = setTimeout(() => {
    cpuB = sampleCpu(cpu);
    win[1] = mono();
  }, warmupMs + measureMs);
  const worker = async (i: number) => {
    while (now() < wEnd) {
      const s = now();
      try {
        await op(i);
        total++;
        const e = now();
        if (s >= wStart && e < wEnd) {
          ops++;
          h.add(e - s);
        }
      } catch (err) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push(err instanceof Error ? err.message : String(err));
        await sleep(5);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  clearTimeout(ta);
  clearTimeout(tb);
  const seconds = measureMs / 1000;
  return {
    opsPerSec: ops / seconds,
    ops,
    total,
    errors,
    errorSamples,
    latency: h.toJSON(),
    measureSeconds: seconds,
    cpu: cpuA && cpuB ? cpuPercent(cpuA, cpuB, seconds) : {},
    window: win,
  };
}

function sendLoop(cmd: SendLoopCmd): Promise<OpsResult> {
  if (pubs.length === 0) throw new Error("no publishers");
  return opsLoop(cmd.concurrency, cmd.warmupMs, cmd.measureMs, cmd.cpu, async (i) => {
    const g = ++messageNo;
    await (pubs[i % pubs.length] as Pub).send(textFor(0, g, now()), `b${g}`);
  });
}

let failedLoginNo = 0;

function authLoop(cmd: AuthLoopCmd): Promise<OpsResult> {
  const h = new TrpcHttp(cmd.httpUrl, cmd.concurrency);
  const creds = cmd.creds.map((c) => ({ ...c }));
  if (cmd.op === "refresh" && creds.length < cmd.concurrency) throw new Error("refresh needs one session per worker");
  return opsLoop(cmd.concurrency, cmd.warmupMs, cmd.measureMs, cmd.cpu, async (i) => {
    const c = creds[i % creds.length];
    if (!c) throw new Error("no credentials");
    if (cmd.op === "login") {
      await h.request("POST", "/trpc/auth.login", JSON.stringify({ email: c.email, password: c.password }));
    } else if (cmd.op === "login-wrong" || cmd.op === "login-unknown") {
      const email = cmd.op === "login-wrong" ? c.email : `nobody-${process.pid}-${++failedLoginNo}@bench.test`;
      const res = await h.exchange("POST", "/trpc/auth.login", JSON.stringify({ email, password: `not-${c.password}` }));
      if (res.status !== 401) throw new Error(`${cmd.op}: HTTP ${res.status} ${res.text.slice(0, 100)}`);
    } else if (cmd.op === "refresh") {
      const text = await h.request("POST", "/trpc/auth.refresh", JSON.stringify({ refreshToken: c.refreshToken }));
      const m = /"refreshToken":"([^"]+)"/.exec(text);
      if (!m?.[1]) throw new Error(`no refresh token in ${text.slice(0, 100)}`);
      c.refreshToken = m[1];
    } else {
      await h.request("GET", "/trpc/auth.me", undefined, c.accessToken);
    }
  }).finally(() => h.close());
}

async function argon2Loop(cmd: Argon2Cmd): Promise<OpsResult> {
  const options = { type: argon2.argon2id, memoryCost: cmd.memoryCost, timeCost: cmd.timeCost, parallelism: cmd.parallelism };
  const password = "correct horse battery staple";
  const hash = await argon2.hash(password, options);
  return opsLoop(cmd.concurrency, cmd.warmupMs, cmd.measureMs, cmd.cpu, async () => {
    if (!(await argon2.verify(hash, password))) throw new Error("argon2 verify failed");
  });
}

function stats(): StatsResult {
  return {
    openSubs: subs.filter((s) => s.open).length,
    closedSockets,
    errorFrames,
    errorFrameSamples: errorFrameSamples.slice(0, 5),
    rss: rssBytes(process.pid),
  };
}

async function closeAll(): Promise<{ closed: number }> {
  await abuse?.stop();
  for (const s of subs) s.ws.terminate();
  for (const r of rpcSockets) r.close();
  http?.close();
  return { closed: subs.length };
}

// ---- IPC ----------------------------------------------------------------------------------------

let abuse: Abuse | undefined;
let victim: Victim | undefined;
let catcher: Catcher | undefined;
let storm: Storm | undefined;

function theStorm(): Storm {
  if (!storm) throw new Error("stormStart first");
  return storm;
}

async function handle(req: GenRequest): Promise<unknown> {
  switch (req.cmd) {
    case "stormStart":
      if (storm) throw new Error("a storm is already set up");
      storm = new Storm(req.spec);
      return storm.connect();
    case "stormPublish":
      theStorm().startPublishing();
      return { publishing: true };
    case "stormMark":
      theStorm().setMark(req.at);
      return { marked: true };
    case "stormStatus":
      return theStorm().status();
    case "stormStop": {
      const s = theStorm();
      await s.stopPublishing();
      const final = await s.drain(req.drainMs);
      s.close();
      storm = undefined;
      return final;
    }
    case "catchupStart":
      if (catcher) throw new Error("catch-ups are already running");
      catcher = new Catcher(req.spec);
      catcher.start();
      return { started: true };
    case "catchupStop": {
      if (!catcher) throw new Error("no catch-ups running");
      const runs = await catcher.stop();
      catcher = undefined;
      return runs;
    }
    case "abuseStart":
      if (abuse) throw new Error("the abuse is already running");
      abuse = new Abuse(req.spec);
      await abuse.start();
      return { started: true };
    case "abuseStop": {
      if (!abuse) throw new Error("no abuse running");
      const report = await abuse.stop();
      abuse = undefined;
      return report;
    }
    case "victimSubscribe":
      victim = new Victim(req.spec);
      await victim.subscribe();
      return { subscribed: true };
    case "victimRun": {
      if (!victim) throw new Error("victimSubscribe first");
      const v = victim;
      victim = undefined;
      return v.run();
    }
    case "connect":
      return connect(req);
    case "publishers":
      return setPublishers(req);
    case "dropLast": {
      // Closes the subscriber opened last, as if it had never been opened (not a lost socket).
      const last = subs.pop();
      if (!last) throw new Error("no subscriber to drop");
      last.open = false;
      subsInRoom[last.room] = (subsInRoom[last.room] ?? 1) - 1;
      last.ws.close();
      return { dropped: true };
    }
    case "tag": {
      // The socket opened last (connect or publishers with one socket) reached this server process.
      const last = req.what === "sub" ? subs[subs.length - 1] : pubs[pubs.length - 1];
      if (!last) throw new Error(`no ${req.what} to tag`);
      last.group = req.group;
      return { tagged: true };
    }
    case "run":
      return run(req);
    case "publishOnce":
      return publishOnce(req.phase);
    case "expect":
      return expectDeliveries(req);
    case "sendLoop":
      return sendLoop(req);
    case "authLoop":
      return authLoop(req);
    case "argon2":
      return argon2Loop(req);
    case "stats":
      return { ...stats(), duplicatedOutsidePhase };
    case "close":
      storm?.close();
      return closeAll();
  }
}

process.on("message", (raw: unknown) => {
  const req = raw as GenRequest;
  handle(req).then(
    (result) => process.send?.({ reqId: req.reqId, ok: true, result } satisfies GenReply),
    (err: unknown) =>
      process.send?.({ reqId: req.reqId, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies GenReply),
  );
});
process.on("disconnect", () => process.exit(0));
process.send?.({ reqId: 0, ok: true, result: "ready" } satisfies GenReply);
