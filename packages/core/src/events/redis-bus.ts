import { randomBytes } from "node:crypto";
import { Redis, type RedisOptions } from "ioredis";
import type { BusEvent, BusListener, EventBus } from "./bus.js";

export interface RedisBusOptions {
  url: string;
  /** The pub/sub channel every process of one deployment shares. */
  channel?: string;
  /**
   * A message event crosses with its stored event attached when that JSON is at most this many
   * bytes (receivers then deliver it without a read); larger ones cross as ids and are read.
   * 0 sends ids only.
   */
  payloadMaxBytes: number;
  onError?: (err: Error) => void;
  /** Extra ioredis options (tests). */
  redisOptions?: RedisOptions;
}

interface Wire {
  /** The sending process, so it can ignore its own messages. */
  o: string;
  e: BusEvent[];
}

/**
 * The bus across processes on Redis pub/sub, for deployments where PostgreSQL NOTIFY (which
 * serialises notifying commits) is the limit. PostgreSQL stays the store of record: this bus
 * only says what was stored, after the commit, and may lose a notice (pub/sub is fire and forget:
 * a subscriber disconnected at the moment of a publish never gets it). Receivers recover from
 * that the way they recover from a NOTIFY missed during a reconnect: a message event with a
 * higher seq makes the room's feed read the gap from PostgreSQL, the subscriber connection's
 * reconnect triggers a resync of every feed, and the hub's periodic catch-up (see RoomHub)
 * finds the last message of a room that has gone quiet since a lost notice.
 *
 * Pub/sub rather than Streams: a stream would give replay of missed notices, but PostgreSQL
 * already is that replay (every stored event has a seq and is read by seq), so a stream would
 * store each event a second time, need trimming and per-reader cursors, and cost more per
 * message than one PUBLISH that Redis forwards and forgets.
 *
 * One PUBLISH per publishMany call (a send batch, a join) keeps one process's events in the
 * order it published them; events from different processes for one room are ordered by seq,
 * and a feed that sees a seq out of turn reads the gap instead of guessing.
 */
export class RedisBus implements EventBus {
  private readonly listeners = new Set<BusListener>();
  private readonly resyncListeners = new Set<() => void>();
  private readonly origin = randomBytes(6).toString("hex");
  private readonly channel: string;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private subscribedOnce = false;
  private closed = false;

  constructor(private readonly opts: RedisBusOptions) {
    this.channel = opts.channel ?? "anonchat:events";
    const base: RedisOptions = {
      lazyConnect: true,
      // Reconnect for ever, backing off to 2 s: the bus must come back by itself.
      retryStrategy: (times) => Math.min(times * 100, 2000),
      ...opts.redisOptions,
    };
    // A publish while Redis is unreachable fails at once instead of queueing without bound: the
    // event is in PostgreSQL already and receivers catch up after their own reconnect.
    this.pub = new Redis(opts.url, { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    // The subscriber resubscribes itself (below) so that the resync runs after the subscription.
    this.sub = new Redis(opts.url, { ...base, autoResubscribe: false });
    const onError = (err: Error) => this.opts.onError?.(err);
    this.pub.on("error", onError);
    this.sub.on("error", onError);
    this.sub.on("message", (channel: string, message: string) => {
      if (channel === this.channel) this.onMessage(message);
    });
    this.sub.on("ready", () => void this.onSubscriberReady());
  }

  async start(): Promise<void> {
    await Promise.all([this.pub.connect(), this.sub.connect()]);
    // The first "ready" subscribes; wait for it so nothing published after start() is missed.
    await new Promise<void>((resolve, reject) => {
      const check = () => (this.subscribedOnce ? resolve() : this.closed ? reject(new Error("bus closed")) : setTimeout(check, 10));
      check();
    });
  }

  async publish(event: BusEvent): Promise<void> {
    await this.publishMany([event]);
  }

  /** Local listeners get every event at once; other processes get them in one PUBLISH. */
  async publishMany(events: BusEvent[]): Promise<void> {
    for (const e of events) this.emit(e);
    if (events.length === 0 || this.closed) return;
    const wire: BusEvent[] = events.map((e) => this.forWire(e));
    await this.pub.publish(this.channel, JSON.stringify({ o: this.origin, e: wire } satisfies Wire));
  }

  /** Nothing rides on the commit: the events are published after it (see announced). */
  appendNotice(): undefined {
    return undefined;
  }

  /** Events just committed by a write that took no appendNotice(): sent on like any other. */
  announced(events: BusEvent[]): void {
    this.publishMany(events).catch((err: unknown) => this.opts.onError?.(err instanceof Error ? err : new Error(String(err))));
  }

  subscribe(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs after the subscriber connection comes back: notices may have been missed meanwhile. */
  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.resyncListeners.clear();
    this.pub.disconnect();
    this.sub.disconnect();
  }

  private forWire(e: BusEvent): BusEvent {
    if (e.type !== "message") return e;
    const ids: BusEvent = { type: "message", roomId: e.roomId, seq: e.seq };
    if (!e.event || this.opts.payloadMaxBytes <= 0) return ids;
    const full: BusEvent = { type: "message", roomId: e.roomId, seq: e.seq, event: e.event };
    // Cheap bound first: a UTF-8 byte is at least one UTF-16 unit and at most 3 per unit.
    const text = JSON.stringify(e.event);
    if (text.length > this.opts.payloadMaxBytes) return ids;
    if (text.length * 3 > this.opts.payloadMaxBytes && Buffer.byteLength(text) > this.opts.payloadMaxBytes) return ids;
    return full;
  }

  private async onSubscriberReady(): Promise<void> {
    if (this.closed) return;
    try {
      await this.sub.subscribe(this.channel);
    } catch (err) {
      this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (!this.subscribedOnce) {
      this.subscribedOnce = true;
      return;
    }
    // Subscribed again after a disconnect: what was published meanwhile is read from PostgreSQL.
    for (const l of this.resyncListeners) l();
  }

  private onMessage(message: string): void {
    let parsed: Partial<Wire>;
    try {
      parsed = JSON.parse(message) as Partial<Wire>;
    } catch {
      return;
    }
    if (parsed.o === this.origin || !Array.isArray(parsed.e)) return;
    for (const e of parsed.e) {
      if (!e || typeof e !== "object" || typeof e.type !== "string") continue;
      this.emit(e.type === "message" ? { ...e, remote: true } : e);
    }
  }

  private emit(event: BusEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // one listener's failure must not stop the others
      }
    }
  }
}
