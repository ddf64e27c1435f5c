import { isConnectionError, messages, rooms, type AppendInput, type AppendResult, type Db } from "@anonchat/db";
import {
  AppError,
  charCount,
  MESSAGES,
  type HistoryPage,
  type Message,
  type Room,
  type RoomCreateInput,
  type RoomHistoryInput,
  type RoomSendInput,
} from "@anonchat/shared";
import type { ChatConfig } from "../config";
import type { EventBus } from "../events/bus";
import type { RoomHub } from "../events/room-hub";
import { newRoomId } from "../util/ids";
import { GroupCommit } from "../util/group-commit";
import { consumeOrThrow, type Limiter } from "../util/limits";
import { openRoomStream, type RoomStreamOptions, type StreamItem } from "./room-stream";

export interface RoomServiceDeps {
  db: Db;
  bus: EventBus;
  hub: RoomHub;
  config: ChatConfig;
  sendLimiter: Limiter;
}

export interface Sender {
  id: number;
  login: string;
}

export type StreamOptions = Omit<RoomStreamOptions, "roomId" | "userId" | "maxQueue">;

const MAX_SEND_BATCH = 256;
const SEND_BATCHES_IN_FLIGHT = 4;

/** Rooms, membership and messages: every business rule of chat lives here. */
export class RoomService {
  /** Concurrent sends share one transaction and one bus round trip (group commit). */
  private readonly sends: GroupCommit<AppendInput, AppendResult>;

  constructor(private readonly deps: RoomServiceDeps) {
    this.sends = new GroupCommit(
      async (items) => {
        const results = await messages.appendMessages(deps.db, items);
        const stored = results.flatMap((r) =>
          r.status === "stored"
            ? [{ type: "message" as const, roomId: r.message.roomId, seq: r.message.seq, message: r.message }]
            : [],
        );
        // Published after commit; a failure here must not turn stored messages into errors:
        // subscribers catch up from the database on the next event or resync.
        await deps.bus.publishMany(stored).catch(() => undefined);
        return results;
      },
      MAX_SEND_BATCH,
      (err) => !isConnectionError(err),
      // Batches lock their rooms in id order, so several may be written at once without gaps
      // or deadlocks; those touching the same room simply queue on its row lock.
      SEND_BATCHES_IN_FLIGHT,
    );
  }

  async create(ownerId: number, input: RoomCreateInput): Promise<Room> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const room = await rooms.insertRoom(this.deps.db, { id: newRoomId(), ownerId, ...input });
      if (room) return room;
    }
    throw new Error("could not allocate a room id");
  }

  /** Joins atomically under the member limit; joining a room you are in returns it. */
  async join(userId: number, roomId: string, via: "api" | "legacy" = "api"): Promise<Room> {
    const r = await rooms.joinRoom(this.deps.db, { roomId, userId, viaLegacy: via === "legacy" });
    if (r.status === "not_found") throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    if (r.status === "full") throw new AppError("FORBIDDEN", MESSAGES.roomFull);
    return r.room;
  }

  /** Leaving ends the user's live subscriptions to the room on every process. */
  async leave(userId: number, roomId: string): Promise<{ ok: true }> {
    const r = await rooms.leaveRoom(this.deps.db, { roomId, userId });
    if (r === "not_found") throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    if (r === "left") await this.deps.bus.publish({ type: "member_left", roomId, userId });
    return { ok: true };
  }

  /** A legacy socket's last close: leave only if the membership came from a legacy socket. */
  async leaveIfJoinedByLegacy(userId: number, roomId: string): Promise<void> {
    const r = await rooms.leaveRoom(this.deps.db, { roomId, userId, onlyIfLegacy: true });
    if (r === "left") await this.deps.bus.publish({ type: "member_left", roomId, userId });
  }

  async remove(userId: number, roomId: string): Promise<{ ok: true }> {
    const room = await rooms.findRoom(this.deps.db, roomId);
    if (!room) throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    if (room.ownerId !== userId) throw new AppError("FORBIDDEN", MESSAGES.notOwner);
    const removed = await rooms.deleteRoom(this.deps.db, roomId);
    if (removed) await this.deps.bus.publish({ type: "room_removed", roomId, lastSeq: removed.lastSeq });
    return { ok: true };
  }

  list(userId: number): Promise<Room[]> {
    return rooms.listRoomsForUser(this.deps.db, userId);
  }

  async get(userId: number, roomId: string): Promise<Room> {
    return (await this.requireMember(userId, roomId)).room;
  }

  async history(userId: number, input: RoomHistoryInput): Promise<HistoryPage> {
    await this.requireMember(userId, input.roomId);
    return messages.listMessagesPage(this.deps.db, input.roomId, input.beforeSeq, input.limit);
  }

  async send(sender: Sender, input: RoomSendInput): Promise<Message> {
    // Checked here as well as in the schema: legacy frames reach this without one.
    const text = input.text.trim();
    if (text.length === 0) throw new AppError("BAD_REQUEST", "text must not be empty");
    if (text.length > this.deps.config.maxMessageLength && charCount(text) > this.deps.config.maxMessageLength) {
      throw new AppError("BAD_REQUEST", `text must be at most ${this.deps.config.maxMessageLength} characters`);
    }
    if (text.includes("\u0000")) throw new AppError("BAD_REQUEST", "text must not contain NUL characters");
    await consumeOrThrow(this.deps.sendLimiter, String(sender.id), "too many messages");
    const r = await this.sends.submit({
      roomId: input.roomId,
      senderId: sender.id,
      senderLogin: sender.login,
      text,
      clientMsgId: input.clientMsgId ?? null,
    });
    if (r.status === "not_found") throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    if (r.status === "not_member") throw new AppError("FORBIDDEN", MESSAGES.notMember);
    return r.message;
  }

  /**
   * The member's ordered stream of the room. Its first step checks membership (NOT_FOUND or
   * FORBIDDEN), after it listens, so one query both authorises and positions it.
   */
  async openStream(userId: number, roomId: string, opts: StreamOptions): Promise<AsyncGenerator<StreamItem>> {
    return openRoomStream(this.deps.db, this.deps.hub, {
      ...opts,
      roomId,
      userId,
      maxQueue: this.deps.config.subscriberQueueMax,
    });
  }

  private async requireMember(userId: number, roomId: string) {
    const found = await rooms.findRoomForUser(this.deps.db, roomId, userId);
    if (!found) throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    if (!found.isMember) throw new AppError("FORBIDDEN", MESSAGES.notMember);
    return found;
  }
}
