import { RateLimiterRes } from "rate-limiter-flexible";
import { sessions, users, type Db } from "@anonchat/db";
import { AppError, MESSAGES, type LoginInput, type RegisterInput, type Session, type User } from "@anonchat/shared";
import type { AuthConfig } from "../config.js";
import type { EventBus } from "../events/bus.js";
import { newRefreshToken, newSessionId, sha256Hex } from "../util/ids.js";
import { retryAfterSeconds, type Limiter } from "../util/limits.js";
import type { AuthApi } from "./auth-api.js";
import type { LoginGuard } from "./login-guard.js";
import type { PasswordHasher } from "./passwords.js";
import type { AuthSecurityEvent } from "./security-events.js";
import type { SessionEvent } from "./session-events.js";
import { openSuccessor, sealSuccessor } from "./successor-seal.js";
import type { AccessClaims, AccessTokens } from "./tokens.js";

export interface AuthServiceDeps {
  db: Db;
  config: AuthConfig;
  hasher: PasswordHasher;
  tokens: AccessTokens;
  loginGuard: LoginGuard;
  /** Registration attempts per client IP (REGISTRATIONS_PER_IP); none: unlimited. */
  registrations?: Limiter;
  /** Told of registrations refused by that limit, for the security log. */
  onAuthEvent?: (event: AuthSecurityEvent) => void;
  bus: EventBus;
  /** Epoch milliseconds for session and refresh-token times; tests move it past the reuse grace. */
  clock?: () => number;
  /** Told of reuse and of grace presentations, for the security log (core has no logger). */
  onSessionEvent?: (event: SessionEvent) => void;
}

const INVALID_REFRESH = "invalid or expired refresh token";

export class AuthService implements AuthApi {
  constructor(private readonly deps: AuthServiceDeps) {}

  /**
   * An attempt takes its place in the address's registration budget before the password is
   * hashed, so parallel attempts (requests, one batch, one socket) create at most the limit of
   * accounts. An attempt that hashed counts, created or not (a taken login cost the same work);
   * one the hasher refused (busy) gives its place back.
   */
  async register(input: RegisterInput, clientIp: string): Promise<Session> {
    const { registrations } = this.deps;
    if (registrations) {
      try {
        await registrations.consume(clientIp);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        const wait = retryAfterSeconds(err);
        this.deps.onAuthEvent?.({ type: "registration_limited", ip: clientIp, retryAfter: wait });
        throw new AppError("TOO_MANY_REQUESTS", `too many registrations from your address; retry in ${wait} s`, wait);
      }
    }
    let passwordHash: string;
    try {
      passwordHash = await this.deps.hasher.hash(input.password, clientIp);
    } catch (err) {
      await registrations?.reward(clientIp, 1).catch(() => undefined);
      throw err;
    }
    const created = await users.insertUser(this.deps.db, { login: input.login, email: input.email, passwordHash });
    if (!created.ok) {
      throw new AppError(
        "CONFLICT",
        created.taken === "login" ? "login is already taken" : "email is already registered",
      );
    }
    return this.startSession(created.user);
  }

  /**
   * Unknown email and wrong password answer alike, after the same amount of hashing. The attempt
   * holds its place in the failure budgets before anything is hashed (see LoginGuard).
   */
  async login(input: LoginInput, clientIp: string): Promise<Session> {
    const { hasher, loginGuard, db } = this.deps;
    const attempt = await loginGuard.reserve(input.email, clientIp);
    let found: Awaited<ReturnType<typeof users.findUserCredentialsByEmail>>;
    let ok: boolean;
    try {
      found = await users.findUserCredentialsByEmail(db, input.email);
      ok = found
        ? await hasher.verify(found.passwordHash, input.password, clientIp)
        : await hasher.verifyDummy(input.password, clientIp);
    } catch (err) {
      await attempt.cancel();
      throw err;
    }
    // A failure keeps its reserved place in both budgets.
    if (!found || !ok) throw new AppError("UNAUTHORIZED", MESSAGES.invalidCredentials);
    await attempt.succeeded();
    if (hasher.needsRehash(found.passwordHash)) {
      await users.updatePasswordHash(db, found.user.id, await hasher.hash(input.password, clientIp));
    }
    return this.startSession(found.user);
  }

  /**
   * Rotates the refresh token. Presented again within the reuse grace, while its successor is
   * still current, the same token gets that same successor (opened from the box only its holder
   * can open) with a fresh access token; otherwise a spent token is reuse and revokes its family.
   */
  async refresh(refreshToken: string): Promise<Session> {
    const { db, config } = this.deps;
    const now = this.now();
    const next = newRefreshToken();
    const graceMs = config.refreshReuseGraceSeconds * 1000;
    const result = await sessions.rotateRefreshToken(db, {
      oldHash: sha256Hex(refreshToken),
      newHash: sha256Hex(next),
      newExpiresAt: new Date(now + config.refreshTokenTtlSeconds * 1000),
      sealedSuccessor: graceMs > 0 ? sealSuccessor(refreshToken, next) : null,
      now: new Date(now),
      graceMs,
    });
    if (result.status === "invalid") throw new AppError("UNAUTHORIZED", INVALID_REFRESH);
    const { sessionId, userId } = result;
    if (result.status === "reused") {
      this.deps.onSessionEvent?.({ type: "refresh_reused", sessionId, userId, familyRevoked: result.familyRevoked });
      await this.deps.bus.publish({ type: "session_revoked", sessionId });
      throw new AppError("UNAUTHORIZED", "refresh token was already used; the session is revoked");
    }
    let issued = next;
    if (result.status === "grace") {
      const successor = openSuccessor(refreshToken, result.sealedSuccessor);
      // The hash check ties the box to the successor the row points at; a mismatch is no token of ours.
      if (successor === undefined || sha256Hex(successor) !== result.successorHash) {
        throw new AppError("UNAUTHORIZED", INVALID_REFRESH);
      }
      this.deps.onSessionEvent?.({ type: "refresh_grace", sessionId, userId });
      issued = successor;
    }
    const user = await users.findUserById(db, userId);
    if (!user) throw new AppError("UNAUTHORIZED", INVALID_REFRESH);
    return this.issue(user, sessionId, issued);
  }

  /** Revokes the token's family. Unknown tokens are not an error: logging out twice is fine. */
  async logout(refreshToken: string): Promise<{ ok: true }> {
    const sessionId = await sessions.revokeSessionByTokenHash(this.deps.db, sha256Hex(refreshToken));
    if (sessionId) await this.deps.bus.publish({ type: "session_revoked", sessionId });
    return { ok: true };
  }

  async me(userId: number): Promise<User> {
    const user = await users.findUserById(this.deps.db, userId);
    if (!user) throw new AppError("UNAUTHORIZED", MESSAGES.tokenInvalid);
    return user;
  }

  verifyAccessToken(token: string): AccessClaims {
    return this.deps.tokens.verify(token);
  }

  verifyAccessTokenFresh(token: string): Promise<AccessClaims> {
    return this.deps.tokens.verifyFresh(token);
  }

  isSessionActive(sessionId: string): Promise<boolean> {
    return sessions.isSessionActive(this.deps.db, sessionId);
  }

  private async startSession(user: User): Promise<Session> {
    const { db, config } = this.deps;
    const sessionId = newSessionId();
    const refreshToken = newRefreshToken();
    const expiresAt = new Date(this.now() + config.refreshTokenTtlSeconds * 1000);
    await sessions.createSession(db, {
      sessionId,
      userId: user.id,
      expiresAt,
      tokenHash: sha256Hex(refreshToken),
      tokenExpiresAt: expiresAt,
    });
    return this.issue(user, sessionId, refreshToken);
  }

  private now(): number {
    return this.deps.clock?.() ?? Date.now();
  }

  private issue(user: User, sessionId: string, refreshToken: string): Session {
    const access = this.deps.tokens.sign({ userId: user.id, login: user.login, sessionId });
    return {
      user,
      accessToken: access.token,
      refreshToken,
      accessTokenExpiresAt: access.expiresAt.toISOString(),
    };
  }
}
