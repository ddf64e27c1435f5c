import type { IncomingMessage, ServerResponse } from "node:http";
import { nodeHTTPRequestHandler } from "@trpc/server/adapters/node-http";
import { applyWSSHandler } from "@trpc/server/adapters/ws";
import { WebSocketServer, type WebSocket } from "ws";
import { appRouter, authOnlyRouter, roomEventEncoder, type Context } from "@anonchat/api";
import type { AccessClaims, AccessTokens, AuthApi, RoomService } from "@anonchat/core";
import type { ServerConfig } from "./config";
import type { ConnectionRegistry } from "./connections";
import type { Logger } from "./logger";

export interface RequestMeta {
  requestId: string;
  clientIp: string;
}

export const WS_CLOSE = { unauthorized: 4401, tooMany: 4429 } as const;

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
}

function verify(tokens: AccessTokens, token: unknown): AccessClaims | null {
  if (typeof token !== "string" || token === "") return null;
  try {
    return tokens.verify(token);
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

  async function handleHttp(req: IncomingMessage, res: ServerResponse, meta: RequestMeta, path: string) {
    await nodeHTTPRequestHandler({
      router,
      req,
      res,
      path,
      maxBodySize: config.maxBodyBytes,
      createContext: (): Context => {
        const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
        return { ...base(meta), auth: verify(services.tokens, m?.[1]), connection: null };
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
  /** Closes sockets that have not authenticated in time (including ones that never send connectionParams). */
  const authTimers = new WeakMap<WebSocket, NodeJS.Timeout>();

  const handler = applyWSSHandler({
    wss,
    router: appRouter,
    experimental_encoder: roomEventEncoder,
    keepAlive: { enabled: true, pingMs: config.wsPingInterval * 1000, pongWaitMs: 10_000 },
    createContext: ({ req, res: ws, info }): Context => {
      const meta = metaOf.get(req) ?? { requestId: "ws", clientIp: "unknown" };
      const token = info.connectionParams?.token;
      const auth = verify(services.tokens, token);
      attachAuth(ws, auth, typeof token === "string" && token !== "");
      return {
        ...base(meta),
        auth,
        connection: {
          isBackedUp: () => ws.bufferedAmount > config.wsSendBufferMax,
          drop: (code, reason) => {
            log.warn("dropping slow websocket", { requestId: meta.requestId, code, reason });
            ws.terminate();
          },
        },
      };
    },
    onError: ({ error, path }) => {
      if (error.code !== "INTERNAL_SERVER_ERROR") return;
      // Without a path it is the connection, not a procedure: a peer's bad frame (too large,
      // malformed) is its own fault, not a server error.
      if (path === undefined) log.debug("websocket connection error", { err: error.cause ?? error });
      else log.error("websocket procedure failed", { path, err: error.cause ?? error });
    },
  });

  /**
   * A socket lives as long as its token: it closes when the token expires (the client reconnects
   * with a fresh one and resumes), when its session is revoked, or, without a token, after a grace
   * period. It also counts against the user's connection cap.
   */
  function attachAuth(ws: WebSocket, auth: AccessClaims | null, presented: boolean) {
    if (!auth) {
      // A token that fails verification (expired, forged): close now, so a client following the
      // recipe reconnects at once with a fresh one. With no token at all, public calls may go on
      // until the auth timer fires.
      if (presented) setImmediate(() => ws.close(WS_CLOSE.unauthorized, "invalid or expired token"));
      return;
    }
    clearTimeout(authTimers.get(ws));
    if (registry.countForUser(auth.userId) >= config.maxConnectionsPerUser) {
      ws.close(WS_CLOSE.tooMany, "too many connections");
      return;
    }
    const unregister = registry.add({
      userId: auth.userId,
      sessionId: auth.sessionId,
      close: (code, reason) => ws.close(code, reason),
    });
    const t = setTimeout(
      () => ws.close(WS_CLOSE.unauthorized, "token expired"),
      Math.max(0, auth.expiresAt - Date.now()),
    );
    t.unref();
    ws.once("close", () => {
      clearTimeout(t);
      unregister();
    });
  }

  return {
    handleHttp,
    handleUpgrade(req: IncomingMessage, socket: import("node:stream").Duplex, head: Buffer, meta: RequestMeta) {
      metaOf.set(req, meta);
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on("error", () => closeAfterError(ws));
        const t = setTimeout(() => ws.close(WS_CLOSE.unauthorized, "authentication required"), config.wsAuthTimeout * 1000);
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
