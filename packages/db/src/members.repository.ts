import { sql, type Kysely } from "kysely";
import type { BannedUser, Message, ReadMarker, Room, RoomMember, RoomSummary } from "@anonchat/shared";
import type { Database } from "./schema.js";
import { appendEventLocked, toMessage, type MessageRow, type StoredEvent } from "./messages.repository.js";
import { lockRoom, toRoom } from "./rooms.repository.js";

type Db = Kysely<Database>;

export type ModerationResult =
  | { status: "ok"; event: StoredEvent; room: Room }
  /** Banning someone already banned and not a member: nothing new happens. */
  | { status: "unchanged"; room: Room }
  | { status: "not_found" }
  | { status: "not_owner" }
  | { status: "self" }
  | { status: "member_not_found" }
  | { status: "user_not_found" };

/**
 * The owner's actions on a member, under the room's row lock: "kick" removes them, "ban" removes
 * them (if present) and bars them, "owner" hands them the room. Each adds an event with the next seq.
 */
export async function moderate(
  db: Db,
  input: { roomId: string; actorId: number; actorLogin: string; userId: number; action: "kick" | "ban" | "owner" },
): Promise<ModerationResult> {
  return db.transaction().execute(async (trx): Promise<ModerationResult> => {
    const room = await lockRoom(trx, input.roomId);
    if (!room) return { status: "not_found" };
    if (room.owner_id !== input.actorId) return { status: "not_owner" };
    if (input.userId === input.actorId) return { status: "self" };
    const subject = await trx.selectFrom("users").select("login").where("id", "=", input.userId).executeTakeFirst();
    const member = await trx
      .selectFrom("room_members")
      .select("user_id")
      .where("room_id", "=", input.roomId)
      .where("user_id", "=", input.userId)
      .executeTakeFirst();
    if (!subject) return { status: input.action === "ban" ? "user_not_found" : "member_not_found" };
    if (!member && input.action !== "ban") return { status: "member_not_found" };
    if (!member && input.action === "ban") {
      const already = await trx
        .selectFrom("room_bans")
        .select("user_id")
        .where("room_id", "=", input.roomId)
        .where("user_id", "=", input.userId)
        .executeTakeFirst();
      if (already) return { status: "unchanged", room: toRoom(room) };
    }
    let memberCount = room.member_count;
    let ownerId = room.owner_id;
    if (input.action === "owner") {
      await trx.updateTable("rooms").set({ owner_id: input.userId }).where("id", "=", input.roomId).execute();
      ownerId = input.userId;
    } else {
      if (member) {
        await trx
          .deleteFrom("room_members")
          .where("room_id", "=", input.roomId)
          .where("user_id", "=", input.userId)
          .execute();
        await trx
          .updateTable("rooms")
          .set({ member_count: sql`member_count - 1` })
          .where("id", "=", input.roomId)
          .execute();
        memberCount -= 1;
      }
      if (input.action === "ban") {
        await trx
          .insertInto("room_bans")
          .values({ room_id: input.roomId, user_id: input.userId, banned_by: input.actorId })
          .onConflict((oc) => oc.columns(["room_id", "user_id"]).doNothing())
          .execute();
      }
    }
    const event = await appendEventLocked(trx, input.roomId, room.last_seq, {
      kind: input.action,
      senderId: input.actorId,
      senderLogin: input.actorLogin,
      subjectId: input.userId,
      subjectLogin: subject.login,
    });
    const out: Room = { ...toRoom(room), ownerId, memberCount };
    return { status: "ok", event, room: out };
  });
}

export async function unban(
  db: Db,
  input: { roomId: string; actorId: number; userId: number },
): Promise<"ok" | "not_found" | "not_owner"> {
  const room = await db.selectFrom("rooms").select("owner_id").where("id", "=", input.roomId).executeTakeFirst();
  if (!room) return "not_found";
  if (room.owner_id !== input.actorId) return "not_owner";
  await db.deleteFrom("room_bans").where("room_id", "=", input.roomId).where("user_id", "=", input.userId).execute();
  return "ok";
}

export async function listBans(
  db: Db,
  input: { roomId: string; actorId: number },
): Promise<BannedUser[] | "not_found" | "not_owner"> {
  const room = await db.selectFrom("rooms").select("owner_id").where("id", "=", input.roomId).executeTakeFirst();
  if (!room) return "not_found";
  if (room.owner_id !== input.actorId) return "not_owner";
  const rows = await db
    .selectFrom("room_bans")
    .innerJoin("users", "users.id", "room_bans.user_id")
    .select(["room_bans.user_id", "users.login", "room_bans.created_at"])
    .where("room_bans.room_id", "=", input.roomId)
    .orderBy("room_bans.created_at", "desc")
    .execute();
  return rows.map((r) => ({ userId: r.user_id, login: r.login, bannedAt: r.created_at.toISOString() }));
}

/**
 * Moves the member's read marker forward, never past the room's last seq; `moved` says whether
 * it did (a repeated mark changes nothing anyone needs to hear of).
 */
export async function markRead(
  db: Db,
  input: { roomId: string; userId: number; seq: number; unreadMax: number },
): Promise<{ marker: ReadMarker; moved: boolean } | "not_member"> {
  const row = await sql<{ last_read_seq: number; before_seq: number }>`
    update room_members m
       set last_read_seq = greatest(m.last_read_seq, least(${input.seq}::integer, r.last_seq))
      from rooms r,
           (select last_read_seq from room_members where room_id = ${input.roomId} and user_id = ${input.userId}) before
     where r.id = m.room_id and m.room_id = ${input.roomId} and m.user_id = ${input.userId}
    returning m.last_read_seq, before.last_read_seq as before_seq`.execute(db);
  const r = row.rows[0];
  if (!r) return "not_member";
  const unreadCount = await countUnread(db, input.roomId, input.userId, r.last_read_seq, input.unreadMax);
  return { marker: { roomId: input.roomId, lastReadSeq: r.last_read_seq, unreadCount }, moved: r.last_read_seq !== r.before_seq };
}

export async function countUnread(db: Db, roomId: string, userId: number, afterSeq: number, max: number): Promise<number> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from (
      select 1 from messages
       where room_id = ${roomId} and seq > ${afterSeq}::integer and kind = 'text'
         and deleted_at is null and sender_id <> ${userId}::integer
       limit ${max}::integer) u`.execute(db);
  return r.rows[0]?.n ?? 0;
}

interface SummaryRow {
  id: string;
  name: string;
  owner_id: number;
  max_members: number;
  member_count: number;
  created_at: Date;
  last_seq: number;
  last_activity_at: Date;
  last_read_seq: number;
  unread_count: number;
  lm: MessageRow | null;
}

/** The caller's rooms with the newest message and unread count, newest activity first. */
export async function listRoomSummaries(
  db: Db,
  userId: number,
  unreadMax: number,
  onlyRoomId?: string,
): Promise<RoomSummary[]> {
  const rows = await sql<SummaryRow>`
    select r.id, r.name, r.owner_id, r.max_members, r.member_count, r.created_at, r.last_seq,
           r.last_activity_at, m.last_read_seq,
           (select count(*)::int from (
              select 1 from messages u
               where u.room_id = r.id and u.seq > m.last_read_seq and u.kind = 'text'
                 and u.deleted_at is null and u.sender_id <> ${userId}::integer
               limit ${unreadMax}::integer) c) as unread_count,
           (select row_to_json(l) from (
              select * from messages y
               where y.room_id = r.id and y.kind = 'text' and y.deleted_at is null
               order by y.seq desc limit 1) l) as lm
      from room_members m
      join rooms r on r.id = m.room_id
     where m.user_id = ${userId}::integer
       ${onlyRoomId === undefined ? sql`` : sql`and r.id = ${onlyRoomId}`}
     order by r.last_activity_at desc, r.id`.execute(db);
  return rows.rows.map((r) => ({
    id: r.id,
    name: r.name,
    ownerId: r.owner_id,
    maxMembers: r.max_members,
    memberCount: r.member_count,
    createdAt: new Date(r.created_at).toISOString(),
    lastMessage: r.lm ? fromJsonRow(r.lm) : null,
    lastSeq: r.last_seq,
    lastReadSeq: r.last_read_seq,
    unreadCount: r.unread_count,
    lastActivityAt: new Date(r.last_activity_at).toISOString(),
  }));
}

/** row_to_json gives times as strings: make it a row again. */
function fromJsonRow(j: MessageRow): Message {
  const date = (v: Date | string | null) => (v === null ? null : new Date(v));
  return toMessage({
    ...j,
    created_at: date(j.created_at) as Date,
    edited_at: date(j.edited_at),
    deleted_at: date(j.deleted_at),
  });
}

/** The room's members with role and read marker; online is filled in from presence. */
export async function listMembers(db: Db, roomId: string): Promise<Array<Omit<RoomMember, "online">>> {
  const rows = await db
    .selectFrom("room_members")
    .innerJoin("users", "users.id", "room_members.user_id")
    .innerJoin("rooms", "rooms.id", "room_members.room_id")
    .select([
      "room_members.user_id",
      "users.login",
      "rooms.owner_id",
      "room_members.joined_at",
      "room_members.last_read_seq",
    ])
    .where("room_members.room_id", "=", roomId)
    .orderBy("room_members.joined_at")
    .orderBy("room_members.user_id")
    .execute();
  return rows.map((r) => ({
    userId: r.user_id,
    login: r.login,
    role: r.owner_id === r.user_id ? ("owner" as const) : ("member" as const),
    joinedAt: r.joined_at.toISOString(),
    lastReadSeq: r.last_read_seq,
  }));
}

export async function listRoomIdsForUser(db: Db, userId: number): Promise<string[]> {
  const rows = await db.selectFrom("room_members").select("room_id").where("user_id", "=", userId).execute();
  return rows.map((r) => r.room_id);
}
