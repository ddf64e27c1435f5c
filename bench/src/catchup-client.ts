/**
 * A subscriber that comes back after missing a room's whole stored history: it opens a fresh
 * tRPC socket, subscribes to room.onMessage with lastEventId = the last seq it saw, and reads
 * until the room's newest message, checking every seq arrives once and in order. Runs in a
 * load-generator process; `Catcher` repeats catch-ups over its rooms in turn until stopped.
 */
import WebSocket from "ws";
import { sleep } from "./util.js";

export interface CatchupRoom {
  roomId: string;
  /** The seq the subscriber saw last (it resumes after it). */
  fromSeq: number;
  /** The room's newest seq: the catch-up is done when it arrives. */
  lastSeq: number;
}

export interface CatchupSpec {
  /** ws://host:port (no path). */
  wsBase: string;
  token: string;
  rooms: CatchupRoom[];
  /** Its X-Forwarded-For (the server trusts 127.0.0.1 as a proxy in this scenario). */
  address: string;
  /** A catch-up that takes longer fails. */
  timeoutMs: number;
  /** Stop after this many catch-ups (0: until stopped). */
  max: number;
}

export interface CatchupRun {
  roomId: string;
  /** Messages that had to arrive (lastSeq − fromSeq). */
  expected: number;
  received: number;
  missing: number;
  duplicated: number;
  outOfOrder: number;
  /** From opening the socket to the first replayed message, and to the last. */
  firstMs: number | undefined;
  seconds: number;
  error?: string;
}

/** One catch-up on a fresh socket. */
export function catchUp(spec: Pick<CatchupSpec, "wsBase" | "token" | "address" | "timeoutMs">, room: CatchupRoom): Promise<CatchupRun> {
  const t0 = performance.now();
  const expected = room.lastSeq - room.fromSeq;
  const seen = new Set<number>();
  let received = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let prev = room.fromSeq;
  let firstMs: number | undefined;
  /** The first frames that were not a replayed message, for the error text. */
  const other: string[] = [];
  return new Promise<CatchupRun>((resolve) => {
    let done = false;
    const ws = new WebSocket(`${spec.wsBase}/trpc?connectionParams=1`, { headers: { "X-Forwarded-For": spec.address }, perMessageDeflate: false });
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.terminate();
      const run: CatchupRun = {
        roomId: room.roomId,
        expected,
        received,
        missing: expected - [...seen].filter((s) => s > room.fromSeq && s <= room.lastSeq).length,
        duplicated,
        outOfOrder,
        firstMs,
        seconds: (performance.now() - t0) / 1000,
      };
      if (error) run.error = error;
      resolve(run);
    };
    const timer = setTimeout(
      () => finish(`not caught up after ${spec.timeoutMs / 1000} s (${seen.size} of ${expected}; other frames: ${other.join(" ").slice(0, 400)})`),
      spec.timeoutMs,
    );
    ws.on("open", () => {
      ws.send(JSON.stringify({ method: "connectionParams", data: { token: spec.token } }));
      ws.send(JSON.stringify({ id: 1, method: "subscription", params: { path: "room.onMessage", input: { roomId: room.roomId, lastEventId: String(room.fromSeq) } } }));
    });
    ws.on("message", (data) => {
      const s = data.toString();
      if (s === "PING") return void ws.send("PONG");
      // tRPC's tracked events: result.data = { id, data: RoomEvent }.
      type Ev = { type?: string; message?: { seq?: number } };
      let frame: { result?: { type?: string; data?: { id?: string; data?: Ev } }; error?: unknown };
      try {
        frame = JSON.parse(s) as typeof frame;
      } catch {
        return finish(`not JSON: ${s.slice(0, 200)}`);
      }
      if (frame.error) return finish(`error frame: ${s.slice(0, 300)}`);
      const ev = frame.result?.type === "data" ? frame.result.data?.data : undefined;
      if (ev?.type !== "message" || typeof ev.message?.seq !== "number") {
        if (other.length < 4) other.push(s.slice(0, 200));
        return;
      }
      const seq = ev.message.seq;
      firstMs ??= performance.now() - t0;
      received++;
      if (seen.has(seq)) duplicated++;
      else if (seq !== prev + 1) outOfOrder++;
      seen.add(seq);
      prev = Math.max(prev, seq);
      if (seq >= room.lastSeq) finish();
    });
    ws.on("unexpected-response", (_req, res) => finish(`refused ${res.statusCode}`));
    ws.on("close", (code, reason) => finish(`closed ${code} ${reason.toString()}`));
    ws.on("error", (e) => finish(e.message));
  });
}

export class Catcher {
  private stopped = false;
  private readonly runs: CatchupRun[] = [];
  private loop: Promise<void> | undefined;

  constructor(private readonly spec: CatchupSpec) {}

  start(): void {
    this.loop = (async () => {
      for (let i = 0; !this.stopped && (this.spec.max === 0 || i < this.spec.max); i++) {
        const room = this.spec.rooms[i % this.spec.rooms.length] as CatchupRoom;
        const r = await catchUp(this.spec, room);
        this.runs.push(r);
        // A failed socket is not retried in a tight loop.
        if (r.error) await sleep(200);
      }
    })();
  }

  /** Lets the catch-up under way finish (it must, to be checked), then returns them all. */
  async stop(): Promise<CatchupRun[]> {
    this.stopped = true;
    await this.loop;
    return this.runs;
  }
}
