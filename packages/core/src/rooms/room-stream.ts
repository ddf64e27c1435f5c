import { messages, rooms, type Db } from "@anonchat/db";
import { AppError, MESSAGES, type Message } from "@anonchat/shared";
import { AsyncQueue } from "../util/async-queue";
import type { HubEvent, RoomHub } from "../events/room-hub";

export type StreamItem = { type: "message"; message: Message } | { type: "removed"; lastSeq: number };

export interface RoomStreamOptions {
  roomId: string;
  userId: number;
  /** Resume after this seq; undefined starts at the live edge. */
  afterSeq: number | undefined;
  signal?: AbortSignal;
  /** Events queued for this subscriber before it counts as too slow. */
  maxQueue: number;
  /** Transport-level backpressure (e.g. the socket's buffered bytes past a bound). */
  isBackedUp?: () => boolean;
  /** Called once when the subscriber is dropped for being too slow. */
  onOverflow?: () => void;
  /** Called once the stream listens and knows where it starts: later messages will be seen. */
  onReady?: () => void;
}

const BACKFILL_BATCH = 500;

/**
 * A member's ordered view of a room: it listens first, then replays what it missed from the
 * database, then streams live, skipping what it already yielded. No gap, no duplicate.
 */
export async function* openRoomStream(db: Db, hub: RoomHub, opts: RoomStreamOptions): AsyncGenerator<StreamItem> {
  const queue = new AsyncQueue<HubEvent>();
  let overflowed = false;
  const detach = hub.attach(opts.roomId, {
    userId: opts.userId,
    deliver: (e) => {
      if (overflowed) return;
      queue.push(e);
      if (queue.size() > opts.maxQueue || opts.isBackedUp?.()) {
        overflowed = true;
        queue.close();
        opts.onOverflow?.();
      }
    },
  });
  const onAbort = () => queue.close();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    // Membership is checked once, after attaching: a removal or leave published before this
    // read is seen here, one published after it reaches the queue. No window in between.
    const now = await rooms.findRoomForUser(db, opts.roomId, opts.userId);
    if (!now) throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    if (!now.isMember) throw new AppError("FORBIDDEN", MESSAGES.notMember);
    let cursor = opts.afterSeq ?? now.lastSeq;
    opts.onReady?.();
    for (;;) {
      const batch = await messages.listMessagesAfter(db, opts.roomId, cursor, BACKFILL_BATCH);
      for (const m of batch) {
        if (overflowed || opts.signal?.aborted) return;
        cursor = m.seq;
        yield { type: "message", message: m };
      }
      if (batch.length < BACKFILL_BATCH) break;
    }
    for (;;) {
      const e = await queue.take();
      if (e === undefined || overflowed) return;
      if (e.type === "left") return;
      if (e.type === "removed") {
        yield { type: "removed", lastSeq: e.lastSeq };
        return;
      }
      const seq = e.message.seq;
      if (seq <= cursor) continue;
      if (seq > cursor + 1) {
        // We attached while these were committing: read the gap before going on.
        const gap = await messages.listMessagesAfter(db, opts.roomId, cursor, seq - cursor - 1);
        for (const m of gap) {
          cursor = m.seq;
          yield { type: "message", message: m };
        }
      }
      cursor = seq;
      yield e;
    }
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    detach();
  }
}
