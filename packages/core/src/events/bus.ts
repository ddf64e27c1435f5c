import type { AppendNotice, StoredEvent } from "@anonchat/db";

/**
 * What one process tells the others after a commit. Payloads stay small (ids), so they fit a
 * PostgreSQL NOTIFY; the in-process bus may attach the stored event to save a read.
 *
 * "message" says the room's stream reached seq (a message, membership event, edit or deletion);
 * "member_joined" tells the joiner's room lists; "presence" says a member's online state may have
 * changed (receivers read it); "typing" and "read" are ephemeral and carry what they say.
 */
export type BusEvent =
  | { type: "message"; roomId: string; seq: number; event?: StoredEvent }
  | { type: "room_removed"; roomId: string; lastSeq: number }
  | { type: "member_joined"; roomId: string; userId: number }
  | { type: "presence"; roomId: string; userId: number }
  | { type: "typing"; roomId: string; userId: number; login: string; typing: boolean }
  | { type: "read"; roomId: string; userId: number; lastReadSeq: number; unreadCount: number }
  | { type: "session_revoked"; sessionId: string };

export type BusListener = (event: BusEvent) => void;

export interface EventBus {
  publish(event: BusEvent): Promise<void>;
  /** Several events at once (one round trip where the bus crosses processes). */
  publishMany(events: BusEvent[]): Promise<void>;
  /**
   * Where a writing transaction sends its own notification, so that it goes out with the commit
   * at no extra cost (undefined: nothing crosses processes).
   */
  appendNotice(): AppendNotice | undefined;
  /** Events whose notification went out with their commit (see appendNotice): local listeners only. */
  announced(events: BusEvent[]): void;
  subscribe(listener: BusListener): () => void;
  close(): Promise<void>;
}

/** The all-in-one bus: a synchronous fan-out inside this process. */
export class InProcessBus implements EventBus {
  private readonly listeners = new Set<BusListener>();

  async publish(event: BusEvent): Promise<void> {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A listener's failure must not stop delivery to the others.
      }
    }
  }

  async publishMany(events: BusEvent[]): Promise<void> {
    for (const e of events) await this.publish(e);
  }

  appendNotice(): undefined {
    return undefined;
  }

  announced(events: BusEvent[]): void {
    for (const e of events) void this.publish(e);
  }

  subscribe(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
