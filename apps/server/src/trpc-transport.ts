import type { IncomingMessage, ServerResponse } from "node:http";
import { nodeHTTPRequestHandler } from "@trpc/server/adapters/node-http";
import { applyWSSHandler } from "@trpc/server/adapters/ws";
import { WebSocketServer, type WebSocket } from "ws";
import { appRouter, authOnlyRouter, dataFrame, roomEventEncoder, type Context } from "@anonchat/api";
import { backlog, corkPerTurn } from "@anonchat/rest";
import type { AccessClaims, AccessTokens, AuthApi, RoomService } from "@anonchat/core";
import { newSocketBudget, type CallBudgets, type SocketBudget } from "./call-budgets.js";
import type { ServerConfig } from "./config.js";
import type { ConnectionRegistry } from "./connections.js";
import type { Logger } from "./logger.js";
import type { SecurityLog } from "./security-log.js";
import { gateFrames } from "./ws-frame-gate.js";

export interface RequestMeta {
  requestId: string;
  clientIp: string;
}

export const WS_CLOSE = { unauthorized: 4401, tooMany: 4429, slow: 4008, tryAgain: 1013 } as const;

/**
 * ws has already begun closing with the right code (1009 for a frame too large) when it reports
 * an error: let that close frame out, and cut the socket only if the peer never completes it.
 */
export function closeAfterError(ws: WebSocket): void {
  setTimeout(() => ws.terminate(), 2000).unref();
}

export interface TrpcServices {
  auth: AuthApi;
  /** null in the auth role: only the auth procedures are mounted there. */
  rooms: RoomService | null;
  tokens: AccessTokens;
  budgets: CallBudgets;
  security: SecurityLog;
}

/** A token signed by a key not fetched yet waits for one fetch of the key set (within its floor). */
async function verify(tokens: AccessTokens, token: unknown): Promise<AccessClaims | null> {
  if (typeof token !== "string" || token === "") return null;
  try {
    return await tokens.verifyFresh(token);
  } catch {
    return null;
  }
}

/** tRPC over HTTP (/trpc) and over WebSocket (the same path), sharing one router. */
export function createTrpcTransport(config: ServerConfig, services: TrpcServices, registry: ConnectionRegistry, log: Logger) {
  const router = services.rooms ? appRouter : authOnlyRouter;
  const base = (meta: RequestMeta) => ({
    services: { auth: services.auth, rooms: services.rooms },
    clientIp: meta.clientIp,
    requestId: meta.requestId,
    logError: (err: unknown, where: string) => log.error("unhandled error", { requestId: meta.requestId, where, err }),
  });

  /** Subscriptions are served over the socket only, where its caps, expiry and revocation hold them. */
  const subscriptions = new Set(
    Object.entries(router._def.procedures as Record<string, unknown>)
      .filter(([, p]) => (p as { _def?: { type?: string } })._def?.type === "subscription")
      .map(([name]) => name),
  );

  async function handleHttp(req: IncomingMessage, res: ServerResponse, meta: RequestMeta, path: string) {
    if (path.split(",").some((p) => subscriptions.has(p))) {
      const message = "subscriptions are served over the WebSocket at /trpc";
      res.writeHead(405, { "Content-Type": "application/json", Allow: "" });
      res.end(JSON.stringify({ error: { message, code: -32005, data: { code: "METHOD_NOT_SUPPORTED", httpStatus: 405 } } }));
      return;
    }
    await nodeHTTPRequestHandler({
      router,
      req,
      res,
      path,
      maxBodySize: config.maxBodyBytes,
      // The edge refuses longer batches with a clearer message; this is the backstop.
      maxBatchSize: config.maxBatchCalls,
      createContext: async (): Promise<Context> => {
        const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
        return { ...base(meta), auth: await verify(services.tokens, m?.[1]), connection: null, policy: services.budgets.http(meta) };
      },
      responseMeta: ({ errors }) => {
        const retry = errors.find((e) => e.code === "TOO_MANY_REQUESTS" || e.code === "SERVICE_UNAVAILABLE");
        const cause = retry?.cause as { retryAfterSeconds?: number } | undefined;
        return cause?.retryAfterSeconds ? { headers: { "Retry-After": String(cause.retryAfterSeconds) } } : {};
      },
    });
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxWsPayloadBytes });
  const metaOf = new WeakMap<IncomingMessage, RequestMeta>();
  /** What each socket has open, for its caps. */
  const budgetOf = new WeakMap<WebSocket, SocketBudget>();
  /** The same, by the upgrade request (tRPC's onError names the request, not the socket). */
  const budgetOfReq = new WeakMap<IncomingMessage, SocketBudget>();
  /** Closes sockets that have not authenticated in time (including ones that never send connectionParams). */
  const authTimers = new WeakMap<WebSocket, NodeJS.Timeout>();

  /** Closes a socket for a limit or a policy, and says so in the security log. */
  function closeFor(ws: WebSocket, meta: RequestMeta, code: number, reason: string, userId?: number) {
    services.security.socketClosed({ protocol: "trpc", code, reason, ip: meta.clientIp, requestId: meta.requestId, ...(userId ? { userId } : {}) });
    ws.close(code, reason);
  }

  const handler = applyWSSHandler({
    wss,
    router: appRouter,
    experimental_encoder: roomEventEncoder,
    keepAlive: { enabled: true, pingMs: config.wsPingInterval * 1000, pongWaitMs: 10_000 },
    createContext: async ({ req, res: ws, info }): Promise<Context> => {
      const meta = metaOf.get(req) ?? { requestId: "ws", clientIp: "unknown" };
      const budget = budgetOf.get(ws) ?? newSocketBudget(() => ws.terminate());
      const token = info.connectionParams?.token;
      const claims = await verify(services.tokens, token);
      const auth = claims ? await admitSession(ws, meta, claims) : null;
      // A token that fails verification (expired, forged): close now, so a client following the
      // recipe reconnects at once with a fresh one. With no token at all, public calls may go on
      // until the auth timer fires.
      if (!claims && typeof token === "string" && token !== "") {
        setImmediate(() => closeFor(ws, meta, WS_CLOSE.unauthorized, "invalid or expired token"));
      }
      return {
        ...base(meta),
        auth,
        connection: {
          isBackedUp: () => backlog(ws) > config.wsSendBufferMax,
          drop: (code, reason) => {
            // Its buffer is backed up, so a close frame would wait behind it: cut the socket.
            services.security.socketClosed({ protocol: "trpc", code, reason, ip: meta.clientIp, requestId: meta.requestId, ...(auth ? { userId: auth.userId } : {}) });
            ws.terminate();
          },
          openSubscription: () => services.budgets.openSubscription(meta, budget, auth?.userId ?? null),
          send: (ref, trackedId, data) => {
            if (ws.readyState === ws.OPEN) ws.send(dataFrame(ref, trackedId, data));
          },
        },
        policy: services.budgets.socket(meta, budget),
      };
    },
    onError: ({ error, path, req }) => {
      // A frame that is no call (malformed, not JSON, binary) is a refusal of its socket too.
      if (path === undefined) {
        const budget = budgetOfReq.get(req);
        if (budget) services.budgets.refused(budget);
      }
      if (error.code !== "INTERNAL_SERVER_ERROR") return;
      // Without a path it is the connection, not a procedure: a peer's bad frame (too large,
      // malformed) is its own fault, not a server error.
      if (path === undefined) log.debug("websocket connection error", { err: error.cause ?? error });
      else log.error("websocket procedure failed", { path, err: error.cause ?? error });
    },
  });

  /**
   * A socket lives as long as its token and its session: it closes when the token expires (the
   * client reconnects with a fresh one and resumes), when its session is revoked (also one
   * revoked before the socket opened, as the legacy socket refuses it at connect), or, without a
   * token, after a grace period. It counts against the user's connection cap. Returns the claims
   * the socket's calls run with, or null when it was refused.
   */
  async function admitSession(ws: WebSocket, meta: RequestMeta, auth: AccessClaims): Promise<AccessClaims | null> {
    clearTimeout(authTimers.get(ws));
    if (registry.countForUser(auth.userId) >= config.maxConnectionsPerUser) {
      closeFor(ws, meta, WS_CLOSE.tooMany, "too many connections", auth.userId);
      return null;
    }
    // Registered before the session is looked up: a revocation from now on closes the socket,
    // one from before is what the look-up finds.
    const unregister = registry.add({
      userId: auth.userId,
      sessionId: auth.sessionId,
      close: (code, reason) => closeFor(ws, meta, code, reason, auth.userId),
    });
    const t = setTimeout(() => ws.close(WS_CLOSE.unauthorized, "token expired"), Math.max(0, auth.expiresAt - Date.now()));
    t.unref();
    ws.once("close", () => {
      clearTimeout(t);
      unregister();
    });
    let active: boolean;
    try {
      active = await services.auth.isSessionActive(auth.sessionId);
    } catch {
      // Sessions cannot be checked now (auth unreachable): the client retries shortly.
      closeFor(ws, meta, WS_CLOSE.tryAgain, "try again later", auth.userId);
      return null;
    }
    if (!active) {
      closeFor(ws, meta, WS_CLOSE.unauthorized, "session revoked", auth.userId);
      return null;
    }
    return auth;
  }

  return {
    handleHttp,
    handleUpgrade(req: IncomingMessage, socket: import("node:stream").Duplex, head: Buffer, meta: RequestMeta) {
      metaOf.set(req, meta);
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on("error", () => closeAfterError(ws));
        const budget = newSocketBudget(() => closeFor(ws, meta, WS_CLOSE.tooMany, "too many refused calls"));
        budgetOf.set(ws, budget);
        budgetOfReq.set(req, budget);
        corkPerTurn(ws);
        gateFrames(ws, config.maxBatchCalls, (count) => services.budgets.refused(budget, count));
        const t = setTimeout(() => closeFor(ws, meta, WS_CLOSE.unauthorized, "authentication required"), config.wsAuthTimeout * 1000);
        t.unref();
        authTimers.set(ws, t);
        ws.once("close", () => clearTimeout(t));
        wss.emit("connection", ws, req);
      });
    },
    /** Shutdown: ask every client to reconnect (elsewhere, or here after restart), then close. */
    reconnectAll() {
      handler.broadcastReconnectNotification();
    },
    closeAll(code: number, reason: string) {
      for (const ws of wss.clients) ws.close(code, reason);
    },
    count: () => wss.clients.size,
  };
}
