import type { KeyObject } from "node:crypto";

/** Everything core needs, read once from the environment by the server app. */
export interface AuthConfig {
  /**
   * RS256 private key: only the process that issues tokens (the auth role) has it. Every other
   * process verifies with the public key alone.
   */
  signingKey: KeyObject | undefined;
  verifyKey: KeyObject;
  /** Key id placed in the token header and required on verify. */
  keyId: string;
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /**
   * How long after a refresh token is rotated that same token may be presented again and get the
   * same successor instead of counting as reuse (two tabs of one login refreshing at once). 0: off.
   */
  refreshReuseGraceSeconds: number;
  argon2: { memoryCost: number; timeCost: number; parallelism: number };
  /** Concurrent password hashes, and how many may wait for one. */
  maxConcurrentHashes: number;
  maxQueuedHashes: number;
  /** Hashes of one client (IP) at once, and how many of its hashes may wait. */
  maxConcurrentHashesPerClient: number;
  maxQueuedHashesPerClient: number;
}

export interface ChatConfig {
  /** Message text bound, at most the contract's 4,000. */
  maxMessageLength: number;
  /** Events buffered per subscriber before it is dropped as too slow. */
  subscriberQueueMax: number;
  /** room.list counts unread messages up to this many. */
  unreadCountMax: number;
  /** How long clients show a typing notice that is not renewed. */
  typingTtlMs: number;
  /** Rooms one user may belong to at once (room.list and room.onActivity cover them all). */
  maxRoomsPerUser: number;
}
