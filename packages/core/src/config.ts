import type { KeyObject } from "node:crypto";

/** Public keys by key id (kid), as a verifier holds them. */
export interface VerificationKeys {
  /** The RS256 public key held under this kid, or undefined. */
  key(kid: string): KeyObject | undefined;
  /** Whether any key is held yet (a verifier that has not reached the auth role holds none). */
  ready(): boolean;
  /**
   * Looks again after a token named an unknown kid: resolves once the set was fetched again, or
   * at once when the last fetch was too recent (a floor on how often, so a flood of made-up kids
   * cannot make this process hammer auth). Absent where the set is fixed.
   */
  refresh?(): Promise<void>;
}

/** Everything core needs, read once from the environment by the server app. */
export interface AuthConfig {
  /**
   * RS256 private key: only the process that issues tokens (the auth role) has it. Every other
   * process verifies with the public key alone.
   */
  signingKey: KeyObject | undefined;
  /** The one key tokens are verified with, under keyId, when verifyKeys is not given. */
  verifyKey?: KeyObject;
  /** Key id placed in the header of the tokens this process signs. */
  keyId?: string;
  /**
   * The keys tokens are verified with, chosen by the token's kid (several during a key rotation;
   * fetched from the auth role's JWKS on the other roles). Takes precedence over verifyKey.
   */
  verifyKeys?: VerificationKeys;
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
