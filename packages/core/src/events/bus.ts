import type { AppendNotice, StoredEvent } from "@anonchat/db";

/**
 * What one process tells the others after a commit. On PostgreSQL NOTIFY payloads stay small
 * (ids); the in-process bus attaches the stored event to save a read, and the Redis bus does too
 * up to BUS_PAYLOAD_MAX_BYTES (remote is then set: the event was stored by another process).
 *
 * "message" says the room's stream reached seq (a message, membership event, edit or deletion);
 * "member_joined" tells the joiner's room lists; "presence" says a member's online state may have
 * changed (receivers read it); "typing" and "read" are ephemeral and carry what they say.
 */
export type BusEvent =
  | { type: "message"; roomId: string; seq: number; event?: StoredEvent; remote?: boolean }
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
   * at no extra cost (undefined: the bus does not ride on the commit; see announced).
   */
  appendNotice(): AppendNotice | undefined;
  /**
   * Events just committed by a write that was given appendNotice(). When that was a notice, the
   * notification went out with the commit and only local listeners get them here; when it was
   * undefined, the bus sends them on to other processes itself (fire and forget, after commit).
   */
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
