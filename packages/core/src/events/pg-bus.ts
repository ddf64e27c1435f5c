import { randomBytes } from "node:crypto";
import type { AppendNotice, Notifier } from "@anonchat/db";
import type { BusEvent, BusListener, EventBus } from "./bus.js";

/**
 * The bus across processes on one PostgreSQL: local listeners get each event at once (with the
 * message attached); other processes get a NOTIFY with ids only and read what they need.
 */
export class PgBus implements EventBus {
  private readonly listeners = new Set<BusListener>();
  private readonly resyncListeners = new Set<() => void>();
  /** Tells our own notifications apart, since LISTEN also hears them. */
  private readonly origin = randomBytes(6).toString("hex");

  constructor(private readonly notifier: Notifier) {}

  async start(): Promise<void> {
    await this.notifier.listen(
      (payload) => this.onPayload(payload),
      () => this.resyncListeners.forEach((l) => l()),
    );
  }

  async publish(event: BusEvent): Promise<void> {
    await this.publishMany([event]);
  }

  /**
   * Local listeners get every event; other processes get one notification per room for a run of
   * messages (the highest seq: they read everything up to it), all in one round trip.
   */
  async publishMany(events: BusEvent[]): Promise<void> {
    for (const e of events) this.emit(e);
    const newest = new Map<string, number>();
    const wire: BusEvent[] = [];
    for (const e of events) {
      if (e.type === "message") newest.set(e.roomId, Math.max(e.seq, newest.get(e.roomId) ?? 0));
      else wire.push(e);
    }
    for (const [roomId, seq] of newest) wire.push({ type: "message", roomId, seq });
    if (wire.length === 0) return;
    await this.notifier.notify(wire.map((e) => JSON.stringify({ o: this.origin, e })));
  }

  appendNotice(): AppendNotice {
    return { channel: this.notifier.channel, origin: this.origin };
  }

  announced(events: BusEvent[]): void {
    for (const e of events) this.emit(e);
  }

  subscribe(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs after the listening connection (re)connects: events may have been missed. */
  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.resyncListeners.clear();
    await this.notifier.close();
  }

  private onPayload(payload: string): void {
    let parsed: { o?: unknown; e?: BusEvent };
    try {
      parsed = JSON.parse(payload) as { o?: unknown; e?: BusEvent };
    } catch {
      return;
    }
    if (parsed.o === this.origin || !parsed.e || typeof parsed.e.type !== "string") return;
    this.emit(parsed.e);
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
