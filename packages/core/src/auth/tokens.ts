import { randomBytes } from "node:crypto";
import jwt from "jsonwebtoken";
import { AppError, MESSAGES } from "@anonchat/shared";
import type { AuthConfig } from "../config";

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

export class AccessTokens {
  private readonly cache = new Map<string, AccessClaims>();

  constructor(private readonly cfg: Pick<AuthConfig, "signingKey" | "verifyKey" | "keyId" | "issuer" | "audience" | "accessTokenTtlSeconds">) {}

  sign(claims: { userId: number; login: string; sessionId: string }): IssuedAccessToken {
    if (!this.cfg.signingKey) throw new Error("this process cannot sign access tokens");
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

  /** Verifies everything: algorithm, signature, kid, typ, iss, aud, exp (required), nbf, claims. */
  verify(token: string): AccessClaims {
    const fail = () => new AppError("UNAUTHORIZED", MESSAGES.tokenInvalid);
    if (typeof token !== "string" || token.length === 0 || token.length > 4096) throw fail();
    const known = this.cache.get(token);
    if (known) {
      if (known.expiresAt > Date.now()) return known;
      this.cache.delete(token);
      throw fail();
    }
    const claims = this.verifyUncached(token, fail);
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(token, claims);
    return claims;
  }

  private verifyUncached(token: string, fail: () => AppError): AccessClaims {
    let decoded: jwt.Jwt;
    try {
      decoded = jwt.verify(token, this.cfg.verifyKey, {
        algorithms: [ALGORITHM],
        issuer: this.cfg.issuer,
        audience: this.cfg.audience,
        complete: true,
      });
    } catch {
      throw fail();
    }
    const { header, payload } = decoded;
    if (header.kid !== this.cfg.keyId || header.typ !== TOKEN_TYP) throw fail();
    if (typeof payload !== "object" || payload === null) throw fail();
    const { exp, sub, sid, login } = payload as Record<string, unknown>;
    if (typeof exp !== "number" || exp * 1000 <= Date.now()) throw fail();
    if (typeof sub !== "string" || !/^[1-9]\d{0,9}$/.test(sub)) throw fail();
    if (typeof sid !== "string" || typeof login !== "string") throw fail();
    return { userId: Number(sub), login, sessionId: sid, expiresAt: exp * 1000 };
  }
}
