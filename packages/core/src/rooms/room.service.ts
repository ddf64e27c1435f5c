import {
  edits,
  isConnectionError,
  members,
  messages,
  rooms,
  type AppendInput,
  type AppendResult,
  type Db,
  type StoredEvent,
} from "@anonchat/db";
import {
  AppError,
  MESSAGES,
  type ActivityEvent,
  type BannedUser,
  type HistoryPage,
  type MemberInput,
  type Message,
  type MessageDeleteInput,
  type MessageEditInput,
  type PresenceMember,
  type ReadMarker,
  type Room,
  type RoomCreateInput,
  type RoomHistoryInput,
  type RoomMarkReadInput,
  type RoomMember,
  type RoomSendInput,
  type RoomSummary,
  type RoomTypingInput,
} from "@anonchat/shared";
import type { ChatConfig } from "../config.js";
import type { BusEvent, EventBus } from "../events/bus.js";
import type { RoomHub } from "../events/room-hub.js";
import { newRoomId } from "../util/ids.js";
import { GroupCommit } from "../util/group-commit.js";
import { consumeOrThrow, type Limiter } from "../util/limits.js";
import type { PresenceTracker } from "../presence/presence-tracker.js";
import { changed, checkedText, moderated } from "./outcomes.js";
import { openActivityStream, type ActivityStreamOptions } from "./activity-stream.js";
import { openRoomStream, type RoomStreamOptions, type StreamItem } from "./room-stream.js";

export interface RoomServiceDeps {
  db: Db;
  bus: EventBus;
  hub: RoomHub;
  presence: PresenceTracker;
  config: ChatConfig;
  sendLimiter: Limiter;
  /** Typing notices per user (shared by replicas when its store is PostgreSQL). */
  typingLimiter: Limiter;
  /** Told of a publish that failed after what it announces was stored (the request still succeeds). */
  onPublishError?: (err: Error, event: string) => void;
}

export interface Sender {
  id: number;
  login: string;
}

export type StreamOptions = Omit<RoomStreamOptions, "roomId" | "userId" | "login" | "maxQueue">;
export type ActivityOptions = Omit<ActivityStreamOptions, "userId" | "maxQueue" | "unreadCountMax">;

const MAX_SEND_BATCH = 256;
const SEND_BATCHES_IN_FLIGHT = 4;

/** Rooms, membership and messages: every business rule of chat lives here. */
export class RoomService {
  /** Concurrent sends share one transaction and one bus round trip (group commit). */
  private readonly sends: GroupCommit<AppendInput, AppendResult>;

  constructor(private readonly deps: RoomServiceDeps) {
    this.sends = new GroupCommit(
      async (items) => {
        // The notification to other processes goes out with the commit; local feeds get the
        // stored events at once, without a read, and the senders their answers without waiting.
        const results = await messages.appendMessages(deps.db, items, deps.bus.appendNotice());
        const stored = results.flatMap((r) =>
          r.status === "stored"
            ? [
                {
                  type: "message" as const,
                  roomId: r.message.roomId,
                  seq: r.message.seq,
                  event: { kind: "message" as const, seq: r.message.seq, message: r.message },
                },
              ]
            : [],
        );
        deps.bus.announced(stored);
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
      const r = await rooms.insertRoom(this.deps.db, {
        id: newRoomId(),
        ownerId,
        ...input,
        maxRoomsPerUser: this.deps.config.maxRoomsPerUser,
      });
      if (r.status === "too_many_rooms") throw this.tooManyRooms();
      if (r.status === "created") {
        const room = r.room;
        // The creator's other clients add it to their room lists.
        await this.publish(room.id, [], [{ type: "member_joined", roomId: room.id, userId: ownerId }]);
        return room;
      }
    }
    throw new Error("could not allocate a room id");
  }

  /** Joins atomically under the member limit; joining a room you are in returns it. */
  async join(user: Sender, roomId: string, via: "api" | "legacy" = "api"): Promise<Room> {
    const r = await rooms.joinRoom(this.deps.db, {
      roomId,
      userId: user.id,
      login: user.login,
      viaLegacy: via === "legacy",
      maxRoomsPerUser: this.deps.config.maxRoomsPerUser,
    });
    if (r.status === "not_found") throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    if (r.status === "full") throw new AppError("FORBIDDEN", MESSAGES.roomFull);
    if (r.status === "banned") throw new AppError("FORBIDDEN", MESSAGES.banned);
    if (r.status === "too_many_rooms") throw this.tooManyRooms();
    if (r.status === "joined") {
      await this.publish(roomId, [r.event], [{ type: "member_joined", roomId, userId: user.id }]);
    }
    return r.room;
  }

  /** Leaving adds a "leave" event, which ends the user's live subscriptions to the room. */
  async leave(user: Sender, roomId: string): Promise<{ ok: true }> {
    const r = await rooms.leaveRoom(this.deps.db, { roomId, userId: user.id, login: user.login });
    if (r.status === "not_found") throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    if (r.status === "left") await this.publish(roomId, r.events);
    return { ok: true };
  }

  /** A legacy socket's last close: leave only if the membership came from a legacy socket. */
  async leaveIfJoinedByLegacy(user: Sender, roomId: string): Promise<void> {
    const r = await rooms.leaveRoom(this.deps.db, { roomId, userId: user.id, login: user.login, onlyIfLegacy: true });
    if (r.status === "left") await this.publish(roomId, r.events);
  }

  async remove(userId: number, roomId: string): Promise<{ ok: true }> {
    // The owner check is the delete's own condition: checked apart, an owner who handed the room
    // on a moment ago could still remove it, and of two removes racing both would be "ok".
    const removed = await rooms.deleteOwnedRoom(this.deps.db, roomId, userId);
    if (!removed) {
      // Not deleted: tell why from what is there now (gone, or someone else's).
      const room = await rooms.findRoom(this.deps.db, roomId);
      if (!room) throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
      throw new AppError("FORBIDDEN", MESSAGES.notOwner);
    }
    // After commit: the removal stands whether or not the notice goes out (a feed that misses it
    // finds the room gone at its next read).
    await this.deps.bus.publish({ type: "room_removed", roomId, lastSeq: removed.lastSeq }).catch((err) => this.publishFailed(err, "room_removed"));
    return { ok: true };
  }

  /** The caller's rooms with their newest message and unread count, newest activity first. */
  list(userId: number): Promise<RoomSummary[]> {
    return members.listRoomSummaries(this.deps.db, userId, this.deps.config.unreadCountMax);
  }

  async get(userId: number, roomId: string): Promise<Room> {
    return (await this.requireMember(userId, roomId)).room;
  }

  async history(userId: number, input: RoomHistoryInput): Promise<HistoryPage> {
    await this.requireMember(userId, input.roomId);
    return messages.listMessagesPage(this.deps.db, input.roomId, input.beforeSeq, input.limit);
  }

  async send(sender: Sender, input: RoomSendInput): Promise<Message> {
    const text = this.checkText(input.text);
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

  /** Edits one's own message: an "edit" event with the next seq, and the message's new text. */
  async edit(sender: Sender, input: MessageEditInput): Promise<Message> {
    const text = this.checkText(input.text);
    await consumeOrThrow(this.deps.sendLimiter, String(sender.id), "too many messages");
    return this.change(sender, { roomId: input.roomId, seq: input.seq, action: "edit", text });
  }

  /** Deletes one's own message (or any, for the room's owner), leaving a tombstone. */
  async delete(sender: Sender, input: MessageDeleteInput): Promise<Message> {
    return this.change(sender, { roomId: input.roomId, seq: input.seq, action: "delete" });
  }

  kick(owner: Sender, input: MemberInput): Promise<{ ok: true }> {
    return this.moderate(owner, input, "kick").then(() => ({ ok: true as const }));
  }

  ban(owner: Sender, input: MemberInput): Promise<{ ok: true }> {
    return this.moderate(owner, input, "ban").then(() => ({ ok: true as const }));
  }

  transfer(owner: Sender, input: MemberInput): Promise<Room> {
    return this.moderate(owner, input, "owner");
  }

  async unban(owner: Sender, input: MemberInput): Promise<{ ok: true }> {
    const r = await members.unban(this.deps.db, { roomId: input.roomId, actorId: owner.id, userId: input.userId });
    if (r === "not_found") throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    if (r === "not_owner") throw new AppError("FORBIDDEN", MESSAGES.notOwner);
    return { ok: true };
  }

  async bans(owner: Sender, roomId: string): Promise<BannedUser[]> {
    const r = await members.listBans(this.deps.db, { roomId, actorId: owner.id });
    if (r === "not_found") throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    if (r === "not_owner") throw new AppError("FORBIDDEN", MESSAGES.notOwner);
    return r;
  }

  async markRead(userId: number, input: RoomMarkReadInput): Promise<ReadMarker> {
    const r = await members.markRead(this.deps.db, { ...input, userId, unreadMax: this.deps.config.unreadCountMax });
    if (r === "not_member") {
      await this.requireMember(userId, input.roomId);
      throw new AppError("FORBIDDEN", MESSAGES.notMember);
    }
    // The user's other devices update their room lists.
    if (r.moved) await this.deps.bus.publish({ type: "read", userId, ...r.marker }).catch((err) => this.publishFailed(err, "read"));
    return r.marker;
  }

  /** Tells the room's other subscribers that the user is typing; never stored. */
  async typing(user: Sender, input: RoomTypingInput): Promise<{ ok: true }> {
    // Members only, every time: someone kicked a moment ago is refused at once.
    await this.requireMember(user.id, input.roomId);
    // A limit, not a silent drop: a per-process throttle would let replicas disagree (a start
    // on one replica dropped right after a stop on another), and a client deserves to know.
    await consumeOrThrow(this.deps.typingLimiter, String(user.id), "too many typing notices");
    // A typing notice is a hint that expires by itself: a bus that cannot take it now costs the
    // others the hint, not the caller an error.
    await this.deps.bus.publish({ type: "typing", roomId: input.roomId, userId: user.id, login: user.login, typing: input.typing }).catch((err) => this.publishFailed(err, "typing"));
    return { ok: true };
  }

  async presence(userId: number, roomId: string): Promise<PresenceMember[]> {
    await this.requireMember(userId, roomId);
    return this.deps.presence.list(roomId);
  }

  async members(userId: number, roomId: string): Promise<RoomMember[]> {
    await this.requireMember(userId, roomId);
    const list = await members.listMembers(this.deps.db, roomId);
    const online = await this.deps.presence.isOnline(roomId, list.map((m) => m.userId));
    return list.map((m) => ({ ...m, online: online.has(m.userId) }));
  }

  /** How long a client shows a typing notice it has not heard renewed. */
  get typingTtlMs(): number {
    return this.deps.config.typingTtlMs;
  }

  /** What changes the user's room list, live. */
  openActivity(userId: number, opts: ActivityOptions): AsyncGenerator<ActivityEvent> {
    return openActivityStream(this.deps.db, this.deps.hub, this.deps.bus, {
      ...opts,
      userId,
      unreadCountMax: this.deps.config.unreadCountMax,
      maxQueue: this.deps.config.subscriberQueueMax,
    });
  }

  /**
   * The member's ordered stream of the room. Its first step checks membership (NOT_FOUND or
   * FORBIDDEN), after it listens, so one query both authorises and positions it.
   */
  async openStream(user: Sender, roomId: string, opts: StreamOptions): Promise<AsyncGenerator<StreamItem>> {
    return openRoomStream(this.deps.db, this.deps.hub, this.deps.presence, {
      ...opts,
      roomId,
      userId: user.id,
      login: user.login,
      maxQueue: this.deps.config.subscriberQueueMax,
    });
  }

  private tooManyRooms(): AppError {
    return new AppError("FORBIDDEN", `${MESSAGES.tooManyRooms} (at most ${this.deps.config.maxRoomsPerUser}); leave one first`);
  }

  private checkText(raw: string): string {
    return checkedText(raw, this.deps.config.maxMessageLength);
  }

  private async change(
    sender: Sender,
    input: { roomId: string; seq: number } & ({ action: "edit"; text: string } | { action: "delete" }),
  ): Promise<Message> {
    const r = changed(
      await edits.changeMessage(this.deps.db, { ...input, actorId: sender.id, actorLogin: sender.login }),
      input.action,
    );
    if (r.status === "changed") await this.publish(input.roomId, [r.event]);
    return r.message;
  }

  private async moderate(owner: Sender, input: MemberInput, action: "kick" | "ban" | "owner"): Promise<Room> {
    const r = moderated(
      await members.moderate(this.deps.db, {
        roomId: input.roomId,
        actorId: owner.id,
        actorLogin: owner.login,
        userId: input.userId,
        action,
      }),
    );
    if (r.status === "ok") await this.publish(input.roomId, [r.event]);
    return r.room;
  }

  /** After commit; a failed publish must not fail what is stored (feeds resync from the database). */
  private async publish(roomId: string, stored: StoredEvent[], more: BusEvent[] = []): Promise<void> {
    const events: BusEvent[] = stored.map((event) => ({ type: "message", roomId, seq: event.seq, event }));
    await this.deps.bus.publishMany([...events, ...more]).catch((err) => this.publishFailed(err, "events"));
  }

  private publishFailed(err: unknown, event: string): void {
    this.deps.onPublishError?.(err instanceof Error ? err : new Error(String(err)), event);
  }

  private async requireMember(userId: number, roomId: string) {
    const found = await rooms.findRoomForUser(this.deps.db, roomId, userId);
    if (!found) throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    if (!found.isMember) throw new AppError("FORBIDDEN", MESSAGES.notMember);
    return found;
  }
}
