import type { IncomingMessage } from "node:http";
import WebSocket, { type ClientOptions, type RawData } from "ws";

/**
 * A raw `ws` client that records everything: for attacks where the well-behaved tRPC client
 * would get in the way (never authenticating, never answering pings, never reading, sending
 * oversized or malformed frames). No vitest import.
 */
export class RawSocket {
  readonly frames: string[] = [];
  closed: { code: number; reason: string; at: number } | undefined;
  refusedStatus: number | undefined;
  readonly opened: Promise<void>;
  readonly ws: WebSocket;
  private readonly done: Promise<{ code: number; reason: string; at: number }>;

  constructor(url: string, opts: ClientOptions = {}) {
    this.ws = new WebSocket(url, opts);
    this.ws.on("message", (data: RawData, isBinary: boolean) => {
      this.frames.push(isBinary ? `<binary ${Buffer.isBuffer(data) ? data.length : 0}>` : String(data));
    });
    this.done = new Promise((resolve) => {
      this.ws.on("close", (code: number, reason: Buffer) => {
        this.closed = { code, reason: reason.toString("utf8"), at: Date.now() };
        resolve(this.closed);
      });
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("unexpected-response", (_req, res: IncomingMessage) => {
        this.refusedStatus = res.statusCode;
        res.resume();
        reject(new Error(`upgrade refused with ${res.statusCode}`));
        this.ws.terminate();
      });
      this.ws.once("error", (err) => reject(err));
    });
    this.opened.catch(() => undefined);
    this.ws.on("error", () => undefined);
  }

  send(data: string | Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
  }

  /** Frames parsed as JSON (tRPC's PING/PONG and other text left out). */
  json(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const f of this.frames) {
      if (!f.startsWith("{")) continue;
      try {
        out.push(JSON.parse(f) as Record<string, unknown>);
      } catch {
        // not JSON
      }
    }
    return out;
  }

  async until(cond: () => boolean, timeoutMs = 30_000, label = "condition"): Promise<void> {
    const start = Date.now();
    while (!cond()) {
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${label}; frames: ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  waitClose(timeoutMs = 30_000): Promise<{ code: number; reason: string; at: number }> {
    return Promise.race([
      this.done,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`socket not closed within ${timeoutMs} ms; frames: ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs).unref(),
      ),
    ]);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

/**
 * A tRPC socket at /trpc that announces connectionParams (as wsLink does) and, when a token is
 * given, sends it as soon as the socket opens. token === undefined sends nothing at all.
 */
export function trpcSocket(wsUrl: string, token?: string, opts: ClientOptions = {}): RawSocket {
  const s = new RawSocket(`${wsUrl}/trpc?connectionParams=1`, opts);
  if (token !== undefined) {
    s.ws.once("open", () => s.send(JSON.stringify({ method: "connectionParams", data: { token } })));
  }
  return s;
}

let nextId = 1;
/** Sends one tRPC request over the socket; returns its id. */
export function trpcRequest(s: RawSocket, method: "query" | "mutation" | "subscription", path: string, input?: unknown): number {
  const id = nextId++;
  s.send(JSON.stringify({ id, method, params: { path, input } }));
  return id;
}

/** The response frames for one request id. */
export function responsesTo(s: RawSocket, id: number): Array<Record<string, unknown>> {
  return s.json().filter((m) => m.id === id);
}

/** Waits for the first result or error of a request. */
export async function answerTo(s: RawSocket, id: number, timeoutMs = 30_000): Promise<{ result?: { type?: string; data?: unknown }; error?: { message?: string; data?: { code?: string; httpStatus?: number } } }> {
  await s.until(() => responsesTo(s, id).length > 0 || s.closed !== undefined, timeoutMs, `answer to request ${id}`);
  const first = responsesTo(s, id)[0];
  if (!first) throw new Error(`socket closed (${JSON.stringify(s.closed)}) before answering request ${id}`);
  return first as { result?: { type?: string; data?: unknown }; error?: { message?: string; data?: { code?: string; httpStatus?: number } } };
}

/** Message events of a room.onMessage subscription (their seqs), in arrival order. */
export function subscriptionSeqs(s: RawSocket, id: number): number[] {
  const seqs: number[] = [];
  for (const m of responsesTo(s, id)) {
    const r = m.result as { type?: string; data?: { data?: { type?: string; message?: { seq?: number } } } } | undefined;
    if (r?.type === "data" && r.data?.data?.type === "message" && typeof r.data.data.message?.seq === "number") seqs.push(r.data.data.message.seq);
  }
  return seqs;
}

export function legacySocket(wsUrl: string, roomId: string, token: string, opts: ClientOptions = {}): RawSocket {
  return new RawSocket(`${wsUrl}/api/v1/rooms/ws?room=${encodeURIComponent(roomId)}&token=${encodeURIComponent(token)}`, opts);
}
