import type { Message, PresenceMember } from "@anonchat/shared";
import { messages, presence, rooms, type Db, type StoredEvent } from "@anonchat/db";
import { Pacer } from "../util/pacer.js";
import type { BusEvent, EventBus } from "./bus.js";

export type HubEvent =
  | { type: "event"; event: StoredEvent }
  | { type: "removed"; lastSeq: number }
  | { type: "presence"; userId: number; login: string; online: boolean }
  | { type: "typing"; userId: number; login: string; typing: boolean };

export interface HubSubscriber {
  userId: number;
  /** Whether it shows who is online: a feed reads presence only while such a subscriber is on. */
  wantsPresence: boolean;
  /** Called synchronously for each event; stored events come in seq order. */
  deliver(event: HubEvent): void;
}

const FETCH_BATCH = 500;
/**
 * Replays read the stream in pages aligned to multiples of this, so subscribers resuming from
 * different points of one room still ask for the same pages and share them.
 */
export const REPLAY_PAGE = 200;
/** Replay pages kept for other subscribers of the room that resume a moment later. */
const REPLAY_CACHE_PAGES = 64;
const REPLAY_CACHE_MS = 5000;
/** Longest stretch of replay work before the event loop gets to serve other requests. */
const REPLAY_SLICE_MS = 1;
/**
 * Typing notices held behind a slow fetch, at most; past it the oldest go (they are stale).
 * Presence changes are never dropped: each is a change of the feed's view, and they stop while
 * the database is unreachable, since reading them needs it.
 */
const HELD_MAX = 1000;

export interface HubHooks {
  /** A chat message handed to this many local subscribers (metrics). */
  onDeliver?(message: Message, subscribers: number): void;
  /** A replay page served: read from the database, or shared with another replay (metrics). */
  onReplayPage?(source: "database" | "shared"): void;
}

export interface HubOptions {
  onError?: (err: unknown) => void;
  hooks?: HubHooks;
  /** Presence rows older than this are dead (a process that died). */
  presenceTtlSeconds?: number;
  /**
   * Every this many ms, compare each feed's last seq with the database in one query and read
   * what a lost notice left behind (0: never). For buses that may drop a notice while connected
   * (Redis pub/sub); without it the last message of a room that then goes quiet would wait for
   * the next one.
   */
  catchUpIntervalMs?: number;
}

/** Rooms per catch-up query. */
const CATCH_UP_CHUNK = 500;

/**
 * One feed per room with local subscribers: it learns of new seqs from the bus, reads the new
 * events once (or takes them from an in-process event) and hands the same objects to every
 * local subscriber, in seq order with no gap. It also relays the room's ephemeral events.
 */
class RoomFeed {
  readonly subscribers = new Set<HubSubscriber>();
  private lastSeq: number | undefined;
  private target = 0;
  /**
   * Presence and typing heard while stored events announced before them are still being read:
   * they wait for those, so a notice never overtakes the message or kick that came before it.
   */
  private readonly held: Array<{ after: number; event: HubEvent }> = [];
  private fetching = false;
  /** Members whose online state may have changed, read in one go. */
  private readonly presenceDirty = new Set<number>();
  private presenceReading = false;
  /**
   * Who is online (id → login) as this feed last told its subscribers: read once when the feed
   * starts, then kept by reading every change. Changes wait until that first read is done, so a
   * newer change is never overwritten by the older snapshot.
   */
  private readonly online = new Map<number, string>();
  private presenceReady = false;
  private presenceTracked = false;
  /** A whole-room read is wanted: the first one, or for a snapshot asked since the last began. */
  private presenceFullWanted = false;
  /** Waiting for the first lastSeq (the seq after which this feed hands every event on). */
  private readonly startWaiters: Array<(seq: number | undefined) => void> = [];
  private readonly presenceWaiters: Array<(online: PresenceMember[] | undefined) => void> = [];
  closed = false;

  constructor(
    private readonly db: Db,
    readonly roomId: string,
    private readonly opts: Required<Pick<HubOptions, "onError" | "presenceTtlSeconds">> & { hooks: HubHooks },
  ) {}

  async init(): Promise<void> {
    try {
      const last = await rooms.getRoomLastSeq(this.db, this.roomId);
      if (this.closed) return;
      this.lastSeq = last ?? 0;
      for (const w of this.startWaiters.splice(0)) w(this.lastSeq);
      this.releaseHeld();
      this.pump();
    } catch (err) {
      this.opts.onError(err);
      // Without a starting point we cannot order anything: retry shortly.
      setTimeout(() => void (this.closed ? undefined : this.init()), 500).unref();
    }
  }

  /** Starts following who is online (once): read it, then read every change heard after. */
  trackPresence(): void {
    if (this.presenceTracked) return;
    this.presenceTracked = true;
    this.presenceFullWanted = true;
    this.wakePresence();
  }

  /**
   * Who is online, for a subscriber that has just marked itself online: from a read of the whole
   * room that starts after this call (shared by every subscriber that asks meanwhile), so it
   * holds everyone whose row was written before, even where the bus has not yet told this
   * process (another replica's NOTIFY in flight, or a change still being read). Undefined if
   * the feed closes first.
   */
  presenceSnapshot(): Promise<PresenceMember[] | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.presenceWaiters.push(resolve);
      this.presenceFullWanted = true;
      this.wakePresence();
    });
  }

  /**
   * The seq after which a subscriber attached now receives every stored event from this feed:
   * what it misses is at or below it, so its replay can stop there (undefined if the feed
   * closes before it knows).
   */
  liveFrom(): Promise<number | undefined> {
    if (this.lastSeq !== undefined) return Promise.resolve(this.lastSeq);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.startWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (const w of this.presenceWaiters.splice(0)) w(undefined);
    for (const w of this.startWaiters.splice(0)) w(undefined);
  }

  private onlineList(): PresenceMember[] {
    return [...this.online].map(([userId, login]) => ({ userId, login }));
  }

  onStored(seq: number, event: StoredEvent | undefined): void {
    if (seq > this.target) this.target = seq;
    if (this.lastSeq === undefined || this.fetching) return;
    if (event && seq === this.lastSeq + 1) {
      this.lastSeq = seq;
      this.broadcast({ type: "event", event });
      this.releaseHeld();
      return;
    }
    this.pump();
  }

  /** Passes on an ephemeral event, after every stored event announced before it. */
  relay(event: HubEvent): void {
    if (this.held.length >= HELD_MAX && event.type === "typing") {
      const oldest = this.held.findIndex((h) => h.event.type === "typing");
      if (oldest >= 0) this.held.splice(oldest, 1);
    }
    this.held.push({ after: this.target, event });
    this.releaseHeld();
  }

  /** Passes on the held events whose stored predecessors have all been passed on, in order. */
  private releaseHeld(): void {
    const last = this.lastSeq;
    if (last === undefined) return;
    let n = 0;
    while (n < this.held.length && (this.held[n] as { after: number }).after <= last) n++;
    for (const h of this.held.splice(0, n)) this.broadcast(h.event);
  }

  broadcast(event: HubEvent): void {
    for (const s of this.subscribers) s.deliver(event);
    if (event.type === "event" && event.event.kind === "message" && event.event.message.kind === "text") {
      this.opts.hooks.onDeliver?.(event.event.message, this.subscribers.size);
    }
  }

  onPresence(userId: number): void {
    if (!this.presenceTracked) return;
    this.presenceDirty.add(userId);
    this.wakePresence();
  }

  private wakePresence(): void {
    if (this.presenceTracked && !this.presenceReading && !this.closed) void this.readPresence();
  }

  /** Applies what the database says of these members, telling subscribers of each change once ready. */
  private applyPresence(ids: Iterable<number>, now: Map<number, string>): void {
    for (const id of ids) {
      const login = now.get(id);
      const known = this.online.get(id);
      if (login !== undefined && known === undefined) {
        this.online.set(id, login);
        if (this.presenceReady) this.relay({ type: "presence", userId: id, login, online: true });
      } else if (login === undefined && known !== undefined) {
        this.online.delete(id);
        if (this.presenceReady) this.relay({ type: "presence", userId: id, login: known, online: false });
      }
    }
  }

  /**
   * One reader at a time: a whole-room read when one is wanted (the first, and one per burst of
   * new subscribers, whose snapshots it answers), else the members whose state changed. Changes
   * heard before the first read wait for it, so an older snapshot never overwrites them.
   */
  private async readPresence(): Promise<void> {
    this.presenceReading = true;
    let ids: number[] = [];
    let waiters: Array<(online: PresenceMember[] | undefined) => void> = [];
    let full = false;
    try {
      while ((this.presenceFullWanted || (this.presenceReady && this.presenceDirty.size > 0)) && !this.closed) {
        full = this.presenceFullWanted;
        if (full) {
          this.presenceFullWanted = false;
          waiters = this.presenceWaiters.splice(0);
          ids = [...this.presenceDirty];
          this.presenceDirty.clear();
          const rows = await presence.listOnline(this.db, this.roomId, this.opts.presenceTtlSeconds);
          if (this.closed) break;
          const now = new Map(rows.map((p) => [p.userId, p.login]));
          this.applyPresence(new Set([...ids, ...this.online.keys(), ...now.keys()]), now);
          this.presenceReady = true;
          const list = this.onlineList();
          for (const w of waiters) w(list);
        } else {
          ids = [...this.presenceDirty];
          this.presenceDirty.clear();
          const rows = await presence.listOnline(this.db, this.roomId, this.opts.presenceTtlSeconds, ids);
          this.applyPresence(ids, new Map(rows.map((p) => [p.userId, p.login])));
        }
        ids = [];
        waiters = [];
      }
    } catch (err) {
      this.opts.onError(err);
      // Read them again shortly: a change or a snapshot must not be lost to a failed query.
      for (const id of ids) this.presenceDirty.add(id);
      if (full) {
        this.presenceFullWanted = true;
        this.presenceWaiters.unshift(...waiters);
      }
      setTimeout(() => this.wakePresence(), 500).unref();
    } finally {
      this.presenceReading = false;
    }
    if (this.closed) for (const w of waiters) w(undefined);
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
      // Presence changes announced meanwhile were missed too: the whole room is read again.
      if (this.presenceTracked) {
        this.presenceFullWanted = true;
        this.wakePresence();
      }
    } catch (err) {
      this.opts.onError(err);
    }
  }

  /** The periodic catch-up found the room at lastStored (undefined: the room is gone). */
  catchUp(lastStored: number | undefined, onGone: (lastSeq: number) => void): void {
    if (this.lastSeq === undefined || this.closed) return;
    if (lastStored === undefined) return onGone(this.lastSeq);
    if (lastStored > this.target) this.target = lastStored;
    this.pump();
  }

  /** The seq this feed has handed on (undefined before it knows where it starts). */
  handedOn(): number | undefined {
    return this.lastSeq;
  }

  private pump(): void {
    if (this.fetching || this.closed || this.lastSeq === undefined || this.target <= this.lastSeq) return;
    this.fetching = true;
    void this.fetchLoop();
  }

  private async fetchLoop(): Promise<void> {
    try {
      while (!this.closed && this.lastSeq !== undefined && this.target > this.lastSeq) {
        const batch = await messages.listEventsAfter(this.db, this.roomId, this.lastSeq, FETCH_BATCH);
        if (batch.length === 0) {
          // Nothing stored past lastSeq (the room was removed meanwhile): nothing to wait for.
          this.target = this.lastSeq;
          for (const h of this.held.splice(0)) this.broadcast(h.event);
          break;
        }
        for (const e of batch) {
          if (this.closed) return;
          this.lastSeq = e.seq;
          this.broadcast({ type: "event", event: e });
          this.releaseHeld();
        }
      }
    } catch (err) {
      this.opts.onError(err);
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
  /** Replay pages being read or read a moment ago, shared by the room's resuming subscribers. */
  private readonly pages = new Map<string, { events: Promise<StoredEvent[]>; expires: number }>();
  /** Replays take turns on the event loop with everything else (see Pacer). */
  readonly replayPacer = new Pacer(REPLAY_SLICE_MS);
  private readonly unsubscribe: () => void;
  private readonly feedOpts: ConstructorParameters<typeof RoomFeed>[2];
  private readonly hooks: HubHooks;
  private readonly catchUpTimer: NodeJS.Timeout | undefined;
  private catchingUp = false;

  constructor(
    private readonly db: Db,
    bus: EventBus,
    opts: HubOptions = {},
  ) {
    this.hooks = opts.hooks ?? {};
    this.feedOpts = {
      onError: opts.onError ?? (() => {}),
      hooks: this.hooks,
      presenceTtlSeconds: opts.presenceTtlSeconds ?? 45,
    };
    this.unsubscribe = bus.subscribe((e) => this.onBusEvent(e));
    const every = opts.catchUpIntervalMs ?? 0;
    if (every > 0) {
      this.catchUpTimer = setInterval(() => void this.catchUp(), every);
      this.catchUpTimer.unref();
    }
  }

  /**
   * Reads the last seq of every room with a feed (one query per CATCH_UP_CHUNK rooms) and has
   * each feed read what it has not handed on: a lost notice costs a delay, never a message.
   */
  async catchUp(): Promise<void> {
    if (this.catchingUp) return;
    this.catchingUp = true;
    try {
      const feeds = [...this.feeds].filter(([, f]) => f.handedOn() !== undefined);
      for (let i = 0; i < feeds.length; i += CATCH_UP_CHUNK) {
        const chunk = feeds.slice(i, i + CATCH_UP_CHUNK);
        const last = await rooms.getRoomsLastSeq(
          this.db,
          chunk.map(([id]) => id),
        );
        for (const [roomId, feed] of chunk) {
          if (this.feeds.get(roomId) !== feed) continue;
          feed.catchUp(last.get(roomId), (lastSeq) => this.removeFeed(roomId, feed, lastSeq));
        }
      }
    } catch (err) {
      this.feedOpts.onError(err);
    } finally {
      this.catchingUp = false;
    }
  }

  attach(roomId: string, sub: HubSubscriber): () => void {
    let feed = this.feeds.get(roomId);
    if (!feed) {
      feed = new RoomFeed(this.db, roomId, this.feedOpts);
      this.feeds.set(roomId, feed);
      void feed.init();
    }
    feed.subscribers.add(sub);
    if (sub.wantsPresence) feed.trackPresence();
    const f = feed;
    return () => {
      f.subscribers.delete(sub);
      if (f.subscribers.size === 0 && this.feeds.get(roomId) === f) {
        f.close();
        this.feeds.delete(roomId);
      }
    };
  }

  /**
   * Where a subscriber that has just attached to roomId starts receiving live events: call it
   * right after attach(), before anything else can run.
   */
  liveFrom(roomId: string): Promise<number | undefined> {
    return this.feeds.get(roomId)?.liveFrom() ?? Promise.resolve(undefined);
  }

  /**
   * One replay page: the events after afterSeq up to the end of afterSeq's aligned page or
   * throughSeq, whichever is first, with the seq the page ends at. Every seq up to throughSeq is
   * stored (a feed handed it on), so a page never changes and concurrent replays of a room read
   * each page once.
   */
  async replayPage(roomId: string, afterSeq: number, throughSeq: number): Promise<{ events: StoredEvent[]; end: number }> {
    const start = afterSeq - (afterSeq % REPLAY_PAGE);
    const end = Math.min(start + REPLAY_PAGE, throughSeq);
    const key = `${roomId}\u0000${start}\u0000${end}`;
    const now = Date.now();
    let page = this.pages.get(key);
    if (!page || page.expires < now) {
      const events = messages.listEventsBetween(this.db, roomId, start, end);
      page = { events, expires: now + REPLAY_CACHE_MS };
      this.pages.delete(key);
      this.pages.set(key, page);
      const cached = page;
      events.catch(() => {
        if (this.pages.get(key) === cached) this.pages.delete(key);
      });
      for (const k of this.pages.keys()) {
        if (this.pages.size <= REPLAY_CACHE_PAGES) break;
        this.pages.delete(k);
      }
      this.hooks.onReplayPage?.("database");
    } else {
      this.hooks.onReplayPage?.("shared");
    }
    return { events: await page.events, end };
  }

  /** After a gap in the bus (the listener reconnected): catch every feed up from the database. */
  resync(): void {
    for (const [roomId, feed] of this.feeds) {
      void feed.resync((lastSeq) => this.removeFeed(roomId, feed, lastSeq));
    }
  }

  /**
   * The room's online members as its feed knows them, for a subscriber attached with
   * wantsPresence: no query of its own, and the same view the feed's later changes build on.
   */
  presenceSnapshot(roomId: string): Promise<PresenceMember[] | undefined> {
    return this.feeds.get(roomId)?.presenceSnapshot() ?? Promise.resolve(undefined);
  }

  /** Local subscriber count, for metrics and tests. */
  subscriberCount(): number {
    let n = 0;
    for (const f of this.feeds.values()) n += f.subscribers.size;
    return n;
  }

  close(): void {
    if (this.catchUpTimer) clearInterval(this.catchUpTimer);
    this.unsubscribe();
    for (const f of this.feeds.values()) f.close();
    this.feeds.clear();
    this.pages.clear();
  }

  private removeFeed(roomId: string, feed: RoomFeed, lastSeq: number): void {
    feed.close();
    if (this.feeds.get(roomId) === feed) this.feeds.delete(roomId);
    feed.broadcast({ type: "removed", lastSeq });
  }

  private onBusEvent(e: BusEvent): void {
    if (e.type === "session_revoked" || e.type === "member_joined" || e.type === "read") return;
    const feed = this.feeds.get(e.roomId);
    if (!feed) return;
    switch (e.type) {
      case "message":
        feed.onStored(e.seq, e.event);
        break;
      case "room_removed":
        this.removeFeed(e.roomId, feed, e.lastSeq);
        break;
      case "presence":
        feed.onPresence(e.userId);
        break;
      case "typing":
        feed.relay({ type: "typing", userId: e.userId, login: e.login, typing: e.typing });
        break;
    }
  }
}
