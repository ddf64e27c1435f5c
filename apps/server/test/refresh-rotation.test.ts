import { generateKeyPairSync } from "node:crypto";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AccessTokens,
  AuthService,
  InProcessBus,
  LoginGuard,
  PasswordHasher,
  type AuthConfig,
  type BusEvent,
  type SessionEvent,
} from "@anonchat/core";
import { createScratchDatabase, migrateToLatest, openDatabase, type DatabaseHandle } from "@anonchat/db";
import { AppError, type Session } from "@anonchat/shared";
import { DB_KIND } from "./harness.js";

/**
 * Refresh-token rotation with a reuse grace, at the service: the real AuthService and repository
 * on the real database of this run (on PostgreSQL with a pool, so concurrent refreshes really run
 * on separate connections), with the clock injected so crossing the grace takes no waiting.
 */

const KEYS = generateKeyPairSync("rsa", { modulusLength: 2048 });
const GRACE_SECONDS = 10;

/** A second pool on the same database stands for a second auth process (PGlite has one handle). */
let handles: DatabaseHandle[] = [];
let dropDb: (() => Promise<void>) | undefined;
beforeAll(async () => {
  if (DB_KIND === "postgres") {
    const scratch = await createScratchDatabase(process.env.TEST_DATABASE_URL as string);
    dropDb = scratch.drop;
    handles = [
      await openDatabase({ url: scratch.url, dataDir: "", poolMax: 10 }),
      await openDatabase({ url: scratch.url, dataDir: "", poolMax: 10 }),
    ];
  } else {
    const h = await openDatabase({ dataDir: "memory" });
    handles = [h, h];
  }
  await migrateToLatest((handles[0] as DatabaseHandle).db);
});
afterAll(async () => {
  for (const h of new Set(handles)) await h.close();
  await dropDb?.();
});

interface Harness {
  /** Two services on one database, as two auth processes (or one restarted) would be. */
  auth: AuthService;
  other: AuthService;
  clock: { now: number };
  busEvents: BusEvent[];
  sessionEvents: SessionEvent[];
}

function services(opts: { graceSeconds: number; refreshTtlSeconds?: number }): Harness {
  const config: AuthConfig = {
    signingKey: KEYS.privateKey,
    verifyKey: KEYS.publicKey,
    keyId: "test-key",
    issuer: "anonchat",
    audience: "anonchat",
    accessTokenTtlSeconds: 600,
    refreshTokenTtlSeconds: opts.refreshTtlSeconds ?? 3600,
    refreshReuseGraceSeconds: opts.graceSeconds,
    argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
    maxConcurrentHashes: 2,
    maxQueuedHashes: 100,
    maxConcurrentHashesPerClient: 4,
    maxQueuedHashesPerClient: 100,
  };
  const clock = { now: Date.now() };
  const busEvents: BusEvent[] = [];
  const sessionEvents: SessionEvent[] = [];
  const bus = new InProcessBus();
  bus.subscribe((e) => busEvents.push(e));
  const make = (h: DatabaseHandle) =>
    new AuthService({
      db: h.db,
      config,
      hasher: new PasswordHasher(config),
      tokens: new AccessTokens(config),
      loginGuard: new LoginGuard(
        new RateLimiterMemory({ points: 1000, duration: 60 }),
        new RateLimiterMemory({ points: 1000, duration: 60 }),
      ),
      bus,
      clock: () => clock.now,
      onSessionEvent: (e) => sessionEvents.push(e),
    });
  return { auth: make(handles[0] as DatabaseHandle), other: make(handles[1] as DatabaseHandle), clock, busEvents, sessionEvents };
}

let n = 0;
async function register(auth: AuthService): Promise<Session> {
  n++;
  const tag = `rot${process.pid % 10000}n${n}r${Math.floor(Math.random() * 1e6)}`;
  return auth.register({ login: tag, email: `${tag}@example.test`, password: `pw-${tag}-long-enough` }, "127.0.0.1");
}

/** The refusal a client sees; fails the test when the call succeeds or fails otherwise. */
async function refused(call: Promise<unknown>): Promise<AppError> {
  const err = await call.then(
    (v) => {
      throw new Error(`expected a refusal, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe("UNAUTHORIZED");
  return err as AppError;
}

const sessionOf = (auth: AuthService, s: Session) => auth.verifyAccessToken(s.accessToken).sessionId;
const revocations = (h: Harness, sessionId: string) =>
  h.busEvents.filter((e) => e.type === "session_revoked" && e.sessionId === sessionId).length;

describe(`refresh rotation with a ${GRACE_SECONDS}-second reuse grace (${DB_KIND})`, () => {
  it("concurrent refreshes of one token, on two processes, all get the identical successor; the session lives on", async () => {
    const h = services({ graceSeconds: GRACE_SECONDS });
    const s0 = await register(h.auth);
    const sid = sessionOf(h.auth, s0);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? h.auth : h.other).refresh(s0.refreshToken)),
    );
    const successors = new Set(results.map((r) => r.refreshToken));
    expect(successors.size).toBe(1);
    expect(successors.has(s0.refreshToken)).toBe(false);
    for (const r of results) {
      expect(r.user).toEqual(s0.user);
      expect(sessionOf(h.auth, r)).toBe(sid);
    }
    // Every caller got an access token of its own, for the same session.
    expect(new Set(results.map((r) => r.accessToken)).size).toBe(results.length);
    expect(await h.auth.isSessionActive(sid)).toBe(true);
    expect(revocations(h, sid)).toBe(0);
    expect(h.sessionEvents.filter((e) => e.type === "refresh_reused")).toEqual([]);
    // The shared successor rotates as any token does.
    const next = await h.other.refresh((results[0] as Session).refreshToken);
    expect(sessionOf(h.auth, next)).toBe(sid);
  });

  it("a repeat within the grace returns the same successor; at the grace's end it is reuse and revokes the family", async () => {
    const h = services({ graceSeconds: GRACE_SECONDS });
    const s0 = await register(h.auth);
    const sid = sessionOf(h.auth, s0);
    const s1 = await h.auth.refresh(s0.refreshToken);
    h.clock.now += GRACE_SECONDS * 1000 - 1;
    const again = await h.other.refresh(s0.refreshToken);
    expect(again.refreshToken).toBe(s1.refreshToken);
    expect(sessionOf(h.auth, again)).toBe(sid);
    expect(h.sessionEvents).toContainEqual({ type: "refresh_grace", sessionId: sid, userId: s0.user.id });

    h.clock.now += 1;
    const err = await refused(h.auth.refresh(s0.refreshToken));
    expect(err.message).toMatch(/already used/);
    expect(await h.auth.isSessionActive(sid)).toBe(false);
    expect(revocations(h, sid)).toBe(1);
    expect(h.sessionEvents).toContainEqual({ type: "refresh_reused", sessionId: sid, userId: s0.user.id, familyRevoked: true });
    // The successor both holders shared is dead with its family.
    await refused(h.auth.refresh(s1.refreshToken));
  });

  it("once the successor has itself been rotated, the old token is reuse even within the grace", async () => {
    const h = services({ graceSeconds: GRACE_SECONDS });
    const s0 = await register(h.auth);
    const sid = sessionOf(h.auth, s0);
    const s1 = await h.auth.refresh(s0.refreshToken);
    const s2 = await h.auth.refresh(s1.refreshToken);
    await refused(h.other.refresh(s0.refreshToken));
    expect(await h.auth.isSessionActive(sid)).toBe(false);
    await refused(h.auth.refresh(s2.refreshToken));
    expect(h.sessionEvents).toContainEqual({ type: "refresh_reused", sessionId: sid, userId: s0.user.id, familyRevoked: true });
  });

  it("a presentation within the grace does not revive a session revoked by logout or by reuse", async () => {
    const h = services({ graceSeconds: GRACE_SECONDS });
    const a0 = await register(h.auth);
    const a1 = await h.auth.refresh(a0.refreshToken);
    await h.auth.logout(a1.refreshToken);
    await refused(h.auth.refresh(a0.refreshToken));
    await refused(h.auth.refresh(a1.refreshToken));
    expect(await h.auth.isSessionActive(sessionOf(h.auth, a0))).toBe(false);
    // Logged out, not reused: nothing was revoked by the presentation itself.
    expect(h.sessionEvents).toContainEqual({ type: "refresh_reused", sessionId: sessionOf(h.auth, a0), userId: a0.user.id, familyRevoked: false });

    // b0 -> b1 -> b2, then b0 again: reuse revokes. b1 is still within its grace, but its successor
    // was rotated and the family is revoked now, so it yields nothing either.
    const b0 = await register(h.auth);
    const b1 = await h.auth.refresh(b0.refreshToken);
    await h.auth.refresh(b1.refreshToken);
    await refused(h.auth.refresh(b0.refreshToken));
    await refused(h.auth.refresh(b1.refreshToken));
    expect(await h.auth.isSessionActive(sessionOf(h.auth, b0))).toBe(false);
  });

  it("an expired session within the grace: the same refusal as for the expired successor, and no revocation", async () => {
    const h = services({ graceSeconds: GRACE_SECONDS, refreshTtlSeconds: 60 });
    const s0 = await register(h.auth);
    const sid = sessionOf(h.auth, s0);
    h.clock.now += 59_000;
    const s1 = await h.auth.refresh(s0.refreshToken);
    h.clock.now += 1_000;
    const viaOld = await refused(h.auth.refresh(s0.refreshToken));
    const viaSuccessor = await refused(h.auth.refresh(s1.refreshToken));
    expect(viaOld.message).toBe("invalid or expired refresh token");
    expect(viaSuccessor.message).toBe(viaOld.message);
    expect(revocations(h, sid)).toBe(0);
  });

  it("a storm of every token of one family, and a logout, at once: only refusals or one successor per token, never an error", async () => {
    const h = services({ graceSeconds: GRACE_SECONDS });
    for (let round = 0; round < 3; round++) {
      const s0 = await register(h.auth);
      const s1 = await h.auth.refresh(s0.refreshToken);
      const presented = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? s0 : s1).refreshToken);
      const calls = presented.map((token, i) => (i % 3 === 0 ? h.other : h.auth).refresh(token));
      const logout = round === 2 ? h.other.logout(s1.refreshToken) : Promise.resolve({ ok: true as const });
      const [results] = await Promise.all([Promise.allSettled(calls), logout]);
      const successorsOf = new Map<string, Set<string>>();
      results.forEach((r, i) => {
        if (r.status === "rejected") {
          // A deadlock or a serialization failure would surface here as a database error.
          expect(r.reason).toBeInstanceOf(AppError);
          expect((r.reason as AppError).code).toBe("UNAUTHORIZED");
          return;
        }
        const token = presented[i] as string;
        successorsOf.set(token, (successorsOf.get(token) ?? new Set()).add(r.value.refreshToken));
      });
      for (const successors of successorsOf.values()) expect(successors.size).toBe(1);
      // s0's only successor is s1: a grace presentation of s0 never hands out anything else.
      const fromS0 = successorsOf.get(s0.refreshToken);
      if (fromS0) expect([...fromS0]).toEqual([s1.refreshToken]);
    }
  });

  it("the database holds hashes and one sealed successor per family, never a refresh token", async () => {
    const h = services({ graceSeconds: GRACE_SECONDS });
    const s0 = await register(h.auth);
    const s1 = await h.auth.refresh(s0.refreshToken);
    const s2 = await h.auth.refresh(s1.refreshToken);
    const s3 = await h.auth.refresh(s2.refreshToken);
    const rows = await (handles[0] as DatabaseHandle).db
      .selectFrom("refresh_tokens")
      .selectAll()
      .where("session_id", "=", sessionOf(h.auth, s0))
      .execute();
    expect(rows).toHaveLength(4);
    const dump = JSON.stringify(rows);
    for (const t of [s0, s1, s2, s3]) expect(dump.includes(t.refreshToken)).toBe(false);
    // Only the latest rotation's box is kept: an older one could never be handed out again.
    expect(rows.filter((r) => r.successor_sealed !== null)).toHaveLength(1);
  });
});

describe(`refresh rotation with the grace off (${DB_KIND})`, () => {
  it("a repeat is reuse at once, and of concurrent refreshes one wins and the family is revoked", async () => {
    const h = services({ graceSeconds: 0 });
    const a0 = await register(h.auth);
    await h.auth.refresh(a0.refreshToken);
    await refused(h.auth.refresh(a0.refreshToken));
    expect(await h.auth.isSessionActive(sessionOf(h.auth, a0))).toBe(false);

    const b0 = await register(h.auth);
    const results = await Promise.allSettled([h.auth.refresh(b0.refreshToken), h.other.refresh(b0.refreshToken)]);
    const won = results.filter((r): r is PromiseFulfilledResult<Session> => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    await refused(Promise.reject((results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason));
    await refused(h.auth.refresh((won[0] as PromiseFulfilledResult<Session>).value.refreshToken));
    // Nothing sealed: with no grace there is nothing to hand out again.
    const rows = await (handles[0] as DatabaseHandle).db
      .selectFrom("refresh_tokens")
      .select("successor_sealed")
      .where("session_id", "in", [sessionOf(h.auth, a0), sessionOf(h.auth, b0)])
      .execute();
    expect(rows.every((r) => r.successor_sealed === null)).toBe(true);
  });
});
