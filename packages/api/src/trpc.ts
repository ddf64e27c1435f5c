import { initTRPC, TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { ZodError } from "zod";
import { isConnectionError, type AccessClaims, type AuthApi, type RoomService } from "@anonchat/core";
import { AppError, describeIssues, MESSAGES, type ErrorCode } from "@anonchat/shared";
import { subscriptionRefOf, type SubscriptionRef } from "./encoder.js";

// ---- context -------------------------------------------------------------------------------

/** What a WebSocket connection offers its procedures (absent over HTTP). */
export interface LiveConnection {
  /** True once the socket's send buffer passes its bound: the subscriber is too slow. */
  isBackedUp(): boolean;
  /** Drops the whole connection (the client reconnects and resumes from lastEventId). */
  drop(code: number, reason: string): void;
  /**
   * Takes one of the socket's (and its user's) subscription places for as long as a
   * subscription lives; throws TOO_MANY_REQUESTS past either cap. Call the result once at its end.
   */
  openSubscription(): () => void;
  /**
   * Sends one data frame of the subscription `ref` straight to the socket, as tRPC's adapter
   * would have (tracked when trackedId is given): the fan-out's hot path skips tRPC's
   * per-frame work. Frames keep their order with everything else sent on the socket.
   */
  send(ref: SubscriptionRef, trackedId: string | undefined, data: object): void;
}

export interface CallInfo {
  path: string;
  type: "query" | "mutation" | "subscription";
  /** The verified caller, or null for an anonymous call. */
  userId: number | null;
}

/** The budgets every call is held to, whatever transport brought it (see the server's CallBudgets). */
export interface CallPolicy {
  /**
   * Before any of the call's work: charges its rate budgets and waits for its turn among the
   * caller's concurrent calls, or throws an AppError (TOO_MANY_REQUESTS with a retry time).
   * The returned function ends the call's turn.
   */
  admit(call: CallInfo): Promise<() => void>;
}

export interface Context {
  /** rooms is null in a process that serves only auth (the split deployment's auth role). */
  services: { auth: AuthApi; rooms: RoomService | null };
  /** Verified access-token claims, or null when the caller sent none or a bad one. */
  auth: AccessClaims | null;
  clientIp: string;
  requestId: string;
  connection: LiveConnection | null;
  policy: CallPolicy;
  /** A subscription over the socket: its own id, so it can write its frames itself. */
  subscription?: SubscriptionRef;
  /** Logs an unexpected error with the request id; never receives tokens or passwords. */
  logError(err: unknown, where: string): void;
}

// ---- init ----------------------------------------------------------------------------------

const TRPC_CODE: Record<ErrorCode, TRPC_ERROR_CODE_KEY> = {
  BAD_REQUEST: "BAD_REQUEST",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  TOO_MANY_REQUESTS: "TOO_MANY_REQUESTS",
  SERVICE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
  INTERNAL: "INTERNAL_SERVER_ERROR",
};

/** The database is unreachable: nothing was done, the client may retry shortly. */
const DATABASE_DOWN = new AppError("SERVICE_UNAVAILABLE", "the service is temporarily unavailable, try again shortly", 1);

export function toTRPCError(err: unknown): TRPCError {
  if (err instanceof TRPCError) return err;
  if (isConnectionError(err)) err = DATABASE_DOWN;
  if (err instanceof AppError) return new TRPCError({ code: TRPC_CODE[err.code], message: err.message, cause: err });
  return new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "internal server error", cause: err });
}

const t = initTRPC.context<Context>().create({
  isDev: false,
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    let message = shape.message;
    if (cause instanceof ZodError) message = describeIssues(cause);
    else if (error.code === "INTERNAL_SERVER_ERROR") message = "internal server error";
    const retryAfter = cause instanceof AppError ? cause.retryAfterSeconds : undefined;
    return {
      ...shape,
      message,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        ...(retryAfter !== undefined ? { retryAfter } : {}),
      },
    };
  },
});

// ---- procedures ----------------------------------------------------------------------------

export const router = t.router;

/** Maps AppError to tRPC codes once, and logs what no service expected. */
const errorMapping = t.middleware(async ({ ctx, next, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    const mapped = cause instanceof AppError || isConnectionError(cause) ? toTRPCError(cause) : result.error;
    if (mapped.code === "INTERNAL_SERVER_ERROR") ctx.logError(cause ?? result.error, path);
    if (mapped !== result.error) throw mapped;
  }
  return result;
});

/**
 * Every call is admitted by the policy before its input is even parsed, over HTTP and over the
 * socket alike. Subscriptions need the socket: its caps and token expiry hold them in bounds.
 */
const admission = t.middleware(async ({ ctx, next, path, type, getRawInput }) => {
  if (type === "subscription" && !ctx.connection) {
    throw new TRPCError({ code: "METHOD_NOT_SUPPORTED", message: "subscriptions are served over the WebSocket at /trpc" });
  }
  const end = await ctx.policy.admit({ path, type, userId: ctx.auth?.userId ?? null });
  try {
    if (type !== "subscription") return await next();
    return await next({ ctx: { subscription: subscriptionRefOf(await getRawInput()) } });
  } finally {
    end();
  }
});

export const publicProcedure = t.procedure.use(errorMapping).use(admission);

/** Needs a valid access token that has not expired, checked on every call (also over a socket). */
export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.auth || ctx.auth.expiresAt <= Date.now()) {
    throw new TRPCError({ code: "UNAUTHORIZED", message: MESSAGES.tokenInvalid });
  }
  return next({ ctx: { ...ctx, auth: ctx.auth } });
});

/** A protected procedure of the chat service: the process must hold the room service. */
export const chatProcedure = protectedProcedure.use(({ ctx, next }) => {
  const rooms = ctx.services.rooms;
  if (!rooms) throw new TRPCError({ code: "NOT_FOUND", message: "room procedures are served by the chat service" });
  return next({ ctx: { ...ctx, rooms } });
});
