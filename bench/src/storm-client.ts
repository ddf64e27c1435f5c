/**
 * The reconnect storm's clients, in a load-generator process: subscribed tRPC sockets that, like
 * tRPC's wsLink, reconnect when their socket closes and resume room.onMessage from the last seq
 * they saw (lastEventId); and a publisher sending to this process's rooms over HTTP, retrying a
 * failed send with the same clientMsgId (so a send is stored once however often it is tried).
 *
 * Each subscriber checks its room's stream is gap-free and has no duplicate. After a restart, a
 * subscriber has *resumed* when its new subscription starts, and has *caught up* when it holds
 * every message its room had acknowledged at the moment it resumed.
 */
import WebSocket from "ws";
import { TrpcHttp } from "./http.js";
import { sleep } from "./util.js";

export interface StormSpec {
  /** ws://host:port/trpc */
  wsUrl: string;
  httpUrl: string;
  subs: { roomId: string; token: string }[];
  /** One publisher per room (a member's token). */
  pubs: { roomId: string; token: string }[];
  /** Sends per second over this process's rooms. */
  sendRate: number;
  /** Reconnect delay: "fixed" = retryMs ±50% each attempt; "wslink" = tRPC wsLink's default (0, 2, 4, 8 … s, at most 30 s). */
  retry: "fixed" | "wslink";
  retryMs: number;
  connectConcurrency: number;
  timeoutMs: number;
}

interface StormSub {
  roomId: string;
  token: string;
  ws: WebSocket | undefined;
  lastSeq: number;
  started: boolean;
  /** Subscription starts (the first one and every resume). */
  starts: number;
  attempts: number;
  /** Since the mark: when it resumed and caught up (epoch ms). */
  resumedAt: number | undefined;
  needSeq: number | undefined;
  caughtUpAt: number | undefined;
  gaps: number;
  duplicated: number;
  /** Its live subscription's socket closed after the mark (the failover scenario counts these). */
  dropped: boolean;
}

export interface StormStatus {
  subs: number;
  /** Subscriptions live now. */
  live: number;
  /** Subscriptions whose socket closed after the mark. */
  dropped: number;
  /** Resumed and caught up since the mark. */
  resumed: number;
  caughtUp: number;
  /** The last of them, ms after the mark. */
  lastResumedMs: number | undefined;
  lastCaughtUpMs: number | undefined;
  /** Connection attempts since the mark (failed ones included). */
  attempts: number;
  gaps: number;
  duplicated: number;
  closes: Record<string, number>;
  errors: string[];
  /** longestAttemptMs: the longest a single send attempt took to succeed or fail (a hang shows here). */
  sends: { ok: number; retried: number; failedForGood: number; longestAttemptMs: number };
}

export interface StormFinal extends StormStatus {
  /** Subscribers holding every acknowledged message of their room (of `subs`), after the drain. */
  complete: number;
  /** Acknowledged deliveries missing after the drain. */
  missing: number;
}

const now = () => performance.timeOrigin + performance.now();

export class Storm {
  private readonly subs: StormSub[];
  private readonly acked = new Map<string, number>();
  private readonly http: TrpcHttp;
  private mark = 0;
  private closed = false;
  private publishing = false;
  private publisher: Promise<void> | undefined;
  private readonly closes: Record<string, number> = {};
  private readonly errors: string[] = [];
  private readonly sends = { ok: 0, retried: 0, failedForGood: 0, longestAttemptMs: 0 };
  private msgNo = 0;

  constructor(private readonly spec: StormSpec) {
    this.subs = spec.subs.map((s) => ({
      ...s,
      ws: undefined,
      lastSeq: 0,
      started: false,
      starts: 0,
      attempts: 0,
      resumedAt: undefined,
      needSeq: undefined,
      caughtUpAt: undefined,
      gaps: 0,
      duplicated: 0,
      dropped: false,
    }));
    for (const p of spec.pubs) this.acked.set(p.roomId, 0);
    this.http = new TrpcHttp(spec.httpUrl, 16, 30_000);
  }

  private error(text: string) {
    if (this.errors.length < 10) this.errors.push(text.slice(0, 300));
  }

  private retryDelay(failures: number): number {
    // @trpc/client's exponentialBackoff: 0 for the first attempt, then 2, 4, 8 … s, at most 30 s.
    if (this.spec.retry === "wslink") return failures === 0 ? 0 : Math.min(1000 * 2 ** failures, 30_000);
    return this.spec.retryMs * (0.5 + Math.random());
  }

  /** Opens (or reopens) one subscriber's socket; resolves when its subscription started, or it closed. */
  private open(sub: StormSub): Promise<boolean> {
    sub.attempts++;
    return new Promise<boolean>((resolve) => {
      const ws = new WebSocket(`${this.spec.wsUrl}?connectionParams=1`, { perMessageDeflate: false });
      sub.ws = ws;
      let settled = false;
      let wasStarted = false;
      // A socket that opens but never starts its subscription counts as a failed attempt.
      const hung = setTimeout(() => ws.terminate(), this.spec.timeoutMs);
      const settle = (ok: boolean) => {
        clearTimeout(hung);
        if (!settled) {
          settled = true;
          resolve(ok);
        }
      };
      ws.on("open", () => {
        ws.send(JSON.stringify({ method: "connectionParams", data: { token: sub.token } }));
        const input = sub.lastSeq > 0 ? { roomId: sub.roomId, lastEventId: String(sub.lastSeq) } : { roomId: sub.roomId };
        ws.send(JSON.stringify({ id: 1, method: "subscription", params: { path: "room.onMessage", input } }));
      });
      ws.on("message", (data) => {
        const s = data.toString();
        if (s === "PING") return void ws.send("PONG");
        if (s.includes('"type":"started"')) {
          sub.started = true;
          wasStarted = true;
          sub.starts++;
          if (this.mark && sub.resumedAt === undefined) {
            sub.resumedAt = now();
            sub.needSeq = this.acked.get(sub.roomId) ?? 0;
            if (sub.lastSeq >= sub.needSeq) sub.caughtUpAt = sub.resumedAt;
          }
          return settle(true);
        }
        let frame: { result?: { type?: string; data?: { data?: { type?: string; message?: { seq?: number } } } }; error?: unknown };
        try {
          frame = JSON.parse(s) as typeof frame;
        } catch {
          return this.error(`not JSON: ${s.slice(0, 100)}`);
        }
        if (frame.error) return this.error(`error frame: ${s}`);
        const ev = frame.result?.type === "data" ? frame.result.data?.data : undefined;
        if (ev?.type !== "message" || typeof ev.message?.seq !== "number") return;
        const seq = ev.message.seq;
        if (seq <= sub.lastSeq) sub.duplicated++;
        else {
          if (sub.lastSeq > 0 && seq !== sub.lastSeq + 1) sub.gaps += seq - sub.lastSeq - 1;
          sub.lastSeq = seq;
        }
        if (sub.needSeq !== undefined && sub.caughtUpAt === undefined && sub.lastSeq >= sub.needSeq) sub.caughtUpAt = now();
      });
      ws.on("close", (code) => {
        const k = String(code);
        this.closes[k] = (this.closes[k] ?? 0) + 1;
        if (this.mark && wasStarted) sub.dropped = true;
        sub.started = false;
        settle(false);
        // A live subscription that drops reconnects; a failed attempt is retried by reconnect()'s loop.
        if (!this.closed && sub.ws === ws && wasStarted) void this.reconnect(sub);
      });
      ws.on("error", () => undefined);
    });
  }

  private async reconnect(sub: StormSub): Promise<void> {
    for (let failures = 0; !this.closed; failures++) {
      await sleep(this.retryDelay(failures));
      if (this.closed) return;
      // Once started, a later close reconnects by itself (its close handler).
      if (await this.open(sub)) return;
    }
  }

  /** The first connections (before the storm): all subscribed, or an error. */
  async connect(): Promise<{ established: number; failed: number }> {
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < this.subs.length) {
        const sub = this.subs[next++] as StormSub;
        if (!(await this.open(sub))) failed++;
      }
    };
    await Promise.all(Array.from({ length: this.spec.connectConcurrency }, worker));
    return { established: this.subs.length - failed, failed };
  }

  /** Sends at sendRate to the rooms in turn until stopPublishing; a failed send is retried with its clientMsgId. */
  startPublishing(): void {
    this.publishing = true;
    const pubs = this.spec.pubs;
    const interval = 1000 / Math.max(1, this.spec.sendRate);
    this.publisher = (async () => {
      const inFlight = new Set<Promise<void>>();
      let t = performance.now();
      let i = 0;
      while (this.publishing) {
        const pub = pubs[i++ % pubs.length] as { roomId: string; token: string };
        const id = `storm-${process.pid}-${++this.msgNo}`;
        const p = this.sendOnce(pub, id).finally(() => inFlight.delete(p));
        inFlight.add(p);
        t += interval;
        const wait = t - performance.now();
        if (wait > 0) await sleep(wait);
      }
      await Promise.all(inFlight);
    })();
  }

  private async sendOnce(pub: { roomId: string; token: string }, clientMsgId: string): Promise<void> {
    const body = { roomId: pub.roomId, text: `storm ${clientMsgId}`, clientMsgId };
    for (let attempt = 0; attempt < 200; attempt++) {
      const t = performance.now();
      const took = () => (this.sends.longestAttemptMs = Math.max(this.sends.longestAttemptMs, performance.now() - t));
      try {
        const m = await this.http.mutation<{ seq: number }>("room.send", body, pub.token);
        took();
        this.acked.set(pub.roomId, Math.max(this.acked.get(pub.roomId) ?? 0, m.seq));
        this.sends.ok++;
        return;
      } catch {
        took();
        // The server is restarting: the same clientMsgId again shortly (it is stored once).
        this.sends.retried++;
        await sleep(100 + Math.random() * 100);
      }
    }
    this.sends.failedForGood++;
  }

  async stopPublishing(): Promise<void> {
    this.publishing = false;
    await this.publisher;
  }

  /** From now on, resumes and catch-ups are timed from `at` (epoch ms: when the server went down). */
  setMark(at: number): void {
    this.mark = at;
    for (const s of this.subs) {
      s.resumedAt = undefined;
      s.needSeq = undefined;
      s.caughtUpAt = undefined;
      s.attempts = 0;
      s.dropped = false;
    }
  }

  status(): StormStatus {
    let resumed = 0;
    let caughtUp = 0;
    let lastR: number | undefined;
    let lastC: number | undefined;
    for (const s of this.subs) {
      if (s.resumedAt !== undefined) {
        resumed++;
        lastR = Math.max(lastR ?? 0, s.resumedAt - this.mark);
      }
      if (s.caughtUpAt !== undefined) {
        caughtUp++;
        lastC = Math.max(lastC ?? 0, s.caughtUpAt - this.mark);
      }
    }
    return {
      subs: this.subs.length,
      live: this.subs.filter((s) => s.started).length,
      dropped: this.subs.filter((s) => s.dropped).length,
      resumed,
      caughtUp,
      lastResumedMs: lastR,
      lastCaughtUpMs: lastC,
      attempts: this.subs.reduce((n, s) => n + s.attempts, 0),
      gaps: this.subs.reduce((n, s) => n + s.gaps, 0),
      duplicated: this.subs.reduce((n, s) => n + s.duplicated, 0),
      closes: { ...this.closes },
      errors: [...this.errors],
      sends: { ...this.sends },
    };
  }

  /** Waits (up to timeoutMs) for every subscriber to hold its room's last acknowledged message. */
  async drain(timeoutMs: number): Promise<StormFinal> {
    const done = () => this.subs.filter((s) => s.lastSeq >= (this.acked.get(s.roomId) ?? 0)).length;
    const deadline = performance.now() + timeoutMs;
    while (done() < this.subs.length && performance.now() < deadline) await sleep(50);
    const missing = this.subs.reduce((n, s) => n + s.gaps + Math.max(0, (this.acked.get(s.roomId) ?? 0) - s.lastSeq), 0);
    return { ...this.status(), complete: done(), missing };
  }

  close(): void {
    this.closed = true;
    this.publishing = false;
    for (const s of this.subs) s.ws?.terminate();
    this.http.close();
  }
}
