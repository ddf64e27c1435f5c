import { randomBytes } from "node:crypto";
import jwt from "jsonwebtoken";
import { AppError, MESSAGES } from "@anonchat/shared";
import type { AuthConfig } from "../config";

const ALGORITHM = "HS256";
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
  constructor(private readonly cfg: AuthConfig) {}

  sign(claims: { userId: number; login: string; sessionId: string }): IssuedAccessToken {
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
    let decoded: jwt.Jwt;
    try {
      decoded = jwt.verify(token, this.cfg.signingKey, {
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
