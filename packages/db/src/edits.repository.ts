import { sql, type Kysely } from "kysely";
import type { Message } from "@anonchat/shared";
import type { Database } from "./schema.js";
import { appendEventLocked, MESSAGE_COLUMNS, toMessage, type StoredEvent } from "./messages.repository.js";

type Db = Kysely<Database>;

export type ChangeResult =
  | { status: "changed"; message: Message; event: StoredEvent }
  /** Deleting what is already deleted: nothing new happens (a retried delete succeeds). */
  | { status: "unchanged"; message: Message }
  | { status: "not_found" }
  | { status: "not_member" }
  | { status: "message_not_found" }
  | { status: "forbidden" }
  | { status: "deleted" };

export interface ChangeInput {
  roomId: string;
  seq: number;
  actorId: number;
  actorLogin: string;
}

/**
 * Edits or deletes a chat message. Under the room's row lock (the same lock sends take) the
 * change becomes an event with the next seq, and the message row is updated in place so history
 * shows it as it is now. A deletion also erases the texts of earlier edits.
 */
export async function changeMessage(
  db: Db,
  input: ChangeInput & ({ action: "edit"; text: string } | { action: "delete" }),
): Promise<ChangeResult> {
  return db.transaction().execute(async (trx) => {
    const room = await trx
      .selectFrom("rooms")
      .select(["last_seq", "owner_id"])
      .where("id", "=", input.roomId)
      .forUpdate()
      .executeTakeFirst();
    if (!room) return { status: "not_found" };
    const member = await trx
      .selectFrom("room_members")
      .select("user_id")
      .where("room_id", "=", input.roomId)
      .where("user_id", "=", input.actorId)
      .executeTakeFirst();
    if (!member) return { status: "not_member" };
    const target = await trx
      .selectFrom("messages")
      .select(MESSAGE_COLUMNS)
      .where("room_id", "=", input.roomId)
      .where("seq", "=", input.seq)
      .where("kind", "=", "text")
      .executeTakeFirst();
    if (!target) return { status: "message_not_found" };
    const isAuthor = target.sender_id === input.actorId;
    // The owner moderates by deleting; only the author may put words in the message.
    if (!isAuthor && (input.action === "edit" || room.owner_id !== input.actorId)) return { status: "forbidden" };
    if (target.deleted_at !== null) {
      return input.action === "delete" ? { status: "unchanged", message: toMessage(target) } : { status: "deleted" };
    }
    const event = await appendEventLocked(trx, input.roomId, room.last_seq, {
      kind: input.action,
      senderId: input.actorId,
      senderLogin: input.actorLogin,
      targetSeq: input.seq,
      ...(input.action === "edit" ? { text: input.text } : {}),
    });
    const at = event.kind === "edit" ? event.edit.editedAt : event.kind === "delete" ? event.delete.deletedAt : "";
    const updated = await trx
      .updateTable("messages")
      .set(input.action === "edit" ? { text: input.text, edited_at: new Date(at) } : { text: "", deleted_at: new Date(at) })
      .where("room_id", "=", input.roomId)
      .where("seq", "=", input.seq)
      .returning(MESSAGE_COLUMNS)
      .executeTakeFirstOrThrow();
    if (input.action === "delete") {
      await trx
        .updateTable("messages")
        .set({ text: "" })
        .where("room_id", "=", input.roomId)
        .where("target_seq", "=", input.seq)
        .where("kind", "=", "edit")
        .where(sql<boolean>`text <> ''`)
        .execute();
    }
    return { status: "changed", message: toMessage(updated), event };
  });
}
