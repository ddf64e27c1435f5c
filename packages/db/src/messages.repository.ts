import { sql, type Kysely, type Transaction } from "kysely";
import type { HistoryPage, Message, MessageDelete, MessageEdit, TimelineKind } from "@anonchat/shared";
import type { Database, EventKind, MessagesTable } from "./schema.js";

type Db = Kysely<Database>;

export const MESSAGE_COLUMNS = [
  "room_id",
  "seq",
  "sender_id",
  "sender_login",
  "text",
  "client_msg_id",
  "created_at",
  "kind",
  "target_seq",
  "subject_id",
  "subject_login",
  "edited_at",
  "deleted_at",
] as const;
export type MessageRow = Omit<MessagesTable, "created_at" | "kind"> & { created_at: Date; kind: EventKind };

/** One row of a room's ordered stream, as services see it. */
export type StoredEvent =
  | { kind: "message"; seq: number; message: Message }
  | { kind: "edit"; seq: number; edit: MessageEdit }
  | { kind: "delete"; seq: number; delete: MessageDelete };

export function toMessage(r: MessageRow): Message {
  return {
    roomId: r.room_id,
    seq: r.seq,
    senderId: r.sender_id,
    senderLogin: r.sender_login,
    text: r.text,
    createdAt: r.created_at.toISOString(),
    clientMsgId: r.client_msg_id,
    kind: r.kind as TimelineKind,
    editedAt: r.edited_at ? r.edited_at.toISOString() : null,
    deletedAt: r.deleted_at ? r.deleted_at.toISOString() : null,
    subjectId: r.subject_id,
    subjectLogin: r.subject_login,
  };
}

export function toEvent(r: MessageRow): StoredEvent {
  if (r.kind === "edit") {
    const edit = {
      roomId: r.room_id,
      seq: r.seq,
      targetSeq: r.target_seq as number,
      text: r.text,
      editedAt: r.created_at.toISOString(),
      senderId: r.sender_id,
    };
    return { kind: "edit", seq: r.seq, edit };
  }
  if (r.kind === "delete") {
    const del = {
      roomId: r.room_id,
      seq: r.seq,
      targetSeq: r.target_seq as number,
      deletedAt: r.created_at.toISOString(),
      senderId: r.sender_id,
    };
    return { kind: "delete", seq: r.seq, delete: del };
  }
  return { kind: "message", seq: r.seq, message: toMessage(r) };
}

export interface EventInput {
  kind: Exclude<EventKind, "text">;
  senderId: number;
  senderLogin: string;
  text?: string;
  targetSeq?: number;
  subjectId?: number;
  subjectLogin?: string;
}

/**
 * Appends one event to a room whose row the caller's transaction has locked (lastSeq read under
 * that lock): the event takes the next seq, so it is ordered with the messages around it.
 */
export async function appendEventLocked(
  trx: Transaction<Database>,
  roomId: string,
  lastSeq: number,
  e: EventInput,
): Promise<StoredEvent> {
  const row = await trx
    .insertInto("messages")
    .values({
      room_id: roomId,
      seq: lastSeq + 1,
      sender_id: e.senderId,
      sender_login: e.senderLogin,
      text: e.text ?? "",
      client_msg_id: null,
      kind: e.kind,
      target_seq: e.targetSeq ?? null,
      subject_id: e.subjectId ?? null,
      subject_login: e.subjectLogin ?? null,
    })
    .returning(MESSAGE_COLUMNS)
    .executeTakeFirstOrThrow();
  await trx.updateTable("rooms").set({ last_seq: lastSeq + 1 }).where("id", "=", roomId).execute();
  return toEvent(row);
}

export type AppendResult =
  | { status: "stored"; message: Message }
  | { status: "duplicate"; message: Message }
  | { status: "not_found" }
  | { status: "not_member" };

export interface AppendInput {
  roomId: string;
  senderId: number;
  senderLogin: string;
  text: string;
  clientMsgId: string | null;
}

/** Where the append's notification goes (PostgreSQL NOTIFY, sent with the commit). */
export interface AppendNotice {
  channel: string;
  /** The sending process's id, so it can tell its own notifications apart. */
  origin: string;
}

export async function appendMessage(db: Db, input: AppendInput): Promise<AppendResult> {
  return (await appendMessages(db, [input]))[0] as AppendResult;
}

type AppendRow = Omit<MessageRow, "room_id" | "seq"> & { ord: number; status: AppendResult["status"]; room_id: string | null; seq: number | null };

/**
 * Stores a batch of messages (group commit), one result per input in order, in one call of
 * anonchat_append_messages (migration 0005): one round trip and one commit, the rooms locked only
 * for the length of that statement. Seqs are gap-free and commit in order; a repeated
 * clientMsgId (found through the unique index, or earlier in the batch) returns the first
 * message instead of storing a second. With a notice, the other processes are told at commit.
 */
export async function appendMessages(db: Db, inputs: readonly AppendInput[], notice?: AppendNotice): Promise<AppendResult[]> {
  if (inputs.length === 0) return [];
  const { rows } = await sql<AppendRow>`select * from anonchat_append_messages(
      ${inputs.map((i) => i.roomId)}::text[], ${inputs.map((i) => i.senderId)}::integer[],
      ${inputs.map((i) => i.senderLogin)}::text[], ${inputs.map((i) => i.text)}::text[],
      ${inputs.map((i) => i.clientMsgId)}::text[], ${notice?.channel ?? null}::text, ${notice?.origin ?? null}::text)`.execute(db);
  const results = new Array<AppendResult>(inputs.length);
  for (const r of rows) {
    const index = r.ord - 1;
    if (r.status === "stored" || r.status === "duplicate") {
      // A duplicate is the first message as it is now (edited or deleted since, perhaps).
      results[index] = { status: r.status, message: toMessage({ ...r, room_id: r.room_id as string, seq: r.seq as number }) };
    } else {
      results[index] = { status: r.status };
    }
  }
  return results;
}

/**
 * How the user's membership of the room ended, if one of the room's last `window` events ended it
 * (a leave, kick or ban): bounded, so a stranger asking costs one short index range.
 */
export async function recentRemoval(
  db: Db,
  roomId: string,
  userId: number,
  lastSeq: number,
  window = 200,
): Promise<"leave" | "kick" | "ban" | undefined> {
  const row = await db
    .selectFrom("messages")
    .select("kind")
    .where("room_id", "=", roomId)
    .where("seq", ">", lastSeq - window)
    .where((eb) =>
      eb.or([
        eb.and([eb("kind", "in", ["kick", "ban"]), eb("subject_id", "=", userId)]),
        eb.and([eb("kind", "=", "leave"), eb("sender_id", "=", userId)]),
      ]),
    )
    .orderBy("seq", "desc")
    .limit(1)
    .executeTakeFirst();
  return row?.kind as "leave" | "kick" | "ban" | undefined;
}

/** Every event with seq > afterSeq (messages, membership, edits, deletions), oldest first. */
export async function listEventsAfter(db: Db, roomId: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  const rows = await db
    .selectFrom("messages")
    .select(MESSAGE_COLUMNS)
    .where("room_id", "=", roomId)
    .where("seq", ">", afterSeq)
    .orderBy("seq", "asc")
    .limit(limit)
    .execute();
  return rows.map(toEvent);
}

/** The events with afterSeq < seq <= throughSeq, oldest first (a replay page: a fixed set once throughSeq is stored). */
export async function listEventsBetween(db: Db, roomId: string, afterSeq: number, throughSeq: number): Promise<StoredEvent[]> {
  const rows = await db
    .selectFrom("messages")
    .select(MESSAGE_COLUMNS)
    .where("room_id", "=", roomId)
    .where("seq", ">", afterSeq)
    .where("seq", "<=", throughSeq)
    .orderBy("seq", "asc")
    .execute();
  return rows.map(toEvent);
}

/**
 * A page of the timeline (chat messages and membership events, as they are now) ending before
 * beforeSeq (or the newest), returned oldest first. Edit and delete events are folded into the
 * messages they changed, so they are not listed.
 */
export async function listMessagesPage(
  db: Db,
  roomId: string,
  beforeSeq: number | undefined,
  limit: number,
): Promise<HistoryPage> {
  let q = db
    .selectFrom("messages")
    .select(MESSAGE_COLUMNS)
    .where("room_id", "=", roomId)
    .where("kind", "not in", ["edit", "delete"]);
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
