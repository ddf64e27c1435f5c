import { randomBytes } from "node:crypto";
import { presence, type Db } from "@anonchat/db";
import type { PresenceMember } from "@anonchat/shared";
import type { EventBus } from "../events/bus.js";

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
  private ticking = false;

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
    const key = keyOf(roomId, userId);
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
    const key = keyOf(roomId, userId);
    const n = (this.local.get(key) ?? 0) - 1;
    if (n > 0) {
      this.local.set(key, n);
      return;
    }
    this.local.delete(key);
    this.markOffline(key, roomId, userId);
  }

  /** At the start of the only process on a database: rows left by an earlier run are stale. */
  async forgetEarlierRuns(): Promise<void> {
    await presence.clearAll(this.db);
  }

  list(roomId: string): Promise<PresenceMember[]> {
    return presence.listOnline(this.db, roomId, this.opts.ttlSeconds);
  }

  async isOnline(roomId: string, userIds: number[]): Promise<Set<number>> {
    return new Set((await presence.listOnline(this.db, roomId, this.opts.ttlSeconds, userIds)).map((p) => p.userId));
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

  /** Drops the row unless the pair is held again by the time the write runs. */
  private markOffline(key: string, roomId: string, userId: number): void {
    void this.enqueue(key, async () => {
      if ((this.local.get(key) ?? 0) > 0) return;
      await presence.markOffline(this.db, roomId, userId, this.instanceId);
      await this.announce(roomId, userId);
    });
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

  /**
   * Heartbeat for our rows, and make them match what this process holds: a row it no longer holds
   * (a failed or overtaken delete) would otherwise be kept alive for ever, and a row it holds may
   * have been swept while it lost the database for longer than the TTL. Pairs with a write in
   * flight are left to that write. Then drop everyone's dead rows and announce whose they were.
   */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const stored = await presence.heartbeat(this.db, this.instanceId);
      const settled = (key: string) => !this.chains.has(key);
      const storedKeys = new Set(stored.map((r) => keyOf(r.roomId, r.userId)));
      for (const r of stored) {
        const key = keyOf(r.roomId, r.userId);
        if (!this.local.has(key) && settled(key)) this.markOffline(key, r.roomId, r.userId);
      }
      const missing = [...this.local.keys()].filter((k) => !storedKeys.has(k) && settled(k)).map(pairOf);
      if (missing.length > 0) {
        // One statement for what may be every pair after an outage; should a disconnect slip in
        // meanwhile, the next tick finds its row here and drops it.
        await presence.restore(this.db, this.instanceId, missing);
        await this.bus.publishMany(missing.map((h) => ({ type: "presence" as const, ...h })));
      }
      const expired = await presence.sweepExpired(this.db, this.opts.ttlSeconds);
      if (expired.length > 0) await this.bus.publishMany(expired.map((g) => ({ type: "presence" as const, ...g })));
    } catch (err) {
      this.opts.onError?.(err);
    } finally {
      this.ticking = false;
    }
  }
}

function keyOf(roomId: string, userId: number): string {
  return `${roomId}|${userId}`;
}

function pairOf(key: string): { roomId: string; userId: number } {
  const at = key.lastIndexOf("|");
  return { roomId: key.slice(0, at), userId: Number(key.slice(at + 1)) };
}
