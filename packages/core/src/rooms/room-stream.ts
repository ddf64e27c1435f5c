import { messages, rooms, type Db, type StoredEvent } from "@anonchat/db";
import { AppError, MESSAGES, type PresenceMember } from "@anonchat/shared";
import { AsyncQueue } from "../util/async-queue.js";
import type { HubEvent, RoomHub } from "../events/room-hub.js";
import type { PresenceTracker } from "../presence/presence-tracker.js";

export type StreamItem =
  | { type: "event"; event: StoredEvent }
  | { type: "removed"; lastSeq: number }
  /** Ephemeral items carry `at`, the seq of the last stored event before them (a resume point). */
  | { type: "presence"; online: PresenceMember[]; at: number }
  | { type: "presence.change"; userId: number; login: string; online: boolean; at: number }
  | { type: "typing"; userId: number; login: string; typing: boolean; at: number };

export interface RoomStreamOptions {
  roomId: string;
  userId: number;
  login: string;
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
  /** Skip the presence snapshot and ephemeral events (a consumer that cannot show them). */
  storedOnly?: boolean;
  /**
   * The live fast path: once the stream is live and has nothing queued, a stored event that
   * comes next in order is handed to this at once, inside the feed's broadcast, instead of
   * going through the queue and this generator; everything else is yielded as usual. The
   * consumer must handle both the same way (write to the same socket): the order is kept.
   */
  direct?: (item: StreamItem) => void;
}

/** Whether this stored event ends the subscriber's membership: it left, or was kicked or banned. */
export function endsMembership(e: StoredEvent, userId: number): boolean {
  if (e.kind !== "message") return false;
  const m = e.message;
  return (m.kind === "leave" && m.senderId === userId) || ((m.kind === "kick" || m.kind === "ban") && m.subjectId === userId);
}

/**
 * A member's ordered view of a room: it listens first, then replays what it missed from the
 * database, then streams live, skipping what it already yielded. No gap, no duplicate. While it
 * runs the member counts as online. It ends after the event that ends the membership.
 */
export async function* openRoomStream(
  db: Db,
  hub: RoomHub,
  presence: PresenceTracker,
  opts: RoomStreamOptions,
): AsyncGenerator<StreamItem> {
  const queue = new AsyncQueue<HubEvent>();
  let overflowed = false;
  const overflow = () => {
    overflowed = true;
    queue.close();
    opts.onOverflow?.();
  };
  /** The last seq passed on (replayed, yielded or handed to direct). */
  let cursor = 0;
  /** True only while the live loop waits on an empty queue: then direct may take the next event. */
  let parked = false;
  const mine = (e: StoredEvent) => endsMembership(e, opts.userId);
  const detach = hub.attach(opts.roomId, {
    userId: opts.userId,
    wantsPresence: !opts.storedOnly,
    deliver: (e) => {
      if (overflowed) return;
      if (e.type === "typing" && (opts.storedOnly || e.userId === opts.userId)) return;
      if (e.type === "presence" && opts.storedOnly) return;
      if (parked && opts.direct && e.type === "event" && e.event.seq === cursor + 1 && !mine(e.event)) {
        cursor = e.event.seq;
        opts.direct(e);
        if (opts.isBackedUp?.()) overflow();
        return;
      }
      parked = false;
      queue.push(e);
      if (queue.size() > opts.maxQueue || opts.isBackedUp?.()) overflow();
    },
  });
  // Asked at once: events past this seq reach the queue, so the replay stops there.
  const liveFromPromise = hub.liveFrom(opts.roomId);
  const onAbort = () => queue.close();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let online = false;
  try {
    // Membership is checked once, after attaching: a removal or leave published before this
    // read is seen here, one published after it reaches the queue. No window in between.
    const now = await rooms.findRoomForUser(db, opts.roomId, opts.userId);
    if (!now) throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    if (!now.isMember) {
      // Removed a moment ago (between attaching and this read): say so, as the event would have.
      const how = await messages.recentRemoval(db, opts.roomId, opts.userId, now.lastSeq);
      const why = how === "kick" ? MESSAGES.kickedByOwner : how === "ban" ? MESSAGES.bannedByOwner : MESSAGES.notMember;
      throw new AppError("FORBIDDEN", why);
    }
    cursor = opts.afterSeq ?? now.lastSeq;
    // The feed's start; if it closed before knowing it, the gap reads of the live loop cover all.
    const liveFrom = await liveFromPromise;
    // An event that ends a membership may be an old one (replayed, or before a rejoin): the
    // database says whether it is the last word.
    const gone = async () => !(await rooms.findRoomForUser(db, opts.roomId, opts.userId))?.isMember;
    opts.onReady?.();
    online = true;
    await presence.connect(opts.roomId, opts.userId);
    // The subscriber's view of who is online: a change is passed on only if it changes the view.
    const view = new Set<number>();
    if (!opts.storedOnly) {
      // The feed's view: no query of its own, and the base its later changes are relative to.
      // The subscriber itself is online whether or not the feed has heard so yet.
      let members = (await untilAborted(hub.presenceSnapshot(opts.roomId), opts.signal)) ?? [];
      if (opts.signal?.aborted) return;
      if (!members.some((p) => p.userId === opts.userId)) members = [...members, { userId: opts.userId, login: opts.login }];
      for (const p of members) view.add(p.userId);
      yield { type: "presence", online: members, at: cursor };
    }
    // The replay: every event after the cursor up to where the live feed took over, in shared
    // pages, taking turns with everything else on the event loop so that a subscriber resuming
    // from far back delays no one else's requests.
    let readFrom = cursor;
    while (liveFrom !== undefined && readFrom < liveFrom) {
      const page = await hub.replayPage(opts.roomId, readFrom, liveFrom);
      readFrom = page.end;
      let slice = await hub.replayPacer.turn();
      for (const e of page.events) {
        if (e.seq <= cursor) continue;
        if (overflowed || opts.signal?.aborted) return;
        if (slice.spent()) slice = await hub.replayPacer.turn();
        cursor = e.seq;
        yield { type: "event", event: e };
        if (mine(e) && (await gone())) return;
      }
    }
    for (;;) {
      if (queue.size() === 0) parked = true;
      const e = await queue.take();
      parked = false;
      if (e === undefined || overflowed) return;
      if (e.type === "removed") {
        yield { type: "removed", lastSeq: e.lastSeq };
        return;
      }
      if (e.type === "presence") {
        if (view.has(e.userId) === e.online) continue;
        if (e.online) view.add(e.userId);
        else view.delete(e.userId);
        yield { type: "presence.change", userId: e.userId, login: e.login, online: e.online, at: cursor };
        continue;
      }
      if (e.type === "typing") {
        yield { ...e, at: cursor };
        continue;
      }
      const seq = e.event.seq;
      // Already yielded by the replay (which also checked whether it ended the membership).
      if (seq <= cursor) continue;
      if (seq > cursor + 1) {
        // We attached while these were committing: read the gap before going on.
        const gap = await messages.listEventsAfter(db, opts.roomId, cursor, seq - cursor - 1);
        for (const g of gap) {
          cursor = g.seq;
          yield { type: "event", event: g };
          if (mine(g) && (await gone())) return;
        }
      }
      cursor = seq;
      yield e;
      if (mine(e.event) && (await gone())) return;
    }
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    detach();
    if (online) presence.disconnect(opts.roomId, opts.userId);
  }
}

/** The promise's value, or undefined as soon as the signal aborts. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T | undefined> {
  if (!signal) return p;
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
