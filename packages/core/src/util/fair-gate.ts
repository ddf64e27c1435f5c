import { AppError } from "@anonchat/shared";

export interface FairGateOptions {
  /** Work running at once over all keys (Infinity: only the per-key bound applies). */
  concurrency: number;
  /** Work of one key running at once. */
  perKeyConcurrency: number;
  /** Work of one key waiting for a turn; past it the caller is refused at once. */
  perKeyQueue: number;
  /** Work waiting over all keys; past it the caller is refused at once. */
  maxQueue: number;
  /** The refusal when one key has too much waiting (the caller's own fault: 429). */
  keyBusy?: () => Error;
  /** The refusal when everyone together has too much waiting (the server's state: 503). */
  allBusy?: () => Error;
}

interface Lane {
  active: number;
  waiting: Array<() => void>;
}

/**
 * A semaphore that is fair between keys (client IPs, users): each key runs at most
 * perKeyConcurrency at once and waits in its own bounded lane, and free slots go round-robin
 * over the lanes that wait. One client's burst therefore queues behind itself, not in front of
 * everyone else, and cannot grow without bound.
 */
export class FairGate {
  private readonly lanes = new Map<string, Lane>();
  /** Keys with work waiting, in the order they will be served. */
  private readonly turns: string[] = [];
  private active = 0;
  private queued = 0;

  constructor(private readonly opts: FairGateOptions) {}

  /** Runs fn when key's turn comes; refuses at once when its lane (or every lane) is full. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Takes a slot for key (waiting for it if need be); the returned function gives it back once. */
  acquire(key: string): Promise<() => void> | (() => void) {
    let lane = this.lanes.get(key);
    if (!lane) this.lanes.set(key, (lane = { active: 0, waiting: [] }));
    if (lane.waiting.length === 0 && lane.active < this.opts.perKeyConcurrency && this.active < this.opts.concurrency) {
      lane.active++;
      this.active++;
      return this.releaser(key, lane);
    }
    if (lane.waiting.length >= this.opts.perKeyQueue) {
      this.dropIfIdle(key, lane);
      throw this.opts.keyBusy?.() ?? new AppError("TOO_MANY_REQUESTS", "too many requests at once; retry shortly", 1);
    }
    if (this.queued >= this.opts.maxQueue) {
      this.dropIfIdle(key, lane);
      throw this.opts.allBusy?.() ?? new AppError("SERVICE_UNAVAILABLE", "server is busy, try again shortly", 1);
    }
    const l = lane;
    return new Promise<() => void>((resolve) => {
      if (l.waiting.length === 0) this.turns.push(key);
      this.queued++;
      l.waiting.push(() => resolve(this.releaser(key, l)));
    });
  }

  /** Work waiting, over all keys (for metrics and tests). */
  waiting(): number {
    return this.queued;
  }

  private releaser(key: string, lane: Lane): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      lane.active--;
      this.active--;
      this.dropIfIdle(key, lane);
      this.dispatch();
    };
  }

  /** Hands free slots to waiting lanes, round-robin, skipping lanes at their own bound. */
  private dispatch(): void {
    let skipped = 0;
    while (this.active < this.opts.concurrency && this.turns.length > skipped) {
      const key = this.turns.shift() as string;
      const lane = this.lanes.get(key);
      if (!lane || lane.waiting.length === 0) continue;
      if (lane.active >= this.opts.perKeyConcurrency) {
        this.turns.push(key);
        skipped++;
        continue;
      }
      skipped = 0;
      const wake = lane.waiting.shift() as () => void;
      this.queued--;
      lane.active++;
      this.active++;
      if (lane.waiting.length > 0) this.turns.push(key);
      wake();
    }
  }

  private dropIfIdle(key: string, lane: Lane): void {
    if (lane.active === 0 && lane.waiting.length === 0 && this.lanes.get(key) === lane) this.lanes.delete(key);
  }
}
