import type { EventBus } from "@anonchat/core";

interface Entry {
  userId: number;
  sessionId: string;
  close(code: number, reason: string): void;
}

/**
 * Every authenticated live socket of this process, tRPC and legacy alike: a revoked session
 * closes its sockets at once, and per-user connection counts are enforced from here.
 */
export class ConnectionRegistry {
  private readonly bySession = new Map<string, Set<Entry>>();
  private readonly perUser = new Map<number, number>();
  private readonly unsubscribe: () => void;

  constructor(bus: EventBus) {
    this.unsubscribe = bus.subscribe((e) => {
      if (e.type === "session_revoked") this.closeSession(e.sessionId, 4401, "session revoked");
    });
  }

  add(entry: Entry): () => void {
    let set = this.bySession.get(entry.sessionId);
    if (!set) this.bySession.set(entry.sessionId, (set = new Set()));
    set.add(entry);
    this.perUser.set(entry.userId, (this.perUser.get(entry.userId) ?? 0) + 1);
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      set.delete(entry);
      if (set.size === 0) this.bySession.delete(entry.sessionId);
      const n = (this.perUser.get(entry.userId) ?? 1) - 1;
      if (n <= 0) this.perUser.delete(entry.userId);
      else this.perUser.set(entry.userId, n);
    };
  }

  size(): number {
    let n = 0;
    for (const set of this.bySession.values()) n += set.size;
    return n;
  }

  countForUser(userId: number): number {
    return this.perUser.get(userId) ?? 0;
  }

  closeSession(sessionId: string, code: number, reason: string): void {
    for (const e of [...(this.bySession.get(sessionId) ?? [])]) e.close(code, reason);
  }

  close(): void {
    this.unsubscribe();
  }
}
