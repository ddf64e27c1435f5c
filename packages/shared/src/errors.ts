/**
 * One error model. Services throw AppError; the tRPC layer and the HTTP adapter each map the code
 * once (see httpStatusOf). The message is always safe to show to a client.
 */
export const ERROR_CODES = [
  "BAD_REQUEST",
  "UNAUTHORIZED",
  "FORBIDDEN",
  "NOT_FOUND",
  "CONFLICT",
  "PAYLOAD_TOO_LARGE",
  "TOO_MANY_REQUESTS",
  "SERVICE_UNAVAILABLE",
  "INTERNAL",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class AppError extends Error {
  override readonly name = "AppError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Seconds a client should wait, for TOO_MANY_REQUESTS and SERVICE_UNAVAILABLE. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_REQUESTS: 429,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL: 500,
};

export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code];
}

/** Messages clients match on; kept as constants so tests and the web client agree. */
export const MESSAGES = {
  invalidCredentials: "invalid login or password",
  roomFull: "room is full",
  tooManyRooms: "you are in too many rooms",
  roomNotFound: "room not found",
  roomRemoved: "room removed",
  notMember: "you are not a member of this room",
  notOwner: "only the room owner can do that",
  tokenInvalid: "invalid or expired token",
  sessionRevoked: "session revoked",
  banned: "you are banned from this room",
  kickedByOwner: "you were removed from the room by its owner",
  bannedByOwner: "you were banned from the room by its owner",
  messageNotFound: "message not found",
  notAuthor: "you can only edit your own messages",
  notAuthorOrOwner: "only the author or the room owner can delete a message",
  messageDeleted: "message was deleted",
  memberNotFound: "that user is not a member of this room",
  userNotFound: "no such user",
  notYourself: "the owner cannot do that to themselves",
} as const;
