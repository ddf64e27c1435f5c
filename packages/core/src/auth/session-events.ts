/**
 * What the auth service reports about refresh tokens for the server to log as security events.
 * Never a token: the session and the user are enough to follow a family.
 */
export type SessionEvent =
  /** A rotated token came back outside the grace; familyRevoked is false when it already was. */
  | { type: "refresh_reused"; sessionId: string; userId: number; familyRevoked: boolean }
  /** A rotated token came back within the grace and got its successor again. */
  | { type: "refresh_grace"; sessionId: string; userId: number };
