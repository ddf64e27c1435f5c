import type { AbuseSpec } from "./abuse.js";
import type { CatchupSpec } from "./catchup-client.js";
import type { StormSpec } from "./storm-client.js";
import type { HistogramJSON } from "./histogram.js";
import type { CpuGroup } from "./proc.js";
import type { VictimSpec } from "./victim.js";

/**
 * The messages between the orchestrator (run.ts) and a load-generator process (generator.ts),
 * over the child_process IPC channel. Every command carries a reqId; the generator answers once
 * with { reqId, ok, result | error }.
 */

/** "trpc": the server's real tRPC WebSocket protocol; "baseline": the bare ws broadcast server. */
export type Protocol = "trpc" | "baseline";

export interface SubSpec {
  roomId: string;
  /** Access token for tRPC's connectionParams; empty for the baseline. */
  token: string;
}

export interface PubSpec {
  roomId: string;
  token: string;
}

export interface ConnectCmd {
  cmd: "connect";
  protocol: Protocol;
  /** ws://host:port/path (the generator adds ?connectionParams=1 for tRPC). */
  wsUrl: string;
  subs: SubSpec[];
  concurrency: number;
  timeoutMs: number;
}

export interface ConnectResult {
  requested: number;
  established: number;
  failed: number;
  /** From the first connect to the last subscription confirmed. */
  elapsedMs: number;
  errors: string[];
}

export interface PublishersCmd {
  cmd: "publishers";
  protocol: Protocol;
  /** "http": POST /trpc/room.send (the README recipe); "ws": mutations over a socket. */
  via: "http" | "ws";
  httpUrl: string;
  wsUrl: string;
  pubs: PubSpec[];
  /** Characters of message text. */
  textBytes: number;
  /** Sockets in the HTTP keep-alive pool. */
  httpSockets: number;
}

export interface RunCmd {
  cmd: "run";
  phase: number;
  /** closed: at most `window` undelivered messages per room; open: a fixed send rate. */
  mode: "closed" | "open";
  window: number;
  /** Sends per second over all rooms (open mode). */
  sendRate: number;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
  /**
   * Open mode: a scheduled send is skipped (shed) while the oldest undelivered message is older
   * than this, so an overloaded step cannot build an unbounded backlog.
   */
  shedAfterMs: number;
  cpu: CpuGroup[];
}

export interface RunResult {
  phase: number;
  mode: "closed" | "open";
  /** Offered load in delivered messages per second (open mode): sendRate × subscribers per message. */
  offeredDelivered: number;
  sendRate: number;
  measureSeconds: number;
  /** Sends issued and acknowledged (or written, for fire-and-forget) in the whole phase. */
  sent: number;
  sendOk: number;
  sendErrors: number;
  sendErrorSamples: string[];
  /** Scheduled sends skipped because the target was too far behind (open mode): overload. */
  shed: number;
  /** Sends issued in the measurement window, per second. */
  sendsPerSec: number;
  /** Deliveries received in the measurement window, per second. */
  deliveredPerSec: number;
  /** Deliveries expected in the whole phase (acknowledged sends × subscribers of the room). */
  expected: number;
  received: number;
  undelivered: number;
  duplicated: number;
  /** Deliveries of a message whose send was not acknowledged. */
  unexpected: number;
  /** Latency (receive − intended send time) of messages sent in the measurement window. */
  latency: HistogramJSON;
  /** The same, only deliveries whose publisher and subscriber sockets were tagged with different server processes. */
  crossLatency: HistogramJSON;
  /** Acknowledgement latency of sends in the window. */
  ack: HistogramJSON;
  cpu: Record<string, number>;
  closedSockets: number;
  errorFrames: number;
  errorFrameSamples: string[];
  drainedMs: number;
  drainTimedOut: boolean;
  /** The measurement window on CLOCK_MONOTONIC, µs (to cut CPU profiles to it). */
  window: [number, number];
}

export interface ExpectCmd {
  cmd: "expect";
  phase: number;
  /** Messages each subscriber should receive in this phase. */
  perSub: number;
  timeoutMs: number;
}

export interface ExpectResult {
  subs: number;
  openSubs: number;
  received: number;
  expected: number;
  duplicated: number;
  elapsedMs: number;
}

export interface PublishOnceCmd {
  cmd: "publishOnce";
  phase: number;
  /** One message to each publisher's room. */
}

export interface PublishOnceResult {
  sent: number;
  ok: number;
  errors: string[];
}

export interface SendLoopCmd {
  cmd: "sendLoop";
  concurrency: number;
  warmupMs: number;
  measureMs: number;
  cpu: CpuGroup[];
}

export interface OpsResult {
  opsPerSec: number;
  /** Successful operations inside the measurement window. */
  ops: number;
  /** Successful operations over the whole loop, warm-up included. */
  total: number;
  errors: number;
  errorSamples: string[];
  latency: HistogramJSON;
  measureSeconds: number;
  cpu: Record<string, number>;
  window: [number, number];
}

/** login-wrong / login-unknown: failed logins (a wrong password; an email nobody has), each a 401. */
export type AuthOp = "login" | "refresh" | "me" | "login-wrong" | "login-unknown";

export interface AuthLoopCmd {
  cmd: "authLoop";
  op: AuthOp;
  httpUrl: string;
  concurrency: number;
  warmupMs: number;
  measureMs: number;
  creds: { email: string; password: string; refreshToken: string; accessToken: string }[];
  cpu: CpuGroup[];
}

export interface Argon2Cmd {
  cmd: "argon2";
  concurrency: number;
  memoryCost: number;
  timeCost: number;
  parallelism: number;
  warmupMs: number;
  measureMs: number;
  cpu: CpuGroup[];
}

export interface StatsCmd {
  cmd: "stats";
}

export interface StatsResult {
  openSubs: number;
  closedSockets: number;
  errorFrames: number;
  errorFrameSamples: string[];
  rss: number;
}

/** Tags the subscriber or publisher socket opened last with the server process it reached (split scenario). */
export interface TagCmd {
  cmd: "tag";
  what: "sub" | "pub";
  group: number;
}

/** Closes the subscriber socket opened last and forgets it (split scenario: it reached a replica that had its share). */
export interface DropLastCmd {
  cmd: "dropLast";
}

export interface CloseCmd {
  cmd: "close";
}

/** Starts the fairness scenario's abusers (abuse.ts); they run until abuseStop. */
export interface AbuseStartCmd {
  cmd: "abuseStart";
  spec: AbuseSpec;
}

/** Stops the abusers; answers with their AbuseReport. */
export interface AbuseStopCmd {
  cmd: "abuseStop";
}

/** The fairness scenario's victim (victim.ts): opens its live subscription, and answers once it has started. */
export interface VictimSubscribeCmd {
  cmd: "victimSubscribe";
  spec: VictimSpec;
}

/** Runs the subscribed victim's rounds; answers with a VictimResult. */
export interface VictimRunCmd {
  cmd: "victimRun";
}

/** Starts catch-ups (catchup-client.ts) over the spec's rooms in turn, until catchupStop. */
export interface CatchupStartCmd {
  cmd: "catchupStart";
  spec: CatchupSpec;
}

/** Stops the catch-ups once the one under way is done; answers with every CatchupRun. */
export interface CatchupStopCmd {
  cmd: "catchupStop";
}

/** The reconnect storm (storm-client.ts): connect the subscribers; answers { established, failed }. */
export interface StormStartCmd {
  cmd: "stormStart";
  spec: StormSpec;
}
/** publish: start sending; mark: time resumes from `at` (epoch ms); status: a StormStatus; stop: stop sending, drain, close (a StormFinal). */
export interface StormPublishCmd {
  cmd: "stormPublish";
}
export interface StormMarkCmd {
  cmd: "stormMark";
  at: number;
}
export interface StormStatusCmd {
  cmd: "stormStatus";
}
export interface StormStopCmd {
  cmd: "stormStop";
  drainMs: number;
}

export type GenCommand =
  | StormStartCmd
  | StormPublishCmd
  | StormMarkCmd
  | StormStatusCmd
  | StormStopCmd
  | CatchupStartCmd
  | CatchupStopCmd
  | AbuseStartCmd
  | AbuseStopCmd
  | VictimSubscribeCmd
  | VictimRunCmd
  | ConnectCmd
  | PublishersCmd
  | RunCmd
  | ExpectCmd
  | PublishOnceCmd
  | SendLoopCmd
  | AuthLoopCmd
  | Argon2Cmd
  | StatsCmd
  | TagCmd
  | DropLastCmd
  | CloseCmd;

export type GenRequest = GenCommand & { reqId: number };

export type GenReply = { reqId: number; ok: true; result: unknown } | { reqId: number; ok: false; error: string };
