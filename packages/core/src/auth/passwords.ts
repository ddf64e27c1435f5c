import { randomBytes } from "node:crypto";
import argon2 from "argon2";
import type { AuthConfig } from "../config.js";
import { AppError } from "@anonchat/shared";
import { FairGate } from "../util/fair-gate.js";

type HasherConfig = Pick<
  AuthConfig,
  "argon2" | "maxConcurrentHashes" | "maxQueuedHashes" | "maxConcurrentHashesPerClient" | "maxQueuedHashesPerClient"
>;

/**
 * argon2id hashing behind a concurrency cap that is fair between clients (by IP): one client's
 * burst of registrations or logins waits in its own short lane, so it cannot fill the hashing
 * queue in front of everyone else. A dummy hash spends equal time on unknown users.
 */
export class PasswordHasher {
  private readonly gate: FairGate;
  private readonly dummyHash: Promise<string>;

  constructor(private readonly cfg: HasherConfig) {
    this.gate = new FairGate({
      concurrency: cfg.maxConcurrentHashes,
      perKeyConcurrency: cfg.maxConcurrentHashesPerClient,
      perKeyQueue: cfg.maxQueuedHashesPerClient,
      maxQueue: cfg.maxQueuedHashes,
      keyBusy: () => new AppError("TOO_MANY_REQUESTS", "too many logins or registrations at once from your address; retry shortly", 1),
      allBusy: () => new AppError("SERVICE_UNAVAILABLE", "server is busy, try again shortly", 1),
    });
    // Ready before the first unknown-user login, so that one costs what every other does.
    this.dummyHash = argon2.hash(randomBytes(16), this.options);
  }

  private get options() {
    return { type: argon2.argon2id, ...this.cfg.argon2 };
  }

  /** client: whose turn this is (the caller's IP); each client waits in its own lane. */
  hash(password: string, client: string): Promise<string> {
    return this.gate.run(client, () => argon2.hash(password, this.options));
  }

  async verify(hash: string, password: string, client: string): Promise<boolean> {
    return this.gate.run(client, async () => {
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false;
      }
    });
  }

  /** The same work as a real verify, for a user who does not exist. Always false. */
  async verifyDummy(password: string, client: string): Promise<false> {
    await this.verify(await this.dummyHash, password, client);
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
