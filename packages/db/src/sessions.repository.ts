import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";

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

export { rotateRefreshToken, type RotateInput, type RotateResult } from "./refresh-rotation.js";

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
