import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import type { AccessClaims, AuthApi, RoomService, Sender } from "@anonchat/core";
import { AppError, charCount, legacySocketQuery, MESSAGES, type Message } from "@anonchat/shared";
import { backlog, corkPerTurn } from "./cork.js";

/** Where live sockets are registered so a revoked session can close them (shared with tRPC). */
export interface SocketRegistry {
  add(entry: { userId: number; sessionId: string; close(code: number, reason: string): void }): () => void;
}

export interface LegacySocketConfig {
  maxMessageLength: number;
  encoding: "base64" | "bytes";
  pingIntervalSeconds: number;
  sendBufferMax: number;
  maxConnectionsPerUser: number;
  /** Frames of one socket read but not yet stored; past it the socket is paused (TCP backpressure). */
  maxPendingSends: number;
}

export interface LegacySocketDeps {
  auth: AuthApi;
  rooms: RoomService;
  registry: SocketRegistry;
  config: LegacySocketConfig;
  countUserSockets(userId: number): number;
  log: { info(msg: string, f?: Record<string, unknown>): void; warn(msg: string, f?: Record<string, unknown>): void };
  /** A socket closed for a limit or a policy (for the security log), with its upgrade's context. */
  onPolicyClose?(fields: { code: number; reason: string; userId?: number } & Record<string, unknown>): void;
}

export const CLOSE = {
  tooBig: 1009,
  restart: 1012,
  unauthorized: 4401,
  full: 4403,
  notFound: 4404,
  slow: 4408,
  removed: 4410,
  tooMany: 4429,
} as const;

type Encoding = LegacySocketConfig["encoding"];

/** The original frame. base64 is what the Go server sent; "bytes" suits its web client's decoder. */
function encodeFrame(clientId: number, clientName: string, roomId: string, text: string, encoding: Encoding): string {
  const bytes = Buffer.from(text, "utf8");
  return JSON.stringify({
    client_id: clientId,
    client_name: clientName,
    room_id: roomId,
    message: encoding === "base64" ? bytes.toString("base64") : Array.from(bytes),
  });
}

/** One serialization per message and encoding, however many sockets receive it. */
const frameCache: Record<Encoding, WeakMap<Message, string>> = { base64: new WeakMap(), bytes: new WeakMap() };
function messageFrame(m: Message, encoding: Encoding): string {
  let frame = frameCache[encoding].get(m);
  if (frame === undefined) {
    frame = encodeFrame(m.senderId, m.senderLogin, m.roomId, m.text, encoding);
    frameCache[encoding].set(m, frame);
  }
  return frame;
}

/**
 * The legacy WebSocket endpoint (/api/v1/rooms/ws?room=&token=): connecting joins, each frame is a
 * message, every room message comes back as the original JSON frame.
 */
export function createLegacySocketServer(deps: LegacySocketDeps) {
  const { config } = deps;
  // Enough bytes for the longest allowed text in UTF-8; the text length is checked after decoding.
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxMessageLength * 4, clientTracking: true });
  /** Legacy sockets per room and user in this process, to leave when the last one closes. */
  const open = new Map<string, number>();

  /** What the upgrade was told about each socket (client IP, request id), for the security log. */
  const contexts = new WeakMap<WebSocket, Record<string, unknown>>();
  function policyClose(ws: WebSocket, fields: { code: number; reason: string; userId?: number }) {
    deps.onPolicyClose?.({ ...contexts.get(ws), ...fields });
  }

  function notice(ws: WebSocket, roomId: string, text: string) {
    if (ws.readyState !== ws.OPEN) return;
    // A peer that does not read is not written to without bound, notices included.
    if (backlog(ws) > config.sendBufferMax) {
      policyClose(ws, { code: CLOSE.slow, reason: "slow consumer" });
      ws.terminate();
      return;
    }
    ws.send(encodeFrame(0, "AnonChat", roomId, text, config.encoding));
  }

    /** Closes for a limit or a policy (not a normal end): the security log hears of it. */
  const POLICY = new Set<number>([CLOSE.tooBig, CLOSE.unauthorized, CLOSE.slow, CLOSE.tooMany]);

  /** Closes cleanly; a paused socket is resumed first, or the closing handshake could not complete. */
  function close(ws: WebSocket, code: number, reason: string, userId?: number) {
    if (POLICY.has(code)) policyClose(ws, { code, reason, ...(userId ? { userId } : {}) });
    ws.resume();
    ws.close(code, reason);
  }

  function closeWith(ws: WebSocket, roomId: string, code: number, reason: string, userId?: number) {
    notice(ws, roomId, reason);
    close(ws, code, reason, userId);
  }

  async function serve(ws: WebSocket, req: IncomingMessage) {
    const query = new URL(req.url ?? "/", "http://localhost").searchParams;
    const parsed = legacySocketQuery.safeParse({ room: query.get("room") ?? "", token: query.get("token") ?? "" });
    let claims: AccessClaims;
    try {
      const token = query.get("token") ?? "";
      claims = await deps.auth.verifyAccessTokenFresh(token);
      if (!(await deps.auth.isSessionActive(claims.sessionId))) throw new AppError("UNAUTHORIZED", MESSAGES.sessionRevoked);
    } catch {
      ws.send("error.token");
      close(ws, CLOSE.unauthorized, "invalid token");
      return;
    }
    if (!parsed.success) {
      closeWith(ws, "", CLOSE.notFound, MESSAGES.roomNotFound);
      return;
    }
    const roomId = parsed.data.room;
    const user: Sender = { id: claims.userId, login: claims.login };
    if (deps.countUserSockets(claims.userId) >= config.maxConnectionsPerUser) {
      closeWith(ws, roomId, CLOSE.tooMany, "too many connections", claims.userId);
      return;
    }
    // Count this socket now, in the same tick as the check: sockets of one user connecting at
    // once must not all pass the cap while their joins are still in flight.
    const unregister = deps.registry.add({
      userId: claims.userId,
      sessionId: claims.sessionId,
      close: (code, reason) => closeWith(ws, roomId, code, reason, claims.userId),
    });
    ws.once("close", unregister);
    try {
      await deps.rooms.join(user, roomId, "legacy");
    } catch (err) {
      if (err instanceof AppError && err.code === "NOT_FOUND") return closeWith(ws, roomId, CLOSE.notFound, MESSAGES.roomNotFound);
      // Full, or banned: the message says which.
      if (err instanceof AppError && err.code === "FORBIDDEN") return closeWith(ws, roomId, CLOSE.full, err.message);
      deps.log.warn("legacy join failed", { err });
      close(ws, CLOSE.restart, "try again");
      return;
    }
    const key = `${roomId}|${claims.userId}`;
    if (ws.readyState !== ws.OPEN) {
      // Closed while joining: undo the join unless another legacy socket holds it.
      await leaveIfLast(user, roomId, open.get(key) ?? 0);
      return;
    }
    open.set(key, (open.get(key) ?? 0) + 1);
    const abort = new AbortController();
    /** Whether the stream listens (frames may be read), and frames read but not yet stored. */
    let ready = false;
    let pending = 0;

    // Outgoing: the room's ordered stream from the live edge.
    void (async () => {
      try {
        const stream = await deps.rooms.openStream(user, roomId, {
          afterSeq: undefined,
          signal: abort.signal,
          isBackedUp: () => backlog(ws) > config.sendBufferMax,
          onOverflow: () => {
            policyClose(ws, { code: CLOSE.slow, reason: "slow consumer", userId: claims.userId });
            ws.terminate();
          },
          // Read frames only now: a message sent at once must be stored, and echoed to its sender.
          onReady: () => {
            ready = true;
            resumeIfDue();
          },
          // The old protocol has frames for chat messages only: no presence, typing or edits.
          storedOnly: true,
        });
        // The last kick or ban about this user: if the stream then ends, it is why.
        let removedBy: "kick" | "ban" | undefined;
        for await (const item of stream) {
          if (item.type === "removed") return closeWith(ws, roomId, CLOSE.removed, MESSAGES.roomRemoved);
          if (ws.readyState !== ws.OPEN) return;
          if (item.type !== "event" || item.event.kind !== "message") continue;
          const m = item.event.message;
          if (m.kind === "text") ws.send(messageFrame(m, config.encoding));
          else if ((m.kind === "kick" || m.kind === "ban") && m.subjectId === claims.userId) removedBy = m.kind;
        }
        // The stream ended without removal: the user left through the API, or was kicked or banned.
        if (abort.signal.aborted) return;
        const why = removedBy === "ban" ? MESSAGES.bannedByOwner : removedBy === "kick" ? MESSAGES.kickedByOwner : MESSAGES.notMember;
        closeWith(ws, roomId, CLOSE.full, why);
      } catch (err) {
        if (abort.signal.aborted) return;
        // Removed or left between the join and the stream's start.
        if (err instanceof AppError && err.code === "NOT_FOUND") return closeWith(ws, roomId, CLOSE.removed, MESSAGES.roomRemoved);
        if (err instanceof AppError && err.code === "FORBIDDEN") return closeWith(ws, roomId, CLOSE.full, err.message);
        deps.log.warn("legacy stream failed", { err });
        close(ws, CLOSE.restart, "try again");
      }
    })();

    // Incoming: every frame is one message, stored in the order this socket sent them. A client
    // that sends faster than its messages are stored is paused: the frames wait in its own TCP
    // connection, not in this process's memory. Past its send limit, what a client sends until the
    // limit lets it send again is dropped as it arrives: a flood costs the server one refusal and
    // one notice per window, and no database work per frame. (Pausing the socket for the window
    // instead would keep the flood in TCP's buffers and store it after the window, ahead of
    // anything the client sends later.)
    let chain = Promise.resolve();
    let throttledUntil = 0;
    const resumeIfDue = () => {
      if (ready && pending < config.maxPendingSends && ws.readyState === ws.OPEN) ws.resume();
    };
    ws.on("message", (data: RawData) => {
      if (Date.now() < throttledUntil) return;
      const text = rawToString(data).trim();
      if (text.length === 0) return;
      if (text.length > config.maxMessageLength && charCount(text) > config.maxMessageLength) {
        close(ws, CLOSE.tooBig, "message too long", claims.userId);
        return;
      }
      if (++pending >= config.maxPendingSends) ws.pause();
      chain = chain
        .then(() => send(text))
        .finally(() => {
          pending--;
          resumeIfDue();
        });
    });
    async function send(text: string) {
      if (ws.readyState !== ws.OPEN || Date.now() < throttledUntil) return;
      try {
        await deps.rooms.send({ id: claims.userId, login: claims.login }, { roomId, text });
      } catch (err) {
        if (!(err instanceof AppError)) {
          deps.log.warn("legacy send failed", { err });
          return notice(ws, roomId, "message not sent: server error, try again");
        }
        if (err.code === "NOT_FOUND") return closeWith(ws, roomId, CLOSE.removed, MESSAGES.roomRemoved);
        if (err.code === "FORBIDDEN") return closeWith(ws, roomId, CLOSE.full, err.message);
        if (err.code === "TOO_MANY_REQUESTS") {
          const waitMs = (err.retryAfterSeconds ?? 1) * 1000;
          throttledUntil = Date.now() + waitMs;
        }
        notice(ws, roomId, `message not sent: ${err.message}`);
      }
    }

    // Liveness and session checks: a peer that misses a pong is dropped; a revoked session closes.
    let alive = true;
    ws.on("pong", () => (alive = true));
    const timer = setInterval(() => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
      deps.auth.isSessionActive(claims.sessionId).then(
        (active) => {
          if (!active) closeWith(ws, roomId, CLOSE.unauthorized, MESSAGES.sessionRevoked);
        },
        () => undefined,
      );
    }, config.pingIntervalSeconds * 1000);
    timer.unref();

    ws.once("close", () => {
      clearInterval(timer);
      abort.abort();
      unregister();
      const left = (open.get(key) ?? 1) - 1;
      if (left <= 0) open.delete(key);
      else open.set(key, left);
      void leaveIfLast(user, roomId, left);
    });
  }

  async function leaveIfLast(user: Sender, roomId: string, remaining: number) {
    if (remaining > 0) return;
    try {
      await deps.rooms.leaveIfJoinedByLegacy(user, roomId);
    } catch (err) {
      deps.log.warn("legacy leave failed", { err });
    }
  }

  return {
    /** context: what the security log says of this socket besides its user (client IP, request id). */
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, context: Record<string, unknown> = {}) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        contexts.set(ws, context);
        corkPerTurn(ws);
        // ws does not keep frames that arrive before a listener: hold them in the socket until
        // this one has joined and listens to the room (resumed in serve()).
        ws.pause();
        // ws is already closing with the right code (1009 for a frame too large): let the close
        // frame out, and cut the socket only if the peer never completes the handshake.
        ws.on("error", () => setTimeout(() => ws.terminate(), 2000).unref());
        serve(ws, req).catch((err) => {
          deps.log.warn("legacy socket failed", { err });
          ws.terminate();
        });
      });
    },
    /** Closes every legacy socket (shutdown): old clients reconnect on their own. */
    closeAll(code: number, reason: string) {
      for (const ws of wss.clients) close(ws, code, reason);
    },
    count: () => wss.clients.size,
  };
}

function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}
