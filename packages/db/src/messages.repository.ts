import { sql, type Kysely, type Transaction } from "kysely";
import type { HistoryPage, Message, MessageDelete, MessageEdit, TimelineKind } from "@anonchat/shared";
import type { Database, EventKind, MessagesTable } from "./schema";

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

export async function appendMessage(db: Db, input: AppendInput): Promise<AppendResult> {
  return (await appendMessages(db, [input]))[0] as AppendResult;
}

/**
 * Stores a batch of messages in one transaction (group commit), one result per input in order.
 * The rooms' rows are locked first, in id order, so seqs are gap-free, commit in seq order, and
 * concurrent batches cannot deadlock. A repeated clientMsgId (checked under the lock, and within
 * the batch) returns the first message instead of storing a second.
 */
export async function appendMessages(db: Db, inputs: readonly AppendInput[]): Promise<AppendResult[]> {
  if (inputs.length === 0) return [];
  const roomIds = [...new Set(inputs.map((i) => i.roomId))].sort();
  const senderIds = [...new Set(inputs.map((i) => i.senderId))];
  const clientMsgIds = [...new Set(inputs.flatMap((i) => (i.clientMsgId === null ? [] : [i.clientMsgId])))];
  const key = (roomId: string, senderId: number, cmid: string) => `${roomId}\u0000${senderId}\u0000${cmid}`;

  return db.transaction().execute(async (trx) => {
    const locked = await trx
      .selectFrom("rooms")
      .select(["id", "last_seq"])
      .where("id", "in", roomIds)
      .orderBy("id")
      .forUpdate()
      .execute();
    const lastSeq = new Map(locked.map((r) => [r.id, r.last_seq]));
    const members = await trx
      .selectFrom("room_members")
      .select(["room_id", "user_id"])
      .where("room_id", "in", roomIds)
      .where("user_id", "in", senderIds)
      .execute();
    const isMember = new Set(members.map((m) => `${m.room_id}\u0000${m.user_id}`));
    const existing = new Map<string, Message>();
    if (clientMsgIds.length > 0) {
      const rows = await trx
        .selectFrom("messages")
        .select(MESSAGE_COLUMNS)
        .where("room_id", "in", roomIds)
        .where("sender_id", "in", senderIds)
        .where("client_msg_id", "in", clientMsgIds)
        .execute();
      // A duplicate returns the message as it is now (edited or deleted since, perhaps).
      for (const r of rows) existing.set(key(r.room_id, r.sender_id, r.client_msg_id as string), toMessage(r));
    }

    type Pending = { index: number; seq: number };
    const results: Array<AppendResult | undefined> = new Array(inputs.length);
    const toInsert: Pending[] = [];
    const firstInBatch = new Map<string, number>();
    const duplicatesOfBatch: Array<{ index: number; of: number }> = [];
    inputs.forEach((input, index) => {
      const last = lastSeq.get(input.roomId);
      if (last === undefined) return void (results[index] = { status: "not_found" });
      if (!isMember.has(`${input.roomId}\u0000${input.senderId}`)) return void (results[index] = { status: "not_member" });
      if (input.clientMsgId !== null) {
        const k = key(input.roomId, input.senderId, input.clientMsgId);
        const found = existing.get(k);
        if (found) return void (results[index] = { status: "duplicate", message: found });
        const first = firstInBatch.get(k);
        if (first !== undefined) return void duplicatesOfBatch.push({ index, of: first });
        firstInBatch.set(k, index);
      }
      const seq = last + 1;
      lastSeq.set(input.roomId, seq);
      toInsert.push({ index, seq });
    });

    if (toInsert.length > 0) {
      const rows = await trx
        .insertInto("messages")
        .values(
          toInsert.map(({ index, seq }) => {
            const i = inputs[index] as AppendInput;
            return {
              room_id: i.roomId,
              seq,
              sender_id: i.senderId,
              sender_login: i.senderLogin,
              text: i.text,
              client_msg_id: i.clientMsgId,
            };
          }),
        )
        .returning(MESSAGE_COLUMNS)
        .execute();
      // RETURNING order is not promised: match rows to inputs by (room, seq).
      const indexOf = new Map(toInsert.map((p) => [`${(inputs[p.index] as AppendInput).roomId}\u0000${p.seq}`, p.index]));
      for (const row of rows) {
        results[indexOf.get(`${row.room_id}\u0000${row.seq}`) as number] = { status: "stored", message: toMessage(row) };
      }
      // One statement advances every room of the batch.
      const advanced = [...new Set(toInsert.map((p) => (inputs[p.index] as AppendInput).roomId))].sort();
      const values = sql.join(advanced.map((id) => sql`(${id}::text, ${lastSeq.get(id) as number}::integer)`));
      await sql`update rooms set last_seq = v.seq, last_activity_at = now()
        from (values ${values}) as v(id, seq) where rooms.id = v.id`.execute(trx);
    }
    for (const d of duplicatesOfBatch) {
      const first = results[d.of];
      results[d.index] = first && "message" in first ? { status: "duplicate", message: first.message } : first;
    }
    return results as AppendResult[];
  });
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
