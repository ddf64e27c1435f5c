import { sql, type Kysely } from "kysely";
import type { HistoryPage, Message } from "@anonchat/shared";
import type { Database, MessagesTable } from "./schema";

type Db = Kysely<Database>;

const MESSAGE_COLUMNS = ["room_id", "seq", "sender_id", "sender_login", "text", "client_msg_id", "created_at"] as const;
type MessageRow = Omit<MessagesTable, "created_at"> & { created_at: Date };

function toMessage(r: MessageRow): Message {
  return {
    roomId: r.room_id,
    seq: r.seq,
    senderId: r.sender_id,
    senderLogin: r.sender_login,
    text: r.text,
    createdAt: r.created_at.toISOString(),
    clientMsgId: r.client_msg_id,
  };
}

export type AppendResult =
  | { status: "stored"; message: Message }
  | { status: "duplicate"; message: Message }
  | { status: "not_found" }
  | { status: "not_member" };

/**
 * Stores a message with the room's next seq. The room row is locked first, so seqs are gap-free
 * and commit in seq order, and a repeated clientMsgId (checked under the lock) returns the first
 * message instead of storing a second.
 */
export async function appendMessage(
  db: Db,
  input: { roomId: string; senderId: number; senderLogin: string; text: string; clientMsgId: string | null },
): Promise<AppendResult> {
  return db.transaction().execute(async (trx) => {
    const room = await trx
      .selectFrom("rooms")
      .leftJoin("room_members", (j) =>
        j.onRef("room_members.room_id", "=", "rooms.id").on("room_members.user_id", "=", input.senderId),
      )
      .select(["rooms.last_seq", "room_members.user_id as member_id"])
      .where("rooms.id", "=", input.roomId)
      .forUpdate("rooms")
      .executeTakeFirst();
    if (!room) return { status: "not_found" };
    if (room.member_id === null) return { status: "not_member" };
    if (input.clientMsgId !== null) {
      const existing = await trx
        .selectFrom("messages")
        .select(MESSAGE_COLUMNS)
        .where("room_id", "=", input.roomId)
        .where("sender_id", "=", input.senderId)
        .where("client_msg_id", "=", input.clientMsgId)
        .executeTakeFirst();
      if (existing) return { status: "duplicate", message: toMessage(existing) };
    }
    const seq = room.last_seq + 1;
    const row = await trx
      .insertInto("messages")
      .values({
        room_id: input.roomId,
        seq,
        sender_id: input.senderId,
        sender_login: input.senderLogin,
        text: input.text,
        client_msg_id: input.clientMsgId,
      })
      .returning(MESSAGE_COLUMNS)
      .executeTakeFirstOrThrow();
    await trx.updateTable("rooms").set({ last_seq: seq }).where("id", "=", input.roomId).execute();
    return { status: "stored", message: toMessage(row) };
  });
}

/** Messages with seq > afterSeq, oldest first. */
export async function listMessagesAfter(db: Db, roomId: string, afterSeq: number, limit: number): Promise<Message[]> {
  const rows = await db
    .selectFrom("messages")
    .select(MESSAGE_COLUMNS)
    .where("room_id", "=", roomId)
    .where("seq", ">", afterSeq)
    .orderBy("seq", "asc")
    .limit(limit)
    .execute();
  return rows.map(toMessage);
}

/** A page of history ending before beforeSeq (or the newest), returned oldest first. */
export async function listMessagesPage(
  db: Db,
  roomId: string,
  beforeSeq: number | undefined,
  limit: number,
): Promise<HistoryPage> {
  let q = db.selectFrom("messages").select(MESSAGE_COLUMNS).where("room_id", "=", roomId);
  if (beforeSeq !== undefined) q = q.where("seq", "<", beforeSeq);
  const rows = await q.orderBy("seq", "desc").limit(limit + 1).execute();
  const hasMore = rows.length > limit;
  const page = rows.slice(0, limit).reverse();
  return { messages: page.map(toMessage), hasMore };
}

export async function countMessages(db: Db, roomId: string): Promise<number> {
  const row = await db
    .selectFrom("messages")
    .select(sql<number>`count(*)::int`.as("n"))
    .where("room_id", "=", roomId)
    .executeTakeFirstOrThrow();
  return row.n;
}
