import { sql, type Kysely } from "kysely";
import type { PresenceMember } from "@anonchat/shared";
import type { Database } from "./schema.js";

type Db = Kysely<Database>;

/** Who has a live connection to a room, per process (instance); rows older than the TTL are dead. */

export async function markOnline(db: Db, roomId: string, userId: number, instanceId: string): Promise<void> {
  await db
    .insertInto("room_presence")
    .values({ room_id: roomId, user_id: userId, instance_id: instanceId })
    .onConflict((oc) => oc.columns(["room_id", "user_id", "instance_id"]).doUpdateSet({ seen_at: sql`now()` }))
    .execute();
}

export async function markOffline(db: Db, roomId: string, userId: number, instanceId: string): Promise<void> {
  await db
    .deleteFrom("room_presence")
    .where("room_id", "=", roomId)
    .where("user_id", "=", userId)
    .where("instance_id", "=", instanceId)
    .execute();
}

/** Keeps this process's rows alive; returns which (room, user) pairs they are. */
export async function heartbeat(db: Db, instanceId: string): Promise<Array<{ roomId: string; userId: number }>> {
  const rows = await db
    .updateTable("room_presence")
    .set({ seen_at: sql`now()` })
    .where("instance_id", "=", instanceId)
    .returning(["room_id", "user_id"])
    .execute();
  return rows.map((r) => ({ roomId: r.room_id, userId: r.user_id }));
}

/**
 * Writes back rows this process holds that were swept meanwhile (it lost the database for longer
 * than the TTL). Rooms removed meanwhile are skipped.
 */
export async function restore(db: Db, instanceId: string, held: Array<{ roomId: string; userId: number }>): Promise<void> {
  for (let i = 0; i < held.length; i += 1000) {
    const values = sql.join(held.slice(i, i + 1000).map((h) => sql`(${h.roomId}::text, ${h.userId}::integer)`));
    await sql`insert into room_presence (room_id, user_id, instance_id)
      select v.room_id, v.user_id, ${instanceId} from (values ${values}) as v(room_id, user_id)
       where exists (select 1 from rooms where rooms.id = v.room_id)
      on conflict (room_id, user_id, instance_id) do update set seen_at = now()`.execute(db);
  }
}

const alive = (ttlSeconds: number) => sql<boolean>`seen_at > now() - make_interval(secs => ${ttlSeconds}::integer)`;

/**
 * Members of the room online now (a live row on any process), with their logins; only among
 * `userIds` when given. A row of someone no longer a member (kicked a moment ago, or a row a
 * process has yet to drop) does not count.
 */
export async function listOnline(db: Db, roomId: string, ttlSeconds: number, userIds?: number[]): Promise<PresenceMember[]> {
  if (userIds?.length === 0) return [];
  let q = db
    .selectFrom("room_presence")
    .innerJoin("room_members", (j) =>
      j.onRef("room_members.room_id", "=", "room_presence.room_id").onRef("room_members.user_id", "=", "room_presence.user_id"),
    )
    .innerJoin("users", "users.id", "room_presence.user_id")
    .select(["room_presence.user_id", "users.login"])
    .distinct()
    .where("room_presence.room_id", "=", roomId)
    .where(alive(ttlSeconds));
  if (userIds) q = q.where("room_presence.user_id", "in", userIds);
  const rows = await q.orderBy("users.login").execute();
  return rows.map((r) => ({ userId: r.user_id, login: r.login }));
}

/** Deletes rows past the TTL (a process that died) and says whose they were. */
export async function sweepExpired(db: Db, ttlSeconds: number): Promise<Array<{ roomId: string; userId: number }>> {
  const rows = await db
    .deleteFrom("room_presence")
    .where(sql<boolean>`seen_at <= now() - make_interval(secs => ${ttlSeconds}::integer)`)
    .returning(["room_id", "user_id"])
    .execute();
  return rows.map((r) => ({ roomId: r.room_id, userId: r.user_id }));
}

export async function removeInstance(db: Db, instanceId: string): Promise<Array<{ roomId: string; userId: number }>> {
  const rows = await db
    .deleteFrom("room_presence")
    .where("instance_id", "=", instanceId)
    .returning(["room_id", "user_id"])
    .execute();
  return rows.map((r) => ({ roomId: r.room_id, userId: r.user_id }));
}

/** Forgets every row: only for a database no other process uses (the embedded one, at start). */
export async function clearAll(db: Db): Promise<void> {
  await db.deleteFrom("room_presence").execute();
}
