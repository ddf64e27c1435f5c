import { AppError } from "@anonchat/shared";

/**
 * Caps concurrent expensive work (argon2 hashes) and the queue in front of it, so a burst of
 * logins waits or is refused instead of exhausting memory.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly max: number,
    private readonly maxQueue: number,
  ) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) {
      if (this.waiting.length >= this.maxQueue) {
        throw new AppError("SERVICE_UNAVAILABLE", "server is busy, try again shortly", 1);
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
