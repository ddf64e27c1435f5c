import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { createLegacySocketServer, createRestHandler, LEGACY_CLOSE, sendEnvelope } from "@anonchat/rest";
import { AppError, type User } from "@anonchat/shared";
import type { ServerConfig } from "./config.js";
import type { ConnectionRegistry } from "./connections.js";
import { errorBody } from "./edge-input.js";
import { BodyError, readBody, sendJson } from "./http-util.js";
import { jwksOf } from "./keys.js";
import type { Logger } from "./logger.js";
import { serviceFor, UpstreamGroup } from "./gateway/proxy.js";
import type { CallBudgets } from "./call-budgets.js";
import type { SecurityLog } from "./security-log.js";
import { serviceSecretCheck } from "./service-secret.js";
import type { Services } from "./services.js";
import { createTrpcTransport } from "./trpc-transport.js";

export interface RequestMeta {
  requestId: string;
  clientIp: string;
}

/** What a role mounts on the shared HTTP server. */
export interface RoleHandler {
  /** Answers the request and returns true, or returns false for the next handler (static files). */
  http(req: IncomingMessage, res: ServerResponse, meta: RequestMeta, path: string, headers: Record<string, string>): Promise<boolean>;
  /** Takes a WebSocket upgrade, or returns false (404). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, meta: RequestMeta, path: string): boolean;
  /** Shutdown, first step: tell live clients to reconnect elsewhere. */
  drain(): void;
  /** Shutdown, last step: close what is left. */
  closeSockets(): void;
  /** Open WebSockets by protocol, for metrics. */
  socketCounts(): Record<string, number>;
  /** Whether what this role needs besides the database is there (the gateway: its upstreams). */
  ready?(): boolean;
  /** Shutdown, after in-flight requests have finished: what the role still holds. */
  close?(): Promise<void>;
}

const isTrpc = (path: string) => path === "/trpc" || path.startsWith("/trpc/");

const PUBLIC_PROCEDURES = new Set(["auth.register", "auth.login", "auth.refresh", "auth.logout"]);
const PUBLIC_PATHS = new Set(["/api/v1/status", "/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout"]);

function takesNoToken(path: string): boolean {
  if (isTrpc(path)) return decodeURIComponent(path.slice("/trpc/".length)).split(",").every((p) => PUBLIC_PROCEDURES.has(p));
  return PUBLIC_PATHS.has(path);
}

/**
 * The services themselves (roles all, auth and chat): tRPC over HTTP and WebSocket, the /api/v1
 * adapter and the legacy socket where rooms are served, the JWKS and internal look-ups where
 * users and sessions are.
 */
export function serviceHandler(
  config: ServerConfig,
  services: Services,
  registry: ConnectionRegistry,
  log: Logger,
  edge: { budgets: CallBudgets; security: SecurityLog },
): RoleHandler {
  const auth = services.auth;
  if (!auth) throw new Error(`the ${config.role} role has no auth service`);
  const rooms = services.rooms ?? null;
  const trpc = createTrpcTransport(config, { auth, rooms, tokens: services.tokens, ...edge }, registry, log);
  const rest = createRestHandler({
    auth,
    rooms,
    maxBodyBytes: config.maxBodyBytes,
    logError: (err, fields) => log.error("unhandled error", { ...fields, err }),
  });
  const legacy = rooms
    ? createLegacySocketServer({
        auth,
        rooms,
        registry,
        countUserSockets: (userId) => registry.countForUser(userId),
        config: {
          maxMessageLength: config.maxMessageLength,
          encoding: config.legacyMessageEncoding,
          pingIntervalSeconds: config.wsPingInterval,
          sendBufferMax: config.wsSendBufferMax,
          maxConnectionsPerUser: config.maxConnectionsPerUser,
          maxPendingSends: config.wsMaxInFlight,
        },
        log,
        onPolicyClose: (fields) => edge.security.socketClosed({ protocol: "legacy", ...fields }),
      })
    : undefined;
  const issuesTokens = services.keys.privateKey !== undefined;
  const fromService = serviceSecretCheck(config.serviceSecret);

  return {
    async http(req, res, meta, path, headers) {
      if (isTrpc(path)) {
        for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
        await trpc.handleHttp(req, res, meta, path.slice("/trpc/".length));
        return true;
      }
      if (path === "/api/v1" || path.startsWith("/api/v1/")) {
        await rest(req, res, { ...meta, headers });
        return true;
      }
      if (issuesTokens && path === "/.well-known/jwks.json") {
        sendJson(res, 200, jwksOf(services.keys), { ...headers, "Cache-Control": "public, max-age=300" });
        return true;
      }
      // Look-ups for the other services (never routed by the gateway); they hold users' emails,
      // so a caller without the service secret learns nothing, not even which paths exist.
      if (config.role === "auth" && path.startsWith("/internal/")) {
        if (!fromService(req)) sendJson(res, 401, { error: "unauthorized" });
        else await internal(path, res);
        return true;
      }
      return false;
    },
    upgrade(req, socket, head, meta, path) {
      if (!rooms) return false;
      if (isTrpc(path)) {
        trpc.handleUpgrade(req, socket, head, meta);
        return true;
      }
      if (path === "/api/v1/rooms/ws" && legacy) {
        legacy.handleUpgrade(req, socket, head, { ip: meta.clientIp, requestId: meta.requestId });
        return true;
      }
      return false;
    },
    drain() {
      trpc.reconnectAll();
      legacy?.closeAll(1012, "server restarting");
    },
    closeSockets() {
      trpc.closeAll(1012, "server restarting");
    },
    socketCounts: () => ({ trpc: trpc.count(), legacy: legacy?.count() ?? 0 }),
  };

  async function internal(path: string, res: ServerResponse) {
    const user = /^\/internal\/users\/(\d{1,10})$/.exec(path);
    if (user) {
      try {
        const found: User = await (auth as NonNullable<typeof auth>).me(Number(user[1]));
        return sendJson(res, 200, found);
      } catch (err) {
        if (err instanceof AppError && err.code === "UNAUTHORIZED") return sendJson(res, 404, { error: "no such user" });
        throw err;
      }
    }
    const session = /^\/internal\/sessions\/([0-9a-f]{32})$/.exec(path);
    if (session) {
      return sendJson(res, 200, { active: await (auth as NonNullable<typeof auth>).isSessionActive(session[1] as string) });
    }
    sendJson(res, 404, { error: "not found" });
  }
}

/**
 * The gateway role: the only public entry. It refuses bad tokens before any service sees them,
 * sends auth calls to the auth service and everything else, WebSockets included, to a chat
 * replica (found by DNS or listed, health-checked, skipped when it cannot be reached in time).
 */
export function gatewayHandler(config: ServerConfig, services: Services, log: Logger): RoleHandler {
  const secret = config.serviceSecret as string;
  const authGroup = new UpstreamGroup("auth", config.authUrls.map((u) => new URL(u)), secret, config.upstream, log);
  const chatGroup = new UpstreamGroup("chat", config.chatUrls.map((u) => new URL(u)), secret, config.upstream, log);
  // Look-ups and first health checks run in the background; /readyz answers 503 until they pass.
  for (const group of [authGroup, chatGroup]) {
    group.start().catch((err) => log.error("upstream discovery failed", { upstream: group.name, err }));
  }
  // Old clients expect the text frame "error.token" on a bad token, so the gateway answers the
  // upgrade itself in that case.
  // It reads nothing from the client, so a frame of any size past the limit is refused.
  const refusals = new WebSocketServer({ noServer: true, maxPayload: config.maxWsPayloadBytes });

  /**
   * A bad token is refused here, except on calls that take none (register, login, refresh,
   * logout, status): there the all-in-one server ignores a stale header too, and a client that
   * refreshes with an expired token still in its headers must keep working the same way.
   */
  async function tokenRefused(req: IncomingMessage, path: string): Promise<boolean> {
    if (takesNoToken(path)) return false;
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    if (!m) return false;
    try {
      // A kid auth started signing with since the last fetch waits for one fetch of the key set.
      await services.tokens.verifyFresh(m[1] as string);
      return false;
    } catch {
      return true;
    }
  }

  return {
    async http(req, res, meta, path, headers) {
      const service = serviceFor(path);
      if (!service) return false;
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      if (await tokenRefused(req, path)) {
        const message = "invalid or expired token";
        if (isTrpc(path)) {
          sendJson(res, 401, { error: { message, code: -32001, data: { code: "UNAUTHORIZED", httpStatus: 401 } } });
        } else {
          sendEnvelope(res, 401, "error", message, null);
        }
        return true;
      }
      let body: Buffer;
      try {
        body = await readBody(req, config.maxBodyBytes);
      } catch (e) {
        // In the shape the path's clients read (a tRPC error on /trpc), as the edge's early 413 is.
        const status = e instanceof BodyError ? e.status : 400;
        const message = e instanceof BodyError ? e.message : "the request body could not be read";
        sendJson(res, status, errorBody(path, status, message));
        return true;
      }
      await (service === "auth" ? authGroup : chatGroup).forward(req, res, meta, body);
      return true;
    },
    upgrade(req, socket, head, meta, path) {
      if (path === "/api/v1/rooms/ws") {
        const token = new URL(req.url ?? "/", "http://gateway").searchParams.get("token") ?? "";
        try {
          // Synchronous (the upgrade is answered in this turn): a kid not held yet is refused,
          // and the key set looks again in the background.
          services.tokens.verify(token);
        } catch {
          refusals.handleUpgrade(req, socket, head, (ws) => {
            // A malformed frame from the client (ws raises it as an error) must not crash the
            // gateway: without a listener it is an uncaught exception.
            ws.on("error", () => ws.terminate());
            ws.send("error.token");
            ws.close(LEGACY_CLOSE.unauthorized, "invalid token");
          });
          return true;
        }
      } else if (!isTrpc(path)) {
        return false;
      }
      log.debug("forwarding upgrade", { requestId: meta.requestId, path });
      chatGroup.upgrade(req, socket, head, meta, isTrpc(path) ? "trpc" : "legacy");
      return true;
    },
    drain() {
      // Piped sockets get what a replica sends when it shuts down, so clients reconnect.
      chatGroup.drain();
    },
    closeSockets() {
      chatGroup.closeSockets();
      for (const ws of refusals.clients) ws.terminate();
    },
    // Ready when each service has a replica that answers its own /readyz.
    ready: () => authGroup.pool.healthyCount() > 0 && chatGroup.pool.healthyCount() > 0,
    async close() {
      await Promise.all([authGroup.close(), chatGroup.close()]);
    },
    socketCounts: () => ({ proxied: chatGroup.openTunnels() }),
  };
}
