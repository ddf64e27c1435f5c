import { sql, type Kysely } from "kysely";
import type { Database } from "./schema";

type Db = Kysely<Database>;

/** A session is one refresh-token family: every rotation adds a token to it. */
export async function createSession(
  db: Db,
  input: { sessionId: string; userId: number; expiresAt: Date; tokenHash: string; tokenExpiresAt: Date },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto("sessions")
      .values({ id: input.sessionId, user_id: input.userId, expires_at: input.expiresAt, revoked_at: null })
      .execute();
    await trx
      .insertInto("refresh_tokens")
      .values({
        token_hash: input.tokenHash,
        session_id: input.sessionId,
        expires_at: input.tokenExpiresAt,
        used_at: null,
      })
      .execute();
  });
}

export type RotateResult =
  | { status: "rotated"; sessionId: string; userId: number }
  | { status: "reused"; sessionId: string; userId: number }
  | { status: "invalid" };

/**
 * Spends a refresh token and stores its successor, atomically: of two concurrent calls with one
 * token exactly one sees the unused row. A token that was already spent is reuse: the whole family
 * is revoked in the same transaction.
 */
export async function rotateRefreshToken(
  db: Db,
  input: { oldHash: string; newHash: string; newExpiresAt: Date },
): Promise<RotateResult> {
  return db.transaction().execute(async (trx) => {
    const spent = await trx
      .updateTable("refresh_tokens")
      .set({ used_at: sql`now()` })
      .where("token_hash", "=", input.oldHash)
      .where("used_at", "is", null)
      .returning(["session_id", "expires_at"])
      .executeTakeFirst();
    if (!spent) {
      const known = await trx
        .selectFrom("refresh_tokens")
        .innerJoin("sessions", "sessions.id", "refresh_tokens.session_id")
        .select(["sessions.id as sessionId", "sessions.user_id as userId"])
        .where("refresh_tokens.token_hash", "=", input.oldHash)
        .executeTakeFirst();
      if (!known) return { status: "invalid" };
      await trx
        .updateTable("sessions")
        .set({ revoked_at: sql`now()` })
        .where("id", "=", known.sessionId)
        .where("revoked_at", "is", null)
        .execute();
      return { status: "reused", sessionId: known.sessionId, userId: known.userId };
    }
    const session = await trx
      .selectFrom("sessions")
      .select(["id", "user_id", "expires_at", "revoked_at"])
      .where("id", "=", spent.session_id)
      .executeTakeFirst();
    const now = Date.now();
    if (!session || session.revoked_at !== null || session.expires_at.getTime() <= now || spent.expires_at.getTime() <= now) {
      return { status: "invalid" };
    }
    await trx
      .insertInto("refresh_tokens")
      .values({
        token_hash: input.newHash,
        session_id: session.id,
        expires_at: new Date(Math.min(input.newExpiresAt.getTime(), session.expires_at.getTime())),
        used_at: null,
      })
      .execute();
    return { status: "rotated", sessionId: session.id, userId: session.user_id };
  });
}

/** Revokes the family a refresh token belongs to; returns its session id, if the token was known. */
export async function revokeSessionByTokenHash(db: Db, tokenHash: string): Promise<string | undefined> {
  const row = await db
    .selectFrom("refresh_tokens")
    .select("session_id")
    .where("token_hash", "=", tokenHash)
    .executeTakeFirst();
  if (!row) return undefined;
  await revokeSession(db, row.session_id);
  return row.session_id;
}

export async function revokeSession(db: Db, sessionId: string): Promise<void> {
  await db
    .updateTable("sessions")
    .set({ revoked_at: sql`now()` })
    .where("id", "=", sessionId)
    .where("revoked_at", "is", null)
    .execute();
}

export async function isSessionActive(db: Db, sessionId: string): Promise<boolean> {
  const row = await db
    .selectFrom("sessions")
    .select("id")
    .where("id", "=", sessionId)
    .where("revoked_at", "is", null)
    .where("expires_at", ">", new Date())
    .executeTakeFirst();
  return row !== undefined;
}
