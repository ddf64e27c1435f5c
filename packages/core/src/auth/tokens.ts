import { randomBytes, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import { AppError, MESSAGES } from "@anonchat/shared";
import type { AuthConfig, VerificationKeys } from "../config.js";

const ALGORITHM = "RS256";
/** Verified tokens kept so a client's repeated calls cost a map lookup, not a signature check. */
const CACHE_MAX = 20_000;
/** RFC 9068 access-token type, checked so no other JWT of ours can pass as one. */
const TOKEN_TYP = "at+jwt";

export interface AccessClaims {
  userId: number;
  login: string;
  sessionId: string;
  /** Expiry, epoch milliseconds. */
  expiresAt: number;
}

export interface IssuedAccessToken {
  token: string;
  expiresAt: Date;
}

type TokenConfig = Pick<AuthConfig, "signingKey" | "verifyKey" | "keyId" | "verifyKeys" | "issuer" | "audience" | "accessTokenTtlSeconds">;

/** What one verification attempt found; "unknown-kid" may pass once the key set is fetched again. */
type Outcome = { claims: AccessClaims; kid: string } | "invalid" | "unknown-kid";

/** The fixed set of one key (verifyKey under keyId). */
function singleKey(keyId: string | undefined, key: KeyObject | undefined): VerificationKeys {
  return { key: (kid) => (kid === keyId ? key : undefined), ready: () => key !== undefined };
}

export class AccessTokens {
  /** Verified tokens, with the kid that verified them (a key dropped from the set drops its tokens). */
  private readonly cache = new Map<string, { claims: AccessClaims; kid: string }>();
  private readonly keys: VerificationKeys;

  constructor(private readonly cfg: TokenConfig) {
    this.keys = cfg.verifyKeys ?? singleKey(cfg.keyId, cfg.verifyKey);
  }

  sign(claims: { userId: number; login: string; sessionId: string }): IssuedAccessToken {
    if (!this.cfg.signingKey || !this.cfg.keyId) throw new Error("this process cannot sign access tokens");
    const token = jwt.sign({ sid: claims.sessionId, login: claims.login }, this.cfg.signingKey, {
      algorithm: ALGORITHM,
      subject: String(claims.userId),
      issuer: this.cfg.issuer,
      audience: this.cfg.audience,
      expiresIn: this.cfg.accessTokenTtlSeconds,
      keyid: this.cfg.keyId,
      // Two tokens issued in the same second must still differ.
      jwtid: randomBytes(9).toString("base64url"),
      header: { alg: ALGORITHM, typ: TOKEN_TYP },
    });
    const payload = jwt.decode(token) as { exp: number };
    return { token, expiresAt: new Date(payload.exp * 1000) };
  }

  /**
   * Verifies everything: algorithm, signature with the key its kid names, typ, iss, aud, exp
   * (required), nbf, claims. Synchronous, with the keys held now: a kid not in the set is refused
   * like any bad token (and makes the set look again in the background, within its floor). Where
   * the caller can wait, verifyFresh lets such a token pass once the set has it.
   */
  verify(token: string): AccessClaims {
    const outcome = this.check(token);
    if (typeof outcome === "object") return outcome.claims;
    if (outcome === "unknown-kid") void this.keys.refresh?.().catch(() => undefined);
    throw this.fail();
  }

  /**
   * verify, but a token signed by a key this process has not seen yet (auth rotated its key
   * since the last fetch) waits for one fetch of the key set, which the set's floor may refuse.
   */
  async verifyFresh(token: string): Promise<AccessClaims> {
    const first = this.check(token);
    if (typeof first === "object") return first.claims;
    if (first === "invalid" || !this.keys.refresh) throw this.fail();
    await this.keys.refresh().catch(() => undefined);
    const second = this.check(token);
    if (typeof second === "object") return second.claims;
    throw this.fail();
  }

  private fail(): AppError {
    return new AppError("UNAUTHORIZED", MESSAGES.tokenInvalid);
  }

  private check(token: string): Outcome {
    if (typeof token !== "string" || token.length === 0 || token.length > 4096) return "invalid";
    const known = this.cache.get(token);
    if (known) {
      if (known.claims.expiresAt > Date.now() && this.keys.key(known.kid)) return known;
      this.cache.delete(token);
      if (known.claims.expiresAt <= Date.now()) return "invalid";
    }
    const outcome = this.verifyUncached(token);
    if (typeof outcome === "object") {
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(token, outcome);
    }
    return outcome;
  }

  private verifyUncached(token: string): Outcome {
    // The header picks the key; jwt.verify below checks the signature over this same header.
    const unverified = jwt.decode(token, { complete: true });
    if (!unverified || typeof unverified.header !== "object") return "invalid";
    const { alg, kid, typ } = unverified.header as { alg?: unknown; kid?: unknown; typ?: unknown };
    if (alg !== ALGORITHM || typ !== TOKEN_TYP || typeof kid !== "string" || kid === "" || kid.length > 200) return "invalid";
    const key = this.keys.key(kid);
    if (!key) return "unknown-kid";
    let decoded: jwt.Jwt;
    try {
      decoded = jwt.verify(token, key, {
        algorithms: [ALGORITHM],
        issuer: this.cfg.issuer,
        audience: this.cfg.audience,
        complete: true,
      });
    } catch {
      return "invalid";
    }
    const { header, payload } = decoded;
    if (header.kid !== kid || header.typ !== TOKEN_TYP) return "invalid";
    if (typeof payload !== "object" || payload === null) return "invalid";
    const { exp, sub, sid, login } = payload as Record<string, unknown>;
    if (typeof exp !== "number" || exp * 1000 <= Date.now()) return "invalid";
    if (typeof sub !== "string" || !/^[1-9]\d{0,9}$/.test(sub)) return "invalid";
    if (typeof sid !== "string" || typeof login !== "string") return "invalid";
    return { claims: { userId: Number(sub), login, sessionId: sid, expiresAt: exp * 1000 }, kid };
  }
}
