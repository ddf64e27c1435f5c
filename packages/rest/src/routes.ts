import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { isConnectionError, type AuthApi, type RoomService, type Sender } from "@anonchat/core";
import {
  AppError,
  describeIssues,
  httpStatusOf,
  legacyCreateRoomBody,
  legacyLoginBody,
  legacyRegisterBody,
  legacyMemberBody,
  legacyRoomIdBody,
  legacyTokenBody,
  type MemberInput,
  type Session,
} from "@anonchat/shared";
import { readJsonBody } from "./body.js";
import { sendEnvelope, sendRawJson } from "./envelope.js";
import { buildOpenApi } from "./openapi.js";

const openApiDocument = buildOpenApi();

export interface RestDeps {
  auth: AuthApi;
  /** null where only auth is served (the split deployment's auth role): room routes are absent. */
  rooms: RoomService | null;
  maxBodyBytes: number;
  logError(err: unknown, fields: Record<string, unknown>): void;
}

export interface RequestInfo {
  requestId: string;
  clientIp: string;
  /** Headers every response carries (rate-limit state). */
  headers: Record<string, string>;
}

type Reply = { status: number; message: string; data?: unknown } | { status: number; raw: unknown };

type Handler = (req: IncomingMessage, info: RequestInfo) => Promise<Reply>;

const tokenPair = (s: Session) => ({ access_token: s.accessToken, refresh_token: s.refreshToken });

async function parseBody<S extends z.ZodType>(req: IncomingMessage, schema: S, maxBytes: number): Promise<z.output<S>> {
  const body = await readJsonBody(req, maxBytes);
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new AppError("BAD_REQUEST", describeIssues(parsed.error));
  return parsed.data;
}

async function bearer(req: IncomingMessage, auth: AuthApi) {
  const header = req.headers.authorization ?? "";
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m?.[1]) throw new AppError("UNAUTHORIZED", "missing bearer token");
  return auth.verifyAccessTokenFresh(m[1]);
}

/** The /api/v1 adapter: parse with the shared schema, call one service, map the result. */
export function createRestHandler(deps: RestDeps) {
  const { auth, maxBodyBytes } = deps;
  const roomRoutes = (rooms: RoomService): Record<string, Partial<Record<string, Handler>>> => ({
    "/api/v1/rooms/create": {
      POST: async (req) => {
        const claims = await bearer(req, auth);
        const body = await parseBody(req, legacyCreateRoomBody, maxBodyBytes);
        const room = await rooms.create(claims.userId, { name: body.name, maxMembers: body.max_user });
        return { status: 201, message: "room created", data: { room_id: room.id } };
      },
    },
    "/api/v1/rooms/remove": {
      DELETE: async (req) => {
        const claims = await bearer(req, auth);
        const body = await parseBody(req, legacyRoomIdBody, maxBodyBytes);
        await rooms.remove(claims.userId, body.room_id);
        return { status: 200, message: "room removed" };
      },
    },
    // The owner's moderation, in the same shape as remove: the member's live sockets of both
    // protocols end at once.
    ...memberRoute("kick", "member removed", (owner, input) => rooms.kick(owner, input)),
    ...memberRoute("ban", "member banned", (owner, input) => rooms.ban(owner, input)),
    ...memberRoute("unban", "member unbanned", (owner, input) => rooms.unban(owner, input)),
    ...memberRoute("transfer", "ownership transferred", (owner, input) => rooms.transfer(owner, input)),
  });
  function memberRoute(
    action: string,
    message: string,
    run: (owner: Sender, input: MemberInput) => Promise<unknown>,
  ): Record<string, Partial<Record<string, Handler>>> {
    return {
      [`/api/v1/rooms/${action}`]: {
        POST: async (req) => {
          const claims = await bearer(req, auth);
          const body = await parseBody(req, legacyMemberBody, maxBodyBytes);
          await run({ id: claims.userId, login: claims.login }, { roomId: body.room_id, userId: body.user_id });
          return { status: 200, message };
        },
      },
    };
  }
  const routes: Record<string, Partial<Record<string, Handler>>> = {
    "/api/v1/status": {
      GET: async () => ({ status: 200, message: "AnonChat is running" }),
    },
    "/api/v1/openapi.json": {
      GET: async () => ({ status: 200, raw: openApiDocument }),
    },
    "/api/v1/auth/register": {
      POST: async (req, info) => {
        const body = await parseBody(req, legacyRegisterBody, maxBodyBytes);
        return { status: 200, message: "user registered", data: tokenPair(await auth.register(body, info.clientIp)) };
      },
    },
    "/api/v1/auth/login": {
      POST: async (req, info) => {
        const body = await parseBody(req, legacyLoginBody, maxBodyBytes);
        return { status: 200, message: "logged in", data: tokenPair(await auth.login(body, info.clientIp)) };
      },
    },
    "/api/v1/auth/refresh": {
      POST: async (req) => {
        const body = await parseBody(req, legacyTokenBody, maxBodyBytes);
        return { status: 200, message: "tokens refreshed", data: tokenPair(await auth.refresh(body.token)) };
      },
    },
    "/api/v1/auth/logout": {
      POST: async (req) => {
        const body = await parseBody(req, legacyTokenBody, maxBodyBytes);
        await auth.logout(body.token);
        return { status: 200, message: "logged out" };
      },
    },
    "/api/v1/auth/validate": {
      GET: async (req) => {
        const claims = await bearer(req, auth);
        return { status: 200, message: "token is valid", data: await auth.me(claims.userId) };
      },
    },
    ...(deps.rooms ? roomRoutes(deps.rooms) : {}),
  };

  return async function handleRest(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const route = routes[path.length > 1 ? path.replace(/\/+$/, "") : path];
    const method = req.method ?? "GET";
    if (!route) return sendEnvelope(res, 404, "error", "not found", null, info.headers);
    const handler = route[method];
    if (!handler) {
      return sendEnvelope(res, 405, "error", "method not allowed", null, {
        ...info.headers,
        Allow: Object.keys(route).join(", "),
      });
    }
    try {
      const reply = await handler(req, info);
      if ("raw" in reply) return sendRawJson(res, reply.status, reply.raw, info.headers);
      sendEnvelope(res, reply.status, "success", reply.message, reply.data ?? null, info.headers);
    } catch (err) {
      if (err instanceof AppError) {
        const headers = { ...info.headers };
        if (err.retryAfterSeconds !== undefined) headers["Retry-After"] = String(err.retryAfterSeconds);
        const data = err.retryAfterSeconds !== undefined ? { retry_after: err.retryAfterSeconds } : null;
        return sendEnvelope(res, httpStatusOf(err.code), "error", err.message, data, headers);
      }
      if (isConnectionError(err)) {
        // The database is unreachable: nothing was done; the client may retry shortly.
        return sendEnvelope(res, 503, "error", "the service is temporarily unavailable, try again shortly", null, {
          ...info.headers,
          "Retry-After": "1",
        });
      }
      deps.logError(err, { requestId: info.requestId, route: path });
      sendEnvelope(res, 500, "error", "internal server error", null, info.headers);
    }
  };
}
