import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { SERVICE_SECRET_HEADER } from "../service-secret";

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
  for (const [k, v] of Object.entries(req.headers)) {
    if (!HOP_BY_HOP.has(k) || (keepUpgrade && (k === "connection" || k === "upgrade"))) out[k] = v;
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

/** Connection refused or reset before anything was sent: safe to try another replica. */
const isRetryable = (err: NodeJS.ErrnoException) => err.code === "ECONNREFUSED" || err.code === "EHOSTUNREACH";

/**
 * The gateway's forwarding: whole requests to one upstream group, trying the group's replicas in
 * turn (round robin) when one refuses the connection, and WebSocket upgrades piped both ways.
 */
export class UpstreamGroup {
  private next = 0;
  private tunnels = 0;

  /** WebSockets currently piped through this group. */
  openTunnels(): number {
    return this.tunnels;
  }

  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  constructor(
    readonly name: string,
    private readonly urls: readonly URL[],
    /** Presented to the services with every request and upgrade. */
    private readonly serviceSecret: string,
  ) {
    if (urls.length === 0) throw new Error(`no upstream for ${name}`);
  }

  /** Replicas in the order to try: a rotating start spreads load. */
  private order(): URL[] {
    const start = this.next++ % this.urls.length;
    return [...this.urls.slice(start), ...this.urls.slice(0, start)];
  }

  async forward(req: IncomingMessage, res: ServerResponse, meta: ForwardMeta, body: Buffer): Promise<void> {
    const headers = forwardHeaders(req, meta, false, this.serviceSecret);
    headers["content-length"] = String(body.length);
    for (const target of this.order()) {
      const outcome = await new Promise<"done" | "retry">((resolve) => {
        const up = http.request(
          { host: target.hostname, port: target.port, path: req.url, method: req.method, headers, agent: this.agent },
          (upRes) => {
            const out: Record<string, string | string[]> = {};
            for (const [k, v] of Object.entries(upRes.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
            res.writeHead(upRes.statusCode ?? 502, out);
            upRes.pipe(res);
            upRes.on("error", () => res.destroy());
            res.on("close", () => resolve("done"));
          },
        );
        up.on("error", (err: NodeJS.ErrnoException) => {
          if (!res.headersSent && isRetryable(err)) return resolve("retry");
          if (!res.headersSent) badGateway(res, meta);
          else res.destroy();
          resolve("done");
        });
        up.end(body);
      });
      if (outcome === "done") return;
    }
    badGateway(res, meta);
  }

  /** Pipes a WebSocket upgrade to a replica; a refusing replica is skipped. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, meta: ForwardMeta): void {
    const headers = forwardHeaders(req, meta, true, this.serviceSecret);
    const candidates = this.order();
    const attempt = (i: number) => {
      const target = candidates[i];
      if (!target) return refuse(socket, 502);
      const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: "GET", headers });
      up.on("upgrade", (upRes, upSocket, upHead) => {
        const lines = [`HTTP/1.1 101 Switching Protocols`];
        for (let j = 0; j < upRes.rawHeaders.length; j += 2) lines.push(`${upRes.rawHeaders[j]}: ${upRes.rawHeaders[j + 1]}`);
        socket.write(lines.join("\r\n") + "\r\n\r\n");
        if (upHead.length) socket.write(upHead);
        if (head.length) upSocket.write(head);
        upSocket.pipe(socket).pipe(upSocket);
        this.tunnels++;
        let open = true;
        const close = () => {
          if (open) {
            open = false;
            this.tunnels--;
          }
          upSocket.destroy();
          socket.destroy();
        };
        upSocket.on("error", close);
        socket.on("error", close);
        upSocket.on("close", close);
        socket.on("close", close);
      });
      up.on("response", (upRes) => {
        // Refused by the replica (403, 429, 503...): pass its answer on.
        const lines = [`HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage ?? ""}`];
        for (let j = 0; j < upRes.rawHeaders.length; j += 2) lines.push(`${upRes.rawHeaders[j]}: ${upRes.rawHeaders[j + 1]}`);
        socket.write(lines.join("\r\n") + "\r\n\r\n");
        upRes.pipe(socket);
      });
      up.on("error", (err: NodeJS.ErrnoException) => (isRetryable(err) ? attempt(i + 1) : refuse(socket, 502)));
      up.end();
    };
    attempt(0);
  }

  close(): void {
    this.agent.destroy();
  }
}

function badGateway(res: ServerResponse, meta: ForwardMeta) {
  if (res.headersSent) return void res.destroy();
  const body = JSON.stringify({ status: "error", message: "service unavailable, try again shortly", data: null });
  res.writeHead(502, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    "Retry-After": "1",
    "X-Request-Id": meta.requestId,
  });
  res.end(body);
}

function refuse(socket: Duplex, status: number) {
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
