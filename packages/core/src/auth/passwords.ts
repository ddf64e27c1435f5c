import { randomBytes } from "node:crypto";
import argon2 from "argon2";
import type { AuthConfig } from "../config";
import { Semaphore } from "../util/semaphore";

/** argon2id hashing behind a concurrency cap, with a dummy hash to spend equal time on unknown users. */
export class PasswordHasher {
  private readonly gate: Semaphore;
  private readonly dummyHash: Promise<string>;

  constructor(private readonly cfg: Pick<AuthConfig, "argon2" | "maxConcurrentHashes" | "maxQueuedHashes">) {
    this.gate = new Semaphore(cfg.maxConcurrentHashes, cfg.maxQueuedHashes);
    // Ready before the first unknown-user login, so that one costs what every other does.
    this.dummyHash = argon2.hash(randomBytes(16), this.options);
  }

  private get options() {
    return { type: argon2.argon2id, ...this.cfg.argon2 };
  }

  hash(password: string): Promise<string> {
    return this.gate.run(() => argon2.hash(password, this.options));
  }

  async verify(hash: string, password: string): Promise<boolean> {
    return this.gate.run(async () => {
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false;
      }
    });
  }

  /** The same work as a real verify, for a user who does not exist. Always false. */
  async verifyDummy(password: string): Promise<false> {
    await this.verify(await this.dummyHash, password);
    return false;
  }

  needsRehash(hash: string): boolean {
    try {
      return argon2.needsRehash(hash, this.cfg.argon2);
    } catch {
      return true;
    }
  }
}
