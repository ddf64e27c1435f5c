import { z } from "zod";
import {
  legacyCreateRoomBody,
  legacyLoginBody,
  legacyRegisterBody,
  legacyMemberBody,
  legacyRoomIdBody,
  legacySocketQuery,
  legacyTokenBody,
} from "@anonchat/shared";

/**
 * The OpenAPI 3.1 description of /api/v1, generated from the same zod schemas the adapter parses
 * with, so the document cannot drift from the validation. Served at /api/v1/openapi.json.
 */
type JsonSchema = Record<string, unknown>;

const schemaOf = (s: z.ZodType): JsonSchema => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: "input", target: "draft-2020-12", unrepresentable: "any" });
  return rest;
};

const envelope = (data: JsonSchema): JsonSchema => ({
  type: "object",
  required: ["status", "message", "data"],
  properties: { status: { enum: ["success", "error"] }, message: { type: "string" }, data },
});
const nullData: JsonSchema = { type: "null" };
const tokenPair: JsonSchema = {
  type: "object",
  required: ["access_token", "refresh_token"],
  properties: { access_token: { type: "string" }, refresh_token: { type: "string" } },
};
const user: JsonSchema = {
  type: "object",
  required: ["id", "login", "email"],
  properties: { id: { type: "integer" }, login: { type: "string" }, email: { type: "string" } },
};

const json = (schema: JsonSchema) => ({ "application/json": { schema } });
const ok = (status: number, description: string, data: JsonSchema) => ({ [status]: { description, content: json(envelope(data)) } });
const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((c) => [
      c,
      { description: ERROR_TEXT[c] ?? "error", content: json({ $ref: "#/components/schemas/ErrorEnvelope" }) },
    ]),
  );
const ERROR_TEXT: Record<number, string> = {
  400: "bad body or a failed validation; the message names the field",
  401: "missing, invalid or expired token",
  403: "not allowed (not the room's owner)",
  404: "no such room",
  409: "login or email taken",
  429: "rate limited: see Retry-After and data.retry_after",
};
const body = (s: z.ZodType) => ({ required: true, content: json(schemaOf(s)) });
const bearer = [{ bearer: [] }];

export function buildOpenApi(): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: {
      title: "AnonChat /api/v1",
      version: "1.0.0",
      description:
        "The original AnonChat's REST contract. Every response is the envelope {status, message, data}; " +
        "every response carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset.",
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
      schemas: { ErrorEnvelope: envelope({ oneOf: [nullData, { type: "object" }] }) },
    },
    paths: {
      "/api/v1/status": { get: { summary: "Liveness of the API", responses: ok(200, "running", nullData) } },
      "/api/v1/auth/register": {
        post: {
          summary: "Create a user and a session",
          requestBody: body(legacyRegisterBody),
          responses: { ...ok(200, "registered", tokenPair), ...errors(400, 409, 429) },
        },
      },
      "/api/v1/auth/login": {
        post: {
          summary: "Start a session",
          requestBody: body(legacyLoginBody),
          responses: { ...ok(200, "logged in", tokenPair), ...errors(400, 401, 429) },
        },
      },
      "/api/v1/auth/refresh": {
        post: {
          summary:
            "Rotate a refresh token: a new pair; the old token is spent. Presented again within the reuse grace it gets the same new refresh token; later, reusing it revokes the session",
          requestBody: body(legacyTokenBody),
          responses: { ...ok(200, "a new pair", tokenPair), ...errors(400, 401, 429) },
        },
      },
      "/api/v1/auth/logout": {
        post: {
          summary: "Revoke the session of a refresh token (no access token needed)",
          requestBody: body(legacyTokenBody),
          responses: { ...ok(200, "logged out, also for an unknown token", nullData), ...errors(400, 429) },
        },
      },
      "/api/v1/auth/validate": {
        get: {
          summary: "The user behind an access token",
          security: bearer,
          responses: { ...ok(200, "valid", user), ...errors(401, 429) },
        },
      },
      "/api/v1/rooms/create": {
        post: {
          summary: "Create a room; the creator is its owner and first member (403 past MAX_ROOMS_PER_USER)",
          security: bearer,
          requestBody: body(legacyCreateRoomBody),
          responses: {
            ...ok(201, "created", { type: "object", required: ["room_id"], properties: { room_id: { type: "string" } } }),
            ...errors(400, 401, 403, 429),
          },
        },
      },
      "/api/v1/rooms/remove": {
        delete: {
          summary: "Remove a room (owner only); its live sockets are told and closed with 4410",
          security: bearer,
          requestBody: body(legacyRoomIdBody),
          responses: { ...ok(200, "removed", nullData), ...errors(400, 401, 403, 404, 429) },
        },
      },
      ...Object.fromEntries(
        (
          [
            ["kick", "Remove a member (owner only); they may join again. Their live sockets end at once (legacy: 4403)"],
            ["ban", "Remove a member if present and bar them from joining (owner only); their live sockets end at once"],
            ["unban", "Let a banned user join again (owner only)"],
            ["transfer", "Hand the room to another member (owner only)"],
          ] as const
        ).map(([action, summary]) => [
          `/api/v1/rooms/${action}`,
          {
            post: {
              summary,
              security: bearer,
              requestBody: body(legacyMemberBody),
              responses: { ...ok(200, action, nullData), ...errors(400, 401, 403, 404, 429) },
            },
          },
        ]),
      ),
      "/api/v1/rooms/ws": {
        get: {
          summary:
            "Legacy chat WebSocket: connecting joins the room; each frame sent is a message; each message arrives as " +
            '{"client_id","client_name","room_id","message": base64 of the UTF-8 text}. Closes: 4401 bad token ' +
            "(after the text frame error.token), 4403 room full, 4404 no such room, 4410 room removed, 1009 frame too long.",
          parameters: Object.entries((schemaOf(legacySocketQuery).properties ?? {}) as Record<string, JsonSchema>).map(
            ([name, schema]) => ({ name, in: "query", required: true, schema }),
          ),
          responses: { 101: { description: "switching protocols" }, ...errors(403, 429) },
        },
      },
    },
  };
}
