import { sql, type Kysely, type Transaction } from "kysely";
import type { Room } from "@anonchat/shared";
import type { Database, RoomsTable } from "./schema.js";
import { isUniqueViolation } from "./errors.js";
import { appendEventLocked, type StoredEvent } from "./messages.repository.js";

type Db = Kysely<Database>;

const ROOM_COLUMNS = ["id", "name", "owner_id", "max_members", "member_count", "created_at"] as const;
type RoomRow = Pick<RoomsTable, "id" | "name" | "owner_id" | "max_members" | "member_count"> & { created_at: Date };

export function toRoom(r: RoomRow): Room {
  return {
    id: r.id,
    name: r.name,
    ownerId: r.owner_id,
    maxMembers: r.max_members,
    memberCount: r.member_count,
    createdAt: r.created_at.toISOString(),
  };
}

/**
 * Whether the user may hold one more membership: counted under the user's row lock, so
 * concurrent joins and creations of one user cannot pass the limit together. NO KEY UPDATE
 * serializes those, yet does not hold up the foreign-key checks of the user's sends and logins
 * (FOR UPDATE would make them wait for the join).
 */
async function hasRoomToSpare(trx: Transaction<Database>, userId: number, maxRoomsPerUser: number): Promise<boolean> {
  await trx.selectFrom("users").select("id").where("id", "=", userId).forNoKeyUpdate().execute();
  const r = await trx
    .selectFrom("room_members")
    .select((eb) => eb.fn.countAll<string | number>().as("n"))
    .where("user_id", "=", userId)
    .executeTakeFirstOrThrow();
  return Number(r.n) < maxRoomsPerUser;
}

export type InsertRoomResult = { status: "created"; room: Room } | { status: "id_taken" } | { status: "too_many_rooms" };

/** Creates a room with its owner as first member, within the owner's room limit. */
export async function insertRoom(
  db: Db,
  input: { id: string; name: string; ownerId: number; maxMembers: number; maxRoomsPerUser: number },
): Promise<InsertRoomResult> {
  try {
    return await db.transaction().execute(async (trx): Promise<InsertRoomResult> => {
      if (!(await hasRoomToSpare(trx, input.ownerId, input.maxRoomsPerUser))) return { status: "too_many_rooms" };
      const row = await trx
        .insertInto("rooms")
        .values({
          id: input.id,
          name: input.name,
          owner_id: input.ownerId,
          max_members: input.maxMembers,
          member_count: 1,
          last_seq: 0,
        })
        .returning(ROOM_COLUMNS)
        .executeTakeFirstOrThrow();
      await trx.insertInto("room_members").values({ room_id: input.id, user_id: input.ownerId, via_legacy: false }).execute();
      return { status: "created", room: toRoom(row) };
    });
  } catch (e) {
    if (isUniqueViolation(e, "rooms_pkey")) return { status: "id_taken" };
    throw e;
  }
}

export async function findRoom(db: Db, roomId: string): Promise<Room | undefined> {
  const row = await db.selectFrom("rooms").select(ROOM_COLUMNS).where("id", "=", roomId).executeTakeFirst();
  return row && toRoom(row);
}

/** The room and whether the user is a member, in one round trip. */
export async function findRoomForUser(
  db: Db,
  roomId: string,
  userId: number,
): Promise<{ room: Room; lastSeq: number; isMember: boolean } | undefined> {
  const row = await db
    .selectFrom("rooms")
    .leftJoin("room_members", (j) =>
      j.onRef("room_members.room_id", "=", "rooms.id").on("room_members.user_id", "=", userId),
    )
    .select([
      "rooms.id",
      "rooms.name",
      "rooms.owner_id",
      "rooms.max_members",
      "rooms.member_count",
      "rooms.created_at",
      "rooms.last_seq",
      "room_members.user_id as member_id",
    ])
    .where("rooms.id", "=", roomId)
    .executeTakeFirst();
  if (!row) return undefined;
  return { room: toRoom(row), lastSeq: row.last_seq, isMember: row.member_id !== null };
}

export async function lockRoom(trx: Transaction<Database>, roomId: string) {
  return trx
    .selectFrom("rooms")
    .select([...ROOM_COLUMNS, "last_seq"])
    .where("id", "=", roomId)
    .forUpdate()
    .executeTakeFirst();
}

export type JoinResult =
  | { status: "joined"; room: Room; event: StoredEvent }
  | { status: "already_member"; room: Room; viaLegacy: boolean }
  | { status: "full" }
  | { status: "banned" }
  | { status: "too_many_rooms" }
  | { status: "not_found" };

/**
 * Adds a member under the room's row lock, so concurrent joins can never pass the limit. A member
 * who joined through a legacy socket and now joins through the API becomes a permanent member.
 */
export async function joinRoom(
  db: Db,
  input: { roomId: string; userId: number; login: string; viaLegacy: boolean; maxRoomsPerUser: number },
): Promise<JoinResult> {
  return db.transaction().execute(async (trx) => {
    const room = await lockRoom(trx, input.roomId);
    if (!room) return { status: "not_found" };
    const member = await trx
      .selectFrom("room_members")
      .select("via_legacy")
      .where("room_id", "=", input.roomId)
      .where("user_id", "=", input.userId)
      .executeTakeFirst();
    if (member) {
      let viaLegacy = member.via_legacy;
      if (viaLegacy && !input.viaLegacy) {
        await trx
          .updateTable("room_members")
          .set({ via_legacy: false })
          .where("room_id", "=", input.roomId)
          .where("user_id", "=", input.userId)
          .execute();
        viaLegacy = false;
      }
      return { status: "already_member", room: toRoom(room), viaLegacy };
    }
    const banned = await trx
      .selectFrom("room_bans")
      .select("user_id")
      .where("room_id", "=", input.roomId)
      .where("user_id", "=", input.userId)
      .executeTakeFirst();
    if (banned) return { status: "banned" };
    if (room.member_count >= room.max_members) return { status: "full" };
    // Lock order: the room, then the user (creating a room locks only the user).
    if (!(await hasRoomToSpare(trx, input.userId, input.maxRoomsPerUser))) return { status: "too_many_rooms" };
    // The join event is the member's first read seq: nothing before it counts as unread.
    await trx
      .insertInto("room_members")
      .values({ room_id: input.roomId, user_id: input.userId, via_legacy: input.viaLegacy, last_read_seq: room.last_seq + 1 })
      .execute();
    const updated = await trx
      .updateTable("rooms")
      .set({ member_count: sql`member_count + 1` })
      .where("id", "=", input.roomId)
      .returning(ROOM_COLUMNS)
      .executeTakeFirstOrThrow();
    const event = await appendEventLocked(trx, input.roomId, room.last_seq, {
      kind: "join",
      senderId: input.userId,
      senderLogin: input.login,
    });
    return { status: "joined", room: toRoom(updated), event };
  });
}

export type LeaveResult =
  /** events: the leave, then (when the owner left a room with members) the new owner's. */
  | { status: "left"; events: StoredEvent[] }
  | { status: "not_member" }
  | { status: "not_found" }
  | { status: "kept" };

/**
 * Removes a member. With onlyIfLegacy, a member who joined through the API is kept ("kept"):
 * closing a legacy socket must not undo an API join.
 */
export async function leaveRoom(
  db: Db,
  input: { roomId: string; userId: number; login: string; onlyIfLegacy?: boolean },
): Promise<LeaveResult> {
  return db.transaction().execute(async (trx): Promise<LeaveResult> => {
    const room = await lockRoom(trx, input.roomId);
    if (!room) return { status: "not_found" };
    let q = trx.deleteFrom("room_members").where("room_id", "=", input.roomId).where("user_id", "=", input.userId);
    if (input.onlyIfLegacy) q = q.where("via_legacy", "=", true);
    const deleted = await q.returning("user_id").executeTakeFirst();
    if (!deleted) {
      if (!input.onlyIfLegacy) return { status: "not_member" };
      const still = await trx
        .selectFrom("room_members")
        .select("user_id")
        .where("room_id", "=", input.roomId)
        .where("user_id", "=", input.userId)
        .executeTakeFirst();
      return still ? { status: "kept" } : { status: "not_member" };
    }
    await trx
      .updateTable("rooms")
      .set({ member_count: sql`member_count - 1` })
      .where("id", "=", input.roomId)
      .execute();
    const events = [
      await appendEventLocked(trx, input.roomId, room.last_seq, {
        kind: "leave",
        senderId: input.userId,
        senderLogin: input.login,
      }),
    ];
    if (room.owner_id === input.userId) {
      // A room is never left without someone who can moderate it: the longest-standing member
      // inherits it. (An empty room keeps its owner, who may still remove it.)
      const heir = await trx
        .selectFrom("room_members")
        .innerJoin("users", "users.id", "room_members.user_id")
        .select(["room_members.user_id", "users.login"])
        .where("room_members.room_id", "=", input.roomId)
        .orderBy("room_members.joined_at")
        .orderBy("room_members.user_id")
        .executeTakeFirst();
      if (heir) {
        await trx.updateTable("rooms").set({ owner_id: heir.user_id }).where("id", "=", input.roomId).execute();
        events.push(
          await appendEventLocked(trx, input.roomId, room.last_seq + 1, {
            kind: "owner",
            senderId: input.userId,
            senderLogin: input.login,
            subjectId: heir.user_id,
            subjectLogin: heir.login,
          }),
        );
      }
    }
    return { status: "left", events };
  });
}

/** Deletes a room (members and messages go with it) and returns its last seq. */
/**
 * Deletes the room if, at that moment, this user owns it: one statement, so a concurrent change
 * of owner or a concurrent removal is seen (PostgreSQL re-checks the row it waited for).
 */
export async function deleteOwnedRoom(db: Db, roomId: string, ownerId: number): Promise<{ lastSeq: number } | undefined> {
  const row = await db.deleteFrom("rooms").where("id", "=", roomId).where("owner_id", "=", ownerId).returning("last_seq").executeTakeFirst();
  return row && { lastSeq: row.last_seq };
}

/** The last seq of each of these rooms that still exists (one query, by primary key). */
export async function getRoomsLastSeq(db: Db, roomIds: readonly string[]): Promise<Map<string, number>> {
  if (roomIds.length === 0) return new Map();
  const rows = await db.selectFrom("rooms").select(["id", "last_seq"]).where("id", "in", roomIds).execute();
  return new Map(rows.map((r) => [r.id, r.last_seq]));
}

export async function getRoomLastSeq(db: Db, roomId: string): Promise<number | undefined> {
  const row = await db.selectFrom("rooms").select("last_seq").where("id", "=", roomId).executeTakeFirst();
  return row?.last_seq;
}
