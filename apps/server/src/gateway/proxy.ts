import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Agent, type Dispatcher } from "undici";
import type { UpstreamSettings } from "../config.js";
import type { Logger } from "../logger.js";
import { SERVICE_SECRET_HEADER } from "../service-secret.js";
import { closeFrame, textFrame, Tunnel } from "./tunnel.js";
import { UpstreamPool } from "./upstreams.js";

/** Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  // The gateway has read the whole body; there is nothing to continue.
  "expect",
  "host",
  "x-forwarded-for",
  "x-request-id",
  // A client's own value is never passed on; the gateway sets its own.
  SERVICE_SECRET_HEADER,
]);

export interface ForwardMeta {
  requestId: string;
  clientIp: string;
}

function forwardHeaders(req: IncomingMessage, meta: ForwardMeta, keepUpgrade: boolean, serviceSecret: string): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  // Headers the client named in Connection describe its hop too (RFC 9110 §7.6.1).
  const named = new Set(
    String(req.headers.connection ?? "")
      .toLowerCase()
      .split(",")
      .map((t) => t.trim())
      .filter((t) => t && t !== "upgrade"),
  );
  for (const [k, v] of Object.entries(req.headers)) {
    if (keepUpgrade && (k === "connection" || k === "upgrade")) (out as Record<string, typeof v>)[k] = v;
    else if (!HOP_BY_HOP.has(k) && !named.has(k)) out[k] = v;
  }
  // The gateway admitted the Origin against the public origins; a service would judge it against
  // its own port's, so it gets none (and answers as to a non-browser client; CORS headers are ours).
  delete out.origin;
  // The services trust the gateway for these (X-Forwarded-For only alongside the service secret);
  // the client's own values were already judged here.
  out[SERVICE_SECRET_HEADER] = serviceSecret;
  out["x-forwarded-for"] = meta.clientIp;
  out["x-request-id"] = meta.requestId;
  out["x-forwarded-host"] = req.headers.host ?? "";
  // Keep the Host the client used, so same-origin checks behind the gateway see the public origin.
  if (req.headers.host) out.host = req.headers.host;
  return out;
}

/** The request never reached the replica (no connection): safe to send to another one. */
const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
]);
/** No answer, or the connection broke: the request may have reached the replica. */
const TIMEOUTS = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);
/** Methods that change nothing, so sending one again to another replica is harmless. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const errorCode = (err: unknown): string => {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  return String(e?.code ?? e?.cause?.code ?? "");
};

export type TunnelKind = "trpc" | "legacy";

/**
 * The gateway's forwarding to one service: whole requests over undici (pooled keep-alive, connect
 * and response timeouts) to the replicas of an UpstreamPool in turn, and WebSocket upgrades piped
 * both ways as Tunnels, whose frame boundaries let the gateway say goodbye cleanly at shutdown.
 */
export class UpstreamGroup {
  private readonly tunnels = new Map<Tunnel, { kind: TunnelKind; origin: string }>();
  private readonly agent: Agent;
  readonly pool: UpstreamPool;

  /** WebSockets currently piped through this group. */
  openTunnels(): number {
    return this.tunnels.size;
  }

  constructor(
    readonly name: string,
    urls: readonly URL[],
    /** Presented to the services with every request and upgrade. */
    private readonly serviceSecret: string,
    private readonly settings: UpstreamSettings,
    private readonly log: Logger,
  ) {
    this.pool = new UpstreamPool(name, urls, settings, log);
    this.pool.onDown((origin, reason) => this.moveSockets(origin, reason));
    this.agent = new Agent({
      connect: { timeout: settings.connectTimeoutMs },
      headersTimeout: settings.timeoutMs,
      bodyTimeout: settings.timeoutMs,
      connections: 256,
    });
  }

  start(): Promise<void> {
    return this.pool.start();
  }

  async forward(req: IncomingMessage, res: ServerResponse, meta: ForwardMeta, body: Buffer): Promise<void> {
    const headers = forwardHeaders(req, meta, false, this.serviceSecret);
    // undici sets Content-Length from the body it is given (the whole body was read already).
    delete headers["content-length"];
    const method = req.method ?? "GET";
    const retriable = SAFE_METHODS.has(method);
    // A client that goes away cancels its upstream request.
    const gone = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) gone.abort();
    };
    res.once("close", onClose);
    let timedOut = false;
    try {
      for (const target of this.pool.order()) {
        let upstream: Dispatcher.ResponseData;
        try {
          upstream = await this.agent.request({
            origin: target.origin,
            path: req.url ?? "/",
            method: method as Dispatcher.HttpMethod,
            headers: headers as Record<string, string | string[]>,
            body: body.length > 0 ? body : null,
            signal: gone.signal,
          });
        } catch (err) {
          if (gone.signal.aborted) return;
          const code = errorCode(err);
          if (CONNECT_ERRORS.has(code)) {
            this.pool.eject(target, code);
            continue;
          }
          if (TIMEOUTS.has(code)) {
            timedOut = true;
            this.pool.eject(target, code);
          }
          this.log.warn("upstream request failed", { upstream: this.name, target: target.origin, code, requestId: meta.requestId });
          // It may have reached the replica: only a request that changes nothing is sent again.
          if (retriable) continue;
          return gatewayError(res, meta, timedOut ? 504 : 502);
        }
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(upstream.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        res.writeHead(upstream.statusCode, out);
        try {
          await pipeline(upstream.body, res);
        } catch (err) {
          const code = errorCode(err);
          if (TIMEOUTS.has(code)) this.pool.eject(target, code);
          res.destroy();
        }
        return;
      }
      gatewayError(res, meta, timedOut ? 504 : 502);
    } finally {
      res.off("close", onClose);
    }
  }

  /** Pipes a WebSocket upgrade to a replica; one that cannot be reached in time is skipped. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, meta: ForwardMeta, kind: TunnelKind): void {
    const headers = forwardHeaders(req, meta, true, this.serviceSecret);
    const candidates = this.pool.order();
    let clientGone = false;
    socket.once("close", () => (clientGone = true));
    const attempt = (i: number, timedOut: boolean) => {
      const target = candidates[i];
      if (clientGone) return;
      if (!target) return refuse(socket, timedOut ? 504 : 502);
      const up = http.request({ host: target.host, port: target.port, path: req.url, method: "GET", headers });
      let settled = false;
      const settle = () => {
        settled = true;
        clearTimeout(connectTimer);
        clearTimeout(answerTimer);
      };
      // The connect timeout, then the time the replica has to answer the handshake.
      const connectTimer = setTimeout(() => fail("UND_ERR_CONNECT_TIMEOUT"), this.settings.connectTimeoutMs);
      const answerTimer = setTimeout(() => fail("UND_ERR_HEADERS_TIMEOUT"), this.settings.timeoutMs);
      up.on("socket", (s) => s.once("connect", () => clearTimeout(connectTimer)));
      const fail = (code: string) => {
        if (settled) return;
        settle();
        up.destroy();
        if (CONNECT_ERRORS.has(code) || TIMEOUTS.has(code)) this.pool.eject(target, code);
        // A handshake changes nothing until it is answered: trying another replica is safe.
        if (CONNECT_ERRORS.has(code) || TIMEOUTS.has(code)) return attempt(i + 1, timedOut || TIMEOUTS.has(code));
        refuse(socket, 502);
      };
      up.on("upgrade", (upRes, upSocket, upHead) => {
        settle();
        const lines = [`HTTP/1.1 101 Switching Protocols`];
        for (let j = 0; j < upRes.rawHeaders.length; j += 2) lines.push(`${upRes.rawHeaders[j]}: ${upRes.rawHeaders[j + 1]}`);
        if (clientGone) return void upSocket.destroy();
        socket.write(lines.join("\r\n") + "\r\n\r\n");
        if (head.length) upSocket.write(head);
        // Bytes the replica sent right after its 101 are frames too: they go through the tracking.
        if (upHead.length) upSocket.unshift(upHead);
        const tunnel = new Tunnel(socket, upSocket, () => this.tunnels.delete(tunnel));
        this.tunnels.set(tunnel, { kind, origin: target.origin });
      });
      up.on("response", (upRes) => {
        // Refused by the replica (403, 429, 503...): pass its answer on.
        settle();
        const lines = [`HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage ?? ""}`];
        for (let j = 0; j < upRes.rawHeaders.length; j += 2) lines.push(`${upRes.rawHeaders[j]}: ${upRes.rawHeaders[j + 1]}`);
        socket.write(lines.join("\r\n") + "\r\n\r\n");
        upRes.pipe(socket);
      });
      up.on("error", (err) => fail(errorCode(err)));
      up.end();
    };
    attempt(0, false);
  }

  /**
   * Shutdown: writes to every piped socket, at its next frame boundary, what a replica writes
   * when it shuts down (tRPC: the reconnect notice; legacy: the close 1012), so clients move on
   * as they would from a replica.
   */
  drain(): void {
    for (const [tunnel, { kind }] of this.tunnels) {
      if (kind === "trpc") tunnel.inject([textFrame(RECONNECT_NOTICE)], false);
      else tunnel.inject([closeFrame(1012, "server restarting")], true);
    }
  }

  /** Shutdown, last step for sockets: a close frame (1012) on every one left, then they end. */
  closeSockets(): void {
    closeTunnels([...this.tunnels.keys()]);
  }

  /**
   * A replica that stopped answering its health checks (frozen, partitioned, overloaded) or left
   * DNS keeps its piped sockets open and silent: no frames, no pings, no close. Each gets the
   * close a restarting replica sends (1012), so its client reconnects through the gateway to a
   * replica in rotation and resumes from its last event id, as after any restart.
   */
  private moveSockets(origin: string, reason: string): void {
    const moved = [...this.tunnels].filter(([, t]) => t.origin === origin).map(([tunnel]) => tunnel);
    if (moved.length === 0) return;
    this.log.warn("upstream down: moving its sockets", { upstream: this.name, target: origin, reason, sockets: moved.length });
    closeTunnels(moved);
  }

  /** After in-flight requests: the pooled connections and the health checks. */
  async close(): Promise<void> {
    await this.pool.close();
    await this.agent.close().catch(() => undefined);
  }
}

/** A close frame (1012) on each tunnel at its next frame boundary; one stuck inside a frame is cut after a second. */
function closeTunnels(tunnels: Tunnel[]): void {
  for (const tunnel of tunnels) tunnel.inject([closeFrame(1012, "server restarting")], true);
  setTimeout(() => {
    for (const tunnel of tunnels) tunnel.destroy();
  }, 1000).unref();
}

/** What a tRPC replica sends on shutdown (@trpc/server's broadcastReconnectNotification). */
const RECONNECT_NOTICE = JSON.stringify({ id: null, method: "reconnect" });

/** 502 (no replica could be reached) or 504 (none answered in time), in the JSON envelope. */
function gatewayError(res: ServerResponse, meta: ForwardMeta, status: 502 | 504) {
  if (res.headersSent) return void res.destroy();
  const message = status === 504 ? "the service did not answer in time, try again shortly" : "service unavailable, try again shortly";
  const body = JSON.stringify({ status: "error", message, data: null });
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    "Retry-After": "1",
    "X-Request-Id": meta.requestId,
  });
  res.end(body);
}

function refuse(socket: Duplex, status: number) {
  if (socket.destroyed) return;
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ""}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** Which service answers a path: tRPC batches that touch only auth.* go to auth, the rest to chat. */
export function serviceFor(path: string): "auth" | "chat" | undefined {
  if (path === "/trpc" || path.startsWith("/trpc/")) {
    const procedures = decodeURIComponent(path.slice("/trpc/".length)).split(",");
    return procedures.length > 0 && procedures.every((p) => p.startsWith("auth.")) ? "auth" : "chat";
  }
  if (path === "/api/v1/status" || path.startsWith("/api/v1/auth/") || path === "/.well-known/jwks.json") return "auth";
  if (path === "/api/v1" || path.startsWith("/api/v1/")) return "chat";
  return undefined;
}
