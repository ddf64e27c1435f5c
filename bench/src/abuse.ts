/**
 * The abuse of the fairness scenario, run inside a load-generator process (never in the server's
 * process, so that the abusers' own work does not count as the server's): one signed-in user and
 * one anonymous client each doing the worst they can within their limits over every transport,
 * and going on after they are refused, as an attacker does. Everything is counted, nothing judged.
 */
import WebSocket from "ws";
import { TrpcHttp } from "./http.js";
import { sleep } from "./util.js";

export interface AbuseShape {
  /** Closed loops of HTTP batches of `batchCalls` calls (room.list and room.history, alternating). */
  batchLoops: number;
  batchCalls: number;
  /** tRPC sockets, each with `subsPerSocket` subscriptions replaying the big room from seq 0, renewed when done. */
  replaySockets: number;
  subsPerSocket: number;
  /** The rest of the user's abusers start once the replays were answered and deliver, or after this long at most. */
  replayHeadStartMs: number;
  /** tRPC sockets each keeping `inFlightPerSocket` room.list calls outstanding. */
  inFlightSockets: number;
  inFlightPerSocket: number;
  /** Legacy sockets sending frames as fast as TCP takes them (they join once the others were refused, or after legacyAfterMs). */
  legacySockets: number;
  legacyAfterMs: number;
  /** More tRPC sockets of the user, opened after the others: past MAX_CONNECTIONS_PER_USER they are closed, and reopened. */
  extraSockets: number;
  /** Anonymous HTTP loops: registrations, and batches of failed logins. */
  anonHttpLoops: number;
  /** Anonymous tRPC sockets sending garbage frames, reopened when closed. */
  anonSockets: number;
}

export interface AbuseSpec {
  httpUrl: string;
  /** ws://host:port (no path). */
  wsBase: string;
  user: {
    token: string;
    /** X-Forwarded-For addresses the user's requests and sockets come from, in turn. */
    addresses: string[];
    bigRoomId: string;
    /** The big room's last seq: a replay from 0 is complete when it arrives. */
    bigRoomLastSeq: number;
    legacyRoomId: string;
  };
  anon: { address: string };
  shape: AbuseShape;
}

export interface AbuseReport {
  /** Counters by name (see the keys in abuse.ts), e.g. "batch.calls.429", "socket.close.4429". */
  counts: Record<string, number>;
  /** A few unexpected answers, for the log. */
  samples: string[];
  seconds: number;
}

/** Garbage an anonymous client throws at the tRPC socket: not JSON, wrong shapes, a long array. */
function garbageFrames(): string[] {
  const logins = Array.from({ length: 40 }, (_, i) => ({ id: i + 1, method: "mutation", params: { path: "auth.login", input: { email: `x${i}@example.test`, password: "wrong-password" } } }));
  return [
    "not json at all",
    "{",
    '{"id":1,"method":"query","params":{"path":"no.such.procedure"}}',
    '{"id":2,"method":"subscription","params":{"path":"room.onMessage","input":{"roomId":"AAAAAAAAAAAAAAAA"}}}',
    JSON.stringify(logins),
    JSON.stringify({ id: 3, method: "query", params: { path: "auth.me", input: { pad: "x".repeat(16_000) } } }),
    "[" + "1,".repeat(4000) + "1]",
    '{"method":"connectionParams","data":{"token":"not.a.token"}}',
  ];
}

export class Abuse {
  readonly counts: Record<string, number> = {};
  readonly samples: string[] = [];
  private stopped = false;
  private readonly sockets = new Set<WebSocket>();
  private readonly loops: Promise<void>[] = [];
  private readonly http: TrpcHttp;
  private started = 0;
  /** Legacy sockets flood once this is set; their pumps, to start them then. */
  private flooding = false;
  private readonly pumps = new Set<() => void>();
  private addressTurn = 0;
  private replayTurn = 0;

  constructor(private readonly spec: AbuseSpec) {
    this.http = new TrpcHttp(spec.httpUrl, 128);
  }

  /**
   * Starts every abuser. The replaying subscriptions go first, and the rest of the user's abusers
   * (batches, calls in flight, extra sockets, the legacy sockets) once those subscriptions were
   * answered and replay events flow (or `replayHeadStartMs` passed, a bound for a server that
   * never answers): the user's request budget is shared, and the batches spend it in a few
   * milliseconds, so started at once they would decide by the machine's pace whether any replay
   * ever runs. The anonymous client starts at once (its budget is its own). The sockets past the
   * user's connection cap open a little after the others, so that they are the ones the cap
   * closes. The legacy sockets open with the others but flood last: the flood stalls the server
   * (see RELIABILITY.md, "Concurrency and fairness"), so it waits until every other abuser has
   * been refused at its cap at least once (or `legacyAfterMs` passed), which keeps those refusals
   * certain to be counted. Resolves once every abuser runs.
   */
  async start(): Promise<void> {
    const s = this.spec.shape;
    this.started = performance.now();
    const c = (k: string) => this.counts[k] ?? 0;
    for (let i = 0; i < s.anonHttpLoops; i++) this.loops.push(this.anonRegisterLoop(), this.anonLoginLoop());
    for (let i = 0; i < s.anonSockets; i++) this.garbageSocket();
    for (let i = 0; i < s.replaySockets; i++) this.replaySocket();
    const asked = s.replaySockets * s.subsPerSocket;
    const headStartEnds = performance.now() + s.replayHeadStartMs;
    while (
      !this.stopped &&
      asked > 0 &&
      !(c("replay.events") > 0 && c("replay.started") + c("replay.refused_429") + c("replay.errors") >= asked) &&
      performance.now() < headStartEnds
    ) {
      await sleep(20);
    }
    if (this.stopped) return;
    this.counts["replay.head_start_ms"] = Math.round(performance.now() - this.started);
    for (let i = 0; i < s.inFlightSockets; i++) this.inFlightSocket();
    for (let i = 0; i < s.legacySockets; i++) this.legacySocket();
    for (let i = 0; i < s.batchLoops; i++) this.loops.push(this.batchLoop());
    const extra = setTimeout(() => {
      for (let i = 0; i < s.extraSockets; i++) this.extraSocket();
    }, 300);
    const legacyFrom = performance.now();
    const legacy = setInterval(() => {
      if (!this.refusedEverywhere() && performance.now() - legacyFrom < s.legacyAfterMs) return;
      clearInterval(legacy);
      this.counts["legacy.flood_at_ms"] = Math.round(performance.now() - this.started);
      this.flooding = true;
      for (const pump of this.pumps) pump();
    }, 20);
    this.loops.push(new Promise((resolve) => this.onStop(() => (clearTimeout(extra), clearInterval(legacy), resolve()))));
  }

  /** Whether each running abuser (other than the legacy flood) has been refused at least once. */
  private refusedEverywhere(): boolean {
    const s = this.spec.shape;
    const c = (k: string) => this.counts[k] ?? 0;
    // A batch's calls refused one by one (failed logins past LOGIN_FAILS_PER_IP) are refusals too:
    // the per-IP request budget (600 a minute) no longer refuses the whole batch first.
    const anon = c("anon.register.status.429") + c("anon.login_batch.status.429") + c("anon.login_batch.calls.429") + c("anon.login_v1.status.429");
    return (
      (s.batchLoops === 0 || c("batch.status.429") + c("batch.calls.429") > 0) &&
      (s.replaySockets === 0 || c("replay.refused_429") > 0) &&
      (s.inFlightSockets === 0 || c("inflight.429") > 0) &&
      (s.extraSockets === 0 || c("socket.close.4429") > 0) &&
      (s.anonHttpLoops === 0 || anon > 0)
    );
  }

  async stop(): Promise<AbuseReport> {
    this.stopped = true;
    for (const f of this.stopHooks) f();
    for (const ws of this.sockets) ws.terminate();
    await Promise.race([Promise.allSettled(this.loops), sleep(10_000)]);
    this.http.close();
    return { counts: { ...this.counts }, samples: this.samples.slice(0, 10), seconds: (performance.now() - this.started) / 1000 };
  }

  private readonly stopHooks: Array<() => void> = [];
  private onStop(f: () => void) {
    this.stopHooks.push(f);
  }

  private inc(key: string, n = 1) {
    this.counts[key] = (this.counts[key] ?? 0) + n;
  }

  private sample(text: string) {
    if (this.samples.length < 10) this.samples.push(text.slice(0, 300));
  }

  /**
   * The user's address for one kind of abuse: each kind has addresses of its own (batches get the
   * rest), so that one kind's refusals, which still spend its address's budget, cannot keep
   * another from reaching its own cap.
   */
  private userAddress(kind: "replay" | "inflight" | "legacy" | "extra" | "batch"): string {
    const a = this.spec.user.addresses;
    // replay: 0 and 1 in turn; inflight 2; legacy 3; extra 4; batches 5 on.
    const fixed = { replay: this.replayTurn++ % 2, inflight: 2, legacy: 3, extra: 4 } as const;
    if (kind !== "batch") return a[fixed[kind] % a.length] as string;
    const rest = a.length > 5 ? a.slice(5) : a;
    return rest[this.addressTurn++ % rest.length] as string;
  }

  /** One HTTP exchange, counted by status under `what`; transport errors are counted, not thrown. */
  private async request(what: string, method: "GET" | "POST", path: string, body: string | undefined, headers: Record<string, string>) {
    try {
      const res = await this.http.exchange(method, path, body, headers);
      this.inc(`${what}.requests`);
      this.inc(`${what}.status.${res.status}`);
      if (res.status >= 500) this.sample(`${what} ${res.status}: ${res.text}`);
      return res;
    } catch (e) {
      this.inc(`${what}.transport_errors`);
      this.sample(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      await sleep(5);
      return undefined;
    }
  }

  // ---- the signed-in abuser ------------------------------------------------------------------

  /** Max-size batches of the most expensive queries, back to back, refused or not. */
  private async batchLoop() {
    const { user, shape } = this.spec;
    const paths: string[] = [];
    for (let c = 0; c < shape.batchCalls; c++) paths.push(c % 2 === 0 ? "room.list" : "room.history");
    while (!this.stopped) {
      const input: Record<string, unknown> = {};
      for (let c = 1; c < shape.batchCalls; c += 2) {
        input[String(c)] = { roomId: user.bigRoomId, limit: 100, beforeSeq: 2 + Math.floor(Math.random() * Math.max(1, user.bigRoomLastSeq - 1)) };
      }
      const path = `/trpc/${paths.join(",")}?batch=1&input=${encodeURIComponent(JSON.stringify(input))}`;
      const res = await this.request("batch", "GET", path, undefined, { Authorization: `Bearer ${user.token}`, "X-Forwarded-For": this.userAddress("batch") });
      if (!res) continue;
      if (res.text.startsWith("[")) {
        this.inc("batch.calls.ok", occurrences(res.text, '{"result":{'));
        this.inc("batch.calls.429", occurrences(res.text, '"httpStatus":429'));
      }
    }
  }

  /** A tRPC socket of the user at this address; reopened after every close until the abuse stops. */
  private trpcSocket(label: string, address: string, token: string | undefined, onOpen: (ws: WebSocket) => void, onFrame: (ws: WebSocket, s: string) => void) {
    const open = () => {
      if (this.stopped) return;
      const ws = new WebSocket(`${this.spec.wsBase}/trpc?connectionParams=1`, {
        headers: { "X-Forwarded-For": address },
        perMessageDeflate: false,
        skipUTF8Validation: true,
      });
      this.track(label, ws, open);
      ws.on("open", () => {
        this.inc(`${label}.opened`);
        if (token !== undefined) ws.send(JSON.stringify({ method: "connectionParams", data: { token } }));
        onOpen(ws);
      });
      ws.on("message", (data) => {
        const s = data.toString();
        if (s === "PING") return void ws.send("PONG");
        onFrame(ws, s);
      });
    };
    open();
  }

  /** Counts a socket's refusal or close, and reopens it (an attacker's reconnect loop). */
  private track(label: string, ws: WebSocket, reopen: () => void) {
    this.sockets.add(ws);
    let refused = false;
    let reopened = false;
    const again = () => {
      this.sockets.delete(ws);
      if (this.stopped || reopened) return;
      reopened = true;
      setTimeout(reopen, 10);
    };
    ws.on("unexpected-response", (_req, res) => {
      refused = true;
      this.inc(`upgrade.refused.${res.statusCode}`);
      res.resume();
      ws.terminate();
      again();
    });
    ws.on("error", () => again());
    ws.on("close", (code) => {
      if (!refused && !this.stopped) {
        this.inc(`socket.close.${code}`);
        this.inc(`${label}.closed.${code}`);
      }
      again();
    });
  }

  private replaySocket() {
    const { user, shape } = this.spec;
    const address = this.userAddress("replay");
    let nextId = 1;
    const last = new Map<number, number>();
    const subscribe = (ws: WebSocket, stop?: number) => {
      const id = nextId++;
      last.set(id, 0);
      const ops: unknown[] = stop === undefined ? [] : [{ id: stop, method: "subscription.stop" }];
      ops.push({ id, method: "subscription", params: { path: "room.onMessage", input: { roomId: user.bigRoomId, lastEventId: "0" } } });
      ws.send(JSON.stringify(ops));
      this.inc("replay.requested");
    };
    this.trpcSocket(
      "replay",
      address,
      user.token,
      (ws) => {
        const ops = Array.from({ length: shape.subsPerSocket }, () => {
          const id = nextId++;
          last.set(id, 0);
          return { id, method: "subscription", params: { path: "room.onMessage", input: { roomId: user.bigRoomId, lastEventId: "0" } } };
        });
        ws.send(JSON.stringify(ops));
        this.inc("replay.requested", ops.length);
      },
      (ws, s) => {
        const id = frameId(s);
        if (id === undefined) return;
        if (s.includes('{"type":"message"')) {
          const seq = trackedSeq(s);
          const prev = last.get(id);
          if (seq === undefined || prev === undefined) return;
          this.inc("replay.events");
          if (seq !== prev + 1) this.inc("replay.out_of_order");
          last.set(id, seq);
          if (seq >= user.bigRoomLastSeq) {
            this.inc("replay.completed");
            last.delete(id);
            subscribe(ws, id);
          }
        } else if (s.includes('"error"')) {
          last.delete(id);
          if (s.includes('"httpStatus":429')) this.inc("replay.refused_429");
          else {
            this.inc("replay.errors");
            this.sample(`replay: ${s}`);
          }
          // Refused: ask again at once, as a client that ignores Retry-After does.
          subscribe(ws);
        } else if (s.includes('"type":"started"')) {
          this.inc("replay.started");
        }
      },
    );
  }

  private inFlightSocket() {
    const { user, shape } = this.spec;
    let nextId = 1;
    const call = (ws: WebSocket, n: number) => {
      const ops = Array.from({ length: n }, () => ({ id: nextId++, method: "query", params: { path: "room.list" } }));
      ws.send(JSON.stringify(ops));
    };
    this.trpcSocket(
      "inflight",
      this.userAddress("inflight"),
      user.token,
      (ws) => {
        for (let left = shape.inFlightPerSocket; left > 0; left -= shape.batchCalls) call(ws, Math.min(left, shape.batchCalls));
      },
      (ws, s) => {
        if (frameId(s) === undefined) return;
        if (s.includes('"httpStatus":429')) this.inc("inflight.429");
        else if (s.includes('"error"')) {
          this.inc("inflight.errors");
          this.sample(`inflight: ${s}`);
        } else this.inc("inflight.ok");
        // Every answer, served or refused, is replaced by a new call at once.
        call(ws, 1);
      },
    );
  }

  private extraSocket() {
    this.trpcSocket("extra", this.userAddress("extra"), this.spec.user.token, () => undefined, () => undefined);
  }

  /** A legacy socket that sends as fast as TCP takes it (the server pauses it past its send budget). */
  private legacySocket() {
    const { user } = this.spec;
    const address = this.userAddress("legacy");
    let n = 0;
    const open = () => {
      if (this.stopped) return;
      const url = `${this.spec.wsBase}/api/v1/rooms/ws?room=${encodeURIComponent(user.legacyRoomId)}&token=${encodeURIComponent(user.token)}`;
      const ws = new WebSocket(url, { headers: { "X-Forwarded-For": address }, perMessageDeflate: false, skipUTF8Validation: true });
      this.track("legacy", ws, open);
      const pump = () => {
        if (this.stopped || ws.readyState !== WebSocket.OPEN || !this.flooding) return;
        // Bounded per turn: a socket reset under us stops buffering, and an unbounded loop
        // would then never yield.
        for (let k = 0; k < 4000 && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 64 * 1024; k++) {
          ws.send(`flood ${n++}`);
          this.inc("legacy.sent");
        }
        setTimeout(pump, 2);
      };
      ws.on("open", () => {
        this.inc("legacy.opened");
        this.pumps.add(pump);
        pump();
      });
      ws.on("close", () => this.pumps.delete(pump));
      ws.on("message", (data) => {
        const s = data.toString();
        this.inc(s.includes('"client_name":"AnonChat"') ? "legacy.notices" : "legacy.echoes");
      });
    };
    open();
  }

  // ---- the anonymous abuser ------------------------------------------------------------------

  private async anonRegisterLoop() {
    const headers = { "X-Forwarded-For": this.spec.anon.address };
    let i = 0;
    while (!this.stopped) {
      const login = `ab${process.pid % 1000}x${Date.now() % 1_000_000}x${i++}`;
      const body = JSON.stringify({ login, email: `${login}@abuse.test`, password: "abuse-password-123" });
      await this.request("anon.register", "POST", "/trpc/auth.register", body, headers);
    }
  }

  /** Batches of failed logins over tRPC, and single ones over /api/v1, in turn. */
  private async anonLoginLoop() {
    const headers = { "X-Forwarded-For": this.spec.anon.address };
    let i = 0;
    while (!this.stopped) {
      i++;
      if (i % 2 === 0) {
        const body = JSON.stringify({ email: `victim${i % 7}@abuse.test`, password: `wrong-${i}` });
        await this.request("anon.login_v1", "POST", "/api/v1/auth/login", body, headers);
        continue;
      }
      const n = this.spec.shape.batchCalls;
      const body = JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, k) => [String(k), { email: `spray${k}@abuse.test`, password: `wrong-${i}` }])));
      const res = await this.request("anon.login_batch", "POST", `/trpc/${Array.from({ length: n }, () => "auth.login").join(",")}?batch=1`, body, headers);
      if (res?.text.startsWith("[")) this.inc("anon.login_batch.calls.429", occurrences(res.text, '"httpStatus":429'));
    }
  }

  private garbageSocket() {
    const frames = garbageFrames();
    let k = 0;
    this.trpcSocket(
      "garbage",
      this.spec.anon.address,
      undefined,
      (ws) => {
        const pump = () => {
          if (this.stopped || ws.readyState !== WebSocket.OPEN) return;
          for (let i = 0; i < 1000 && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 64 * 1024; i++) {
            ws.send(frames[k++ % frames.length] as string);
            this.inc("garbage.sent");
          }
          setTimeout(pump, 2);
        };
        pump();
      },
      (_ws, s) => {
        this.inc(s.includes('"httpStatus":429') ? "garbage.answers.429" : "garbage.answers");
        if (s.includes('"httpStatus":500')) this.sample(`garbage: ${s}`);
      },
    );
  }
}

function occurrences(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** The request id of a tRPC answer frame (`{"id":N,...`), or undefined. */
function frameId(s: string): number | undefined {
  if (!s.startsWith('{"id":')) return undefined;
  const id = Number(s.slice(6, s.indexOf(",", 6)));
  return Number.isInteger(id) ? id : undefined;
}

const TRACKED = '"result":{"type":"data","id":"';
/** The tracked event id (the seq) of a subscription data frame. */
function trackedSeq(s: string): number | undefined {
  const i = s.indexOf(TRACKED);
  if (i === -1) return undefined;
  const seq = parseInt(s.slice(i + TRACKED.length, i + TRACKED.length + 12), 10);
  return Number.isFinite(seq) ? seq : undefined;
}
