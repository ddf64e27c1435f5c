/**
 * The victim of the fairness scenario: an ordinary signed-in user who, one request at a time,
 * asks who they are (auth.me), sends a message to their room (room.send over HTTP) and checks the
 * server's health (GET /healthz), while a live subscription of theirs checks that every message
 * they sent arrives exactly once, in order. Runs in a load-generator process.
 */
import WebSocket from "ws";
import { Histogram, type HistogramJSON } from "./histogram.js";
import { TrpcHttp } from "./http.js";
import { sleep } from "./util.js";

export const VICTIM_OPS = ["auth.me", "room.send", "healthz"] as const;
export type VictimOp = (typeof VICTIM_OPS)[number];

export interface VictimSpec {
  httpUrl: string;
  /** ws://host:port (no path). */
  wsBase: string;
  token: string;
  roomId: string;
  /** Tags this phase's messages ("idle", "abuse"). */
  phase: string;
  /**
   * The X-Forwarded-For of each operation and of the subscription: one address each, so that the
   * victim's own per-address budget (RATE_LIMIT_PER_IP) is never what is measured.
   */
  addresses: Record<VictimOp | "subscribe", string>;
  /** Rounds of the three operations. */
  samples: number;
  /** Start-to-start interval of the rounds (a person, not a load generator). */
  paceMs: number;
  /** The phase ends after this long even if fewer rounds were done (an abuse that stalls the server). */
  maxMs: number;
}

export interface VictimResult {
  phase: string;
  /** Rounds done (fewer than asked when maxMs ran out). */
  rounds: number;
  latency: Record<VictimOp, HistogramJSON>;
  /** Answers other than 200 (a 429 or a 5xx is a failure of fairness), by operation. */
  failures: Record<VictimOp, number>;
  failureSamples: string[];
  /** Requests sent again because the reused keep-alive connection was reset under them. */
  retries: number;
  /** room.send calls acknowledged, and what the victim's live subscription made of them. */
  acked: number;
  delivery: { received: number; missing: number; duplicated: number; outOfOrder: number };
  seconds: number;
}

const TRACKED = '"result":{"type":"data","id":"';

/** A victim phase: subscribe() (before the abuse starts, so the subscription is certain to be there), then run(). */
export class Victim {
  private readonly http: TrpcHttp;
  private readonly latency = { "auth.me": new Histogram(), "room.send": new Histogram(), healthz: new Histogram() };
  private readonly failures: Record<VictimOp, number> = { "auth.me": 0, "room.send": 0, healthz: 0 };
  private readonly failureSamples: string[] = [];
  private readonly ackedSeqs: number[] = [];
  private readonly received: number[] = [];
  private readonly marker: string;
  private ws: WebSocket | undefined;
  private closed: string | undefined;
  private retries = 0;

  constructor(private readonly spec: VictimSpec) {
    // A victim's call is slow, never abandoned: the probe waits as long as a patient person.
    this.http = new TrpcHttp(spec.httpUrl, 4, 180_000);
    this.marker = `victim ${spec.phase} `;
  }

  private fail(text: string) {
    if (this.failureSamples.length < 10) this.failureSamples.push(text.slice(0, 300));
  }

  /** The live subscription to the victim's room, from the live edge; resolves once it has started. */
  subscribe(): Promise<void> {
    const { spec } = this;
    const ws = new WebSocket(`${spec.wsBase}/trpc?connectionParams=1`, { headers: { "X-Forwarded-For": spec.addresses.subscribe }, perMessageDeflate: false });
    this.ws = ws;
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("the victim's subscription did not start within 30 s")), 30_000);
      ws.on("open", () => {
        ws.send(JSON.stringify({ method: "connectionParams", data: { token: spec.token } }));
        ws.send(JSON.stringify({ id: 1, method: "subscription", params: { path: "room.onMessage", input: { roomId: spec.roomId } } }));
      });
      ws.on("message", (data) => {
        const s = data.toString();
        if (s === "PING") return void ws.send("PONG");
        if (s.includes('"type":"started"')) {
          clearTimeout(t);
          resolve();
        } else if (s.includes(this.marker)) {
          const i = s.indexOf(TRACKED);
          if (i !== -1) this.received.push(parseInt(s.slice(i + TRACKED.length, i + TRACKED.length + 12), 10));
        } else if (s.includes('"error"')) {
          this.fail(`subscription: ${s}`);
        }
      });
      ws.on("unexpected-response", (_req, res) => reject(new Error(`the victim's subscription was refused ${res.statusCode}`)));
      ws.on("close", (code, reason) => (this.closed = `${code} ${reason.toString()}`));
      ws.on("error", (e) => reject(e));
    });
  }

  private async timed(op: VictimOp, call: () => Promise<{ status: number; text: string }>): Promise<string | undefined> {
    const t0 = performance.now();
    let res: { status: number; text: string };
    try {
      try {
        res = await call();
      } catch (e) {
        // A keep-alive connection the server closed as this request went out: try once more, as
        // browsers do (room.send carries a clientMsgId, so it is never stored twice).
        if (!(e as { retryable?: boolean }).retryable) throw e;
        this.retries++;
        res = await call();
      }
    } catch (e) {
      this.failures[op]++;
      this.fail(`${op}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
    this.latency[op].add(performance.now() - t0);
    if (res.status !== 200) {
      this.failures[op]++;
      this.fail(`${op}: ${res.status} ${res.text}`);
      return undefined;
    }
    return res.text;
  }

  /** The rounds, then a wait for the subscription to deliver every acknowledged message; closes everything. */
  async run(): Promise<VictimResult> {
    const { spec } = this;
    const auth = { Authorization: `Bearer ${spec.token}` };
    const t0 = performance.now();
    let rounds = 0;
    for (let i = 0; i < spec.samples && performance.now() - t0 < spec.maxMs; i++) {
      rounds++;
      const round = performance.now();
      await this.timed("auth.me", () => this.http.exchange("GET", "/trpc/auth.me", undefined, { ...auth, "X-Forwarded-For": spec.addresses["auth.me"] }));
      const body = JSON.stringify({ roomId: spec.roomId, text: `${this.marker}${i}`, clientMsgId: `v-${spec.phase}-${i}` });
      const sent = await this.timed("room.send", () => this.http.exchange("POST", "/trpc/room.send", body, { ...auth, "X-Forwarded-For": spec.addresses["room.send"] }));
      const seq = sent === undefined ? NaN : parseInt(sent.slice(sent.indexOf('"seq":') + 6), 10);
      if (Number.isFinite(seq)) this.ackedSeqs.push(seq);
      await this.timed("healthz", () => this.http.exchange("GET", "/healthz", undefined, { "X-Forwarded-For": spec.addresses.healthz }));
      const wait = spec.paceMs - (performance.now() - round);
      if (wait > 0) await sleep(wait);
    }
    const seconds = (performance.now() - t0) / 1000;

    // Every acknowledged message must reach the subscription: wait for stragglers, then count.
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline && this.closed === undefined && !this.ackedSeqs.every((s) => this.received.includes(s))) await sleep(20);
    this.ws?.terminate();
    this.http.close();
    if (this.closed !== undefined) this.fail(`subscription closed ${this.closed}`);

    const seen = new Set<number>();
    let duplicated = 0;
    let outOfOrder = 0;
    this.received.forEach((s, i) => {
      if (seen.has(s)) duplicated++;
      seen.add(s);
      if (i > 0 && s <= (this.received[i - 1] as number)) outOfOrder++;
    });
    const l = this.latency;
    return {
      phase: spec.phase,
      rounds,
      latency: { "auth.me": l["auth.me"].toJSON(), "room.send": l["room.send"].toJSON(), healthz: l.healthz.toJSON() },
      failures: this.failures,
      failureSamples: this.failureSamples,
      retries: this.retries,
      acked: this.ackedSeqs.length,
      delivery: { received: this.received.length, missing: this.ackedSeqs.filter((s) => !seen.has(s)).length, duplicated, outOfOrder },
      seconds,
    };
  }
}
