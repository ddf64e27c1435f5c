import { members, rooms, type Db } from "@anonchat/db";
import type { ActivityEvent, RoomSummary } from "@anonchat/shared";
import { AsyncQueue } from "../util/async-queue.js";
import type { BusEvent, EventBus } from "../events/bus.js";
import type { HubEvent, RoomHub } from "../events/room-hub.js";
import { endsMembership } from "./room-stream.js";

export interface ActivityStreamOptions {
  userId: number;
  unreadCountMax: number;
  maxQueue: number;
  signal?: AbortSignal;
  isBackedUp?: () => boolean;
  onOverflow?: () => void;
}

type Item = { from: "room"; roomId: string; event: HubEvent } | { from: "bus"; event: BusEvent };

/**
 * What changes one user's room list, across all of their rooms: it listens to the feed of every
 * room they belong to (the same per-process feeds room subscriptions use) and to the bus for
 * rooms they join and read markers they move. Untracked: a client that reconnects reads
 * room.list again.
 */
export async function* openActivityStream(
  db: Db,
  hub: RoomHub,
  bus: EventBus,
  opts: ActivityStreamOptions,
): AsyncGenerator<ActivityEvent> {
  const queue = new AsyncQueue<Item>();
  let overflowed = false;
  const push = (item: Item) => {
    if (overflowed) return;
    queue.push(item);
    if (queue.size() > opts.maxQueue || opts.isBackedUp?.()) {
      overflowed = true;
      queue.close();
      opts.onOverflow?.();
    }
  };
  const attached = new Map<string, () => void>();
  const attach = (roomId: string) => {
    if (attached.has(roomId)) return;
    attached.set(
      roomId,
      hub.attach(roomId, {
        userId: opts.userId,
        wantsPresence: false,
        deliver: (event) => {
          if (event.type === "event" || event.type === "removed") push({ from: "room", roomId, event });
        },
      }),
    );
  };
  const detach = (roomId: string) => {
    attached.get(roomId)?.();
    attached.delete(roomId);
  };
  const unsubscribe = bus.subscribe((e) => {
    if ((e.type === "member_joined" || e.type === "read") && e.userId === opts.userId) push({ from: "bus", event: e });
  });
  const onAbort = () => queue.close();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (const roomId of await members.listRoomIdsForUser(db, opts.userId)) attach(roomId);
    for (;;) {
      const item = await queue.take();
      if (item === undefined || overflowed) return;
      if (item.from === "bus") {
        const e = item.event;
        if (e.type === "read") {
          yield { type: "read", marker: { roomId: e.roomId, lastReadSeq: e.lastReadSeq, unreadCount: e.unreadCount } };
        } else if (e.type === "member_joined" && !attached.has(e.roomId)) {
          attach(e.roomId);
          const summary: RoomSummary | undefined = (
            await members.listRoomSummaries(db, opts.userId, opts.unreadCountMax, e.roomId)
          )[0];
          if (summary) yield { type: "joined", room: summary };
          else detach(e.roomId);
        }
        continue;
      }
      const { roomId, event } = item;
      if (!attached.has(roomId)) continue;
      if (event.type === "removed") {
        detach(roomId);
        yield { type: "left", roomId, reason: "removed" };
        continue;
      }
      if (event.type !== "event") continue;
      const stored = event.event;
      if (stored.kind === "edit" || stored.kind === "delete") {
        yield { type: "changed", roomId };
      } else if (stored.message.kind === "text") {
        yield { type: "message", roomId, message: stored.message };
      } else if (endsMembership(stored, opts.userId)) {
        // A rejoin may already have followed: only a membership that is gone is reported.
        if ((await rooms.findRoomForUser(db, roomId, opts.userId))?.isMember) continue;
        detach(roomId);
        const k = stored.message.kind;
        yield { type: "left", roomId, reason: k === "kick" || k === "ban" ? k : "left" };
      }
    }
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    unsubscribe();
    for (const roomId of [...attached.keys()]) detach(roomId);
  }
}
