import { randomBytes } from "node:crypto";
import { presence, type Db } from "@anonchat/db";
import type { PresenceMember } from "@anonchat/shared";
import type { EventBus } from "../events/bus";

export interface PresenceOptions {
  /** A process's rows count as alive this long after its last heartbeat. */
  ttlSeconds: number;
  onError?: (err: unknown) => void;
}

/**
 * Who is online in which room, across processes. Each process counts its own live connections per
 * (room, user) and keeps one row per pair in PostgreSQL while the count is above zero; the row's
 * heartbeat lets others drop a process that died. Every change is announced on the bus, and each
 * process's room feed reads the resulting state, so the last word is always the database's.
 */
export class PresenceTracker {
  readonly instanceId = randomBytes(8).toString("hex");
  private readonly local = new Map<string, number>();
  /** Database writes per (room, user), in order: a quick connect-disconnect ends offline. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly opts: PresenceOptions,
  ) {
    const every = Math.max(1, Math.floor(opts.ttlSeconds / 3)) * 1000;
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  /** Counts one live connection; resolves once the row is written (or the write failed). */
  connect(roomId: string, userId: number): Promise<void> {
    const key = `${roomId}|${userId}`;
    const n = (this.local.get(key) ?? 0) + 1;
    this.local.set(key, n);
    if (n > 1) return this.chains.get(key) ?? Promise.resolve();
    return this.enqueue(key, async () => {
      if ((this.local.get(key) ?? 0) === 0) return;
      await presence.markOnline(this.db, roomId, userId, this.instanceId);
      await this.announce(roomId, userId);
    });
  }

  disconnect(roomId: string, userId: number): void {
    const key = `${roomId}|${userId}`;
    const n = (this.local.get(key) ?? 0) - 1;
    if (n > 0) {
      this.local.set(key, n);
      return;
    }
    this.local.delete(key);
    void this.enqueue(key, async () => {
      if ((this.local.get(key) ?? 0) > 0) return;
      await presence.markOffline(this.db, roomId, userId, this.instanceId);
      await this.announce(roomId, userId);
    });
  }

  /** At the start of the only process on a database: rows left by an earlier run are stale. */
  async forgetEarlierRuns(): Promise<void> {
    await presence.clearAll(this.db);
  }

  list(roomId: string): Promise<PresenceMember[]> {
    return presence.listOnline(this.db, roomId, this.opts.ttlSeconds);
  }

  async isOnline(roomId: string, userIds: number[]): Promise<Set<number>> {
    return new Set((await presence.onlineAmong(this.db, roomId, userIds, this.opts.ttlSeconds)).keys());
  }

  /** Graceful shutdown: this process's members go offline now rather than after the TTL. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([...this.chains.values()]);
    try {
      const gone = await presence.removeInstance(this.db, this.instanceId);
      await this.bus.publishMany(gone.map((g) => ({ type: "presence" as const, ...g })));
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  private enqueue(key: string, work: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(work).catch((err: unknown) => this.opts.onError?.(err));
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
    return next;
  }

  private announce(roomId: string, userId: number): Promise<void> {
    return this.bus.publish({ type: "presence", roomId, userId }).catch((err: unknown) => this.opts.onError?.(err));
  }

  /** Heartbeat for our rows; then drop everyone's dead rows and announce whose they were. */
  private async tick(): Promise<void> {
    try {
      const rows = await presence.heartbeat(this.db, this.instanceId);
      if (rows < this.local.size) {
        const held = [...this.local.keys()].map((k) => {
          const [roomId, userId] = k.split("|") as [string, string];
          return { roomId, userId: Number(userId) };
        });
        await presence.restore(this.db, this.instanceId, held);
        await this.bus.publishMany(held.map((h) => ({ type: "presence" as const, ...h })));
      }
      const expired = await presence.sweepExpired(this.db, this.opts.ttlSeconds);
      if (expired.length > 0) await this.bus.publishMany(expired.map((g) => ({ type: "presence" as const, ...g })));
    } catch (err) {
      this.opts.onError?.(err);
    }
  }
}
