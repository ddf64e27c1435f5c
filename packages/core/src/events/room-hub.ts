import type { Message } from "@anonchat/shared";
import { messages, rooms, type Db } from "@anonchat/db";
import type { BusEvent, EventBus } from "./bus";

export type HubEvent =
  | { type: "message"; message: Message }
  | { type: "removed"; lastSeq: number }
  | { type: "left" };

export interface HubSubscriber {
  userId: number;
  /** Called synchronously for each event, in seq order. */
  deliver(event: HubEvent): void;
}

const FETCH_BATCH = 500;

/**
 * One feed per room with local subscribers: it learns of new seqs from the bus, reads the new
 * messages once (or takes them from an in-process event) and hands the same objects to every
 * local subscriber, in seq order with no gap.
 */
export interface HubHooks {
  /** A message handed to this many local subscribers (metrics). */
  onDeliver?(message: Message, subscribers: number): void;
}

class RoomFeed {
  readonly subscribers = new Set<HubSubscriber>();
  private lastSeq: number | undefined;
  private target = 0;
  private fetching = false;
  closed = false;

  constructor(
    private readonly db: Db,
    readonly roomId: string,
    private readonly onError: (err: unknown) => void,
    private readonly hooks: HubHooks,
  ) {}

  async init(): Promise<void> {
    try {
      const last = await rooms.getRoomLastSeq(this.db, this.roomId);
      this.lastSeq = last ?? 0;
      this.pump();
    } catch (err) {
      this.onError(err);
      // Without a starting point we cannot order anything: retry shortly.
      setTimeout(() => void (this.closed ? undefined : this.init()), 500).unref();
    }
  }

  onMessage(seq: number, message: Message | undefined): void {
    if (seq > this.target) this.target = seq;
    if (this.lastSeq === undefined || this.fetching) return;
    if (message && seq === this.lastSeq + 1) {
      this.lastSeq = seq;
      this.broadcast({ type: "message", message });
      return;
    }
    this.pump();
  }

  broadcast(event: HubEvent): void {
    for (const s of this.subscribers) s.deliver(event);
    if (event.type === "message") this.hooks.onDeliver?.(event.message, this.subscribers.size);
  }

  /**
   * Reads whatever is in the database past lastSeq, whether or not a notification said so
   * (after the bus may have missed some). A room that is gone reports removal.
   */
  async resync(onGone: (lastSeq: number) => void): Promise<void> {
    if (this.lastSeq === undefined || this.closed) return;
    try {
      const last = await rooms.getRoomLastSeq(this.db, this.roomId);
      if (last === undefined) return onGone(this.lastSeq);
      if (last > this.target) this.target = last;
      this.pump();
    } catch (err) {
      this.onError(err);
    }
  }

  private pump(): void {
    if (this.fetching || this.closed || this.lastSeq === undefined || this.target <= this.lastSeq) return;
    this.fetching = true;
    void this.fetchLoop();
  }

  private async fetchLoop(): Promise<void> {
    try {
      while (!this.closed && this.lastSeq !== undefined && this.target > this.lastSeq) {
        const batch = await messages.listMessagesAfter(this.db, this.roomId, this.lastSeq, FETCH_BATCH);
        if (batch.length === 0) break;
        for (const m of batch) {
          if (this.closed) return;
          this.lastSeq = m.seq;
          this.broadcast({ type: "message", message: m });
        }
      }
    } catch (err) {
      this.onError(err);
      setTimeout(() => this.pump(), 500).unref();
    } finally {
      this.fetching = false;
    }
    this.pump();
  }
}

/** The per-process registry of room feeds, fed by the bus. */
export class RoomHub {
  private readonly feeds = new Map<string, RoomFeed>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly db: Db,
    bus: EventBus,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly hooks: HubHooks = {},
  ) {
    this.unsubscribe = bus.subscribe((e) => this.onBusEvent(e));
  }

  attach(roomId: string, sub: HubSubscriber): () => void {
    let feed = this.feeds.get(roomId);
    if (!feed) {
      feed = new RoomFeed(this.db, roomId, this.onError, this.hooks);
      this.feeds.set(roomId, feed);
      void feed.init();
    }
    feed.subscribers.add(sub);
    const f = feed;
    return () => {
      f.subscribers.delete(sub);
      if (f.subscribers.size === 0 && this.feeds.get(roomId) === f) {
        f.closed = true;
        this.feeds.delete(roomId);
      }
    };
  }

  /** After a gap in the bus (the listener reconnected): catch every feed up from the database. */
  resync(): void {
    for (const [roomId, feed] of this.feeds) {
      void feed.resync((lastSeq) => this.removeFeed(roomId, feed, lastSeq));
    }
  }

  /** Local subscriber count, for metrics and tests. */
  subscriberCount(): number {
    let n = 0;
    for (const f of this.feeds.values()) n += f.subscribers.size;
    return n;
  }

  close(): void {
    this.unsubscribe();
    for (const f of this.feeds.values()) f.closed = true;
    this.feeds.clear();
  }

  private removeFeed(roomId: string, feed: RoomFeed, lastSeq: number): void {
    feed.closed = true;
    if (this.feeds.get(roomId) === feed) this.feeds.delete(roomId);
    feed.broadcast({ type: "removed", lastSeq });
  }

  private onBusEvent(e: BusEvent): void {
    if (e.type === "session_revoked") return;
    const feed = this.feeds.get(e.roomId);
    if (!feed) return;
    switch (e.type) {
      case "message":
        feed.onMessage(e.seq, e.message);
        break;
      case "room_removed":
        this.removeFeed(e.roomId, feed, e.lastSeq);
        break;
      case "member_left":
        for (const s of [...feed.subscribers]) if (s.userId === e.userId) s.deliver({ type: "left" });
        break;
    }
  }
}
