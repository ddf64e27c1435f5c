import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "./schema.js";

type Db = Kysely<Database>;

export interface RotateInput {
  oldHash: string;
  newHash: string;
  newExpiresAt: Date;
  /** The successor sealed for the old token's holder; null when there is no grace to serve. */
  sealedSuccessor: string | null;
  /** The caller's clock: rotation time, expiry and grace are all judged against it. */
  now: Date;
  /** How long after a rotation the rotated token may be presented again; 0 turns the grace off. */
  graceMs: number;
}

export type RotateResult =
  | { status: "rotated"; sessionId: string; userId: number }
  /** Rotated moments ago and the successor is still current: hand out that same successor. */
  | { status: "grace"; sessionId: string; userId: number; successorHash: string; sealedSuccessor: string }
  /** A rotated token presented again outside the grace. familyRevoked is false when it already was. */
  | { status: "reused"; sessionId: string; userId: number; familyRevoked: boolean }
  | { status: "invalid" };

/**
 * Spends a refresh token and stores its successor, or decides what a spent one means, in one
 * transaction. It first locks the family (the session row): every rotation, grace decision and
 * reuse revocation of a family takes that lock before it reads or writes any of the family's
 * tokens, so they run one at a time across connections and processes, and always lock in the same
 * order (session, then tokens), so they cannot deadlock. Of concurrent refreshes of one token
 * exactly one rotates; the others, once they hold the lock, read the rotation it committed (each
 * statement in READ COMMITTED sees what was committed before it began) and get its successor or a
 * revocation, never a second successor. A logout updates the session row, so it waits for them
 * too: no decision is made on a session revoked meanwhile.
 */
export async function rotateRefreshToken(db: Db, input: RotateInput): Promise<RotateResult> {
  return db.transaction().execute(async (trx) => {
    const owner = await trx
      .selectFrom("refresh_tokens")
      .select("session_id")
      .where("token_hash", "=", input.oldHash)
      .executeTakeFirst();
    if (!owner) return { status: "invalid" };
    // NO KEY UPDATE: the weakest lock that excludes another refresh of the family and a logout's
    // update of the row, while foreign-key checks against the session still pass.
    const session = await trx
      .selectFrom("sessions")
      .select(["user_id", "expires_at", "revoked_at"])
      .where("id", "=", owner.session_id)
      .forNoKeyUpdate()
      .executeTakeFirst();
    // Read only now, under the family's lock: a rotation that committed while this waited is seen.
    const token = await trx
      .selectFrom("refresh_tokens")
      .select(["expires_at", "used_at", "successor_hash", "successor_sealed"])
      .where("token_hash", "=", input.oldHash)
      .executeTakeFirst();
    if (!session || !token) return { status: "invalid" };
    const now = input.now.getTime();
    const alive = session.revoked_at === null && session.expires_at.getTime() > now;
    const who = { sessionId: owner.session_id, userId: session.user_id };

    if (token.used_at === null) {
      if (!alive || token.expires_at.getTime() <= now) return { status: "invalid" };
      await rotate(trx, input, owner.session_id, session.expires_at);
      return { status: "rotated", ...who };
    }

    // Spent. A revoked family stays revoked: nothing is handed out, nothing more to revoke.
    if (session.revoked_at !== null) return { status: "reused", ...who, familyRevoked: false };
    const { successor_hash: successorHash, successor_sealed: sealedSuccessor } = token;
    if (successorHash !== null && sealedSuccessor !== null && now - token.used_at.getTime() < input.graceMs) {
      const successor = await trx
        .selectFrom("refresh_tokens")
        .select(["used_at", "expires_at"])
        .where("token_hash", "=", successorHash)
        .executeTakeFirst();
      if (successor && successor.used_at === null) {
        // The answer the successor itself would get: an expired session is no reuse to punish.
        if (!alive || successor.expires_at.getTime() <= now) return { status: "invalid" };
        return { status: "grace", ...who, successorHash, sealedSuccessor };
      }
    }
    await trx.updateTable("sessions").set({ revoked_at: sql`now()` }).where("id", "=", owner.session_id).execute();
    return { status: "reused", ...who, familyRevoked: true };
  });
}

async function rotate(trx: Transaction<Database>, input: RotateInput, sessionId: string, sessionExpiresAt: Date): Promise<void> {
  // A family is a chain with one current token, so once that one is rotated no earlier rotated
  // token can be served again (its successor is spent): drop their sealed successors rather than
  // keep, for the session's lifetime, something a stolen old token could open.
  await trx
    .updateTable("refresh_tokens")
    .set({ successor_sealed: null })
    .where("session_id", "=", sessionId)
    .where("successor_sealed", "is not", null)
    .execute();
  const spent = await trx
    .updateTable("refresh_tokens")
    .set({ used_at: input.now, successor_hash: input.newHash, successor_sealed: input.sealedSuccessor })
    .where("token_hash", "=", input.oldHash)
    .where("used_at", "is", null)
    .executeTakeFirst();
  // The family lock makes this impossible; were it ever lost, a second successor must not be stored.
  if (spent.numUpdatedRows !== 1n) throw new Error("refresh token was rotated without the family lock");
  await trx
    .insertInto("refresh_tokens")
    .values({
      token_hash: input.newHash,
      session_id: sessionId,
      expires_at: new Date(Math.min(input.newExpiresAt.getTime(), sessionExpiresAt.getTime())),
      used_at: null,
      successor_hash: null,
      successor_sealed: null,
    })
    .execute();
}
