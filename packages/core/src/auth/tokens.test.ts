import { generateKeyPairSync } from "node:crypto";
import jwt from "jsonwebtoken";
import { describe, expect, it } from "vitest";
import { AppError } from "@anonchat/shared";
import type { AuthConfig } from "../config.js";
import { AccessTokens } from "./tokens.js";

const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
const publicPem = keys.publicKey.export({ type: "spki", format: "pem" }).toString();
const cfg: AuthConfig = {
  signingKey: keys.privateKey,
  verifyKey: keys.publicKey,
  keyId: "kid-1",
  issuer: "anonchat",
  audience: "anonchat",
  accessTokenTtlSeconds: 60,
  refreshTokenTtlSeconds: 3600,
  refreshReuseGraceSeconds: 10,
  argon2: { memoryCost: 19456, timeCost: 2, parallelism: 1 },
  maxConcurrentHashes: 2,
  maxQueuedHashes: 10,
  maxConcurrentHashesPerClient: 1,
  maxQueuedHashesPerClient: 10,
};
const tokens = new AccessTokens(cfg);
const claims = { userId: 42, login: "alice", sessionId: "s1" };

function forge(payload: object, options: jwt.SignOptions, key: jwt.Secret = keys.privateKey): string {
  return jwt.sign(payload, key, options);
}
const good: jwt.SignOptions = {
  algorithm: "RS256",
  subject: "42",
  issuer: "anonchat",
  audience: "anonchat",
  expiresIn: 60,
  keyid: "kid-1",
  header: { alg: "RS256", typ: "at+jwt" },
};

function expectRefused(token: string) {
  expect(() => tokens.verify(token)).toThrowError(AppError);
}

describe("AccessTokens", () => {
  it("round-trips the claims and reports the expiry", () => {
    const issued = tokens.sign(claims);
    const v = tokens.verify(issued.token);
    expect(v).toMatchObject(claims);
    expect(v.expiresAt).toBe(issued.expiresAt.getTime());
    // The lifetime read from the token itself (exp - iat), not against the wall clock after
    // signing, which a stalled machine could push past the margin (issue 14).
    const { iat, exp } = jwt.decode(issued.token) as { iat: number; exp: number };
    expect(exp - iat).toBe(cfg.accessTokenTtlSeconds);
    expect(issued.expiresAt.getTime()).toBe(exp * 1000);
  });

  it("accepts a token forged with exactly our options (the forge helper is faithful)", () => {
    expect(tokens.verify(forge({ sid: "s1", login: "alice" }, good)).userId).toBe(42);
  });

  it("refuses alg none, another algorithm (HMAC keyed with the public key), another key", () => {
    const [h, p] = tokens.sign(claims).token.split(".");
    const noneHeader = Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt", kid: "kid-1" })).toString("base64url");
    expectRefused(`${noneHeader}.${p}.`);
    expectRefused(`${h}.${p}.`);
    expectRefused(forge({ sid: "s1", login: "a" }, { ...good, algorithm: "HS256", header: { alg: "HS256", typ: "at+jwt" } }, publicPem));
    expectRefused(forge({ sid: "s1", login: "a" }, { ...good, algorithm: "RS512", header: { alg: "RS512", typ: "at+jwt" } }));
    expectRefused(forge({ sid: "s1", login: "a" }, good, other.privateKey));
  });

  it("refuses wrong iss, aud, typ, kid, and a missing or past exp", () => {
    expectRefused(forge({ sid: "s1", login: "a" }, { ...good, issuer: "evil" }));
    expectRefused(forge({ sid: "s1", login: "a" }, { ...good, audience: "evil" }));
    expectRefused(forge({ sid: "s1", login: "a" }, { ...good, header: { alg: "RS256", typ: "JWT" } }));
    expectRefused(forge({ sid: "s1", login: "a" }, { ...good, keyid: "other" }));
    const { expiresIn: _drop, ...noExp } = good;
    expectRefused(forge({ sid: "s1", login: "a" }, noExp));
    expectRefused(forge({ sid: "s1", login: "a", exp: Math.floor(Date.now() / 1000) - 1 }, noExp));
  });

  it("refuses a token that is not yet valid, a bad subject and missing claims", () => {
    expectRefused(forge({ sid: "s1", login: "a" }, { ...good, notBefore: 3600 }));
    expectRefused(forge({ sid: "s1", login: "a" }, { ...good, subject: "abc" }));
    expectRefused(forge({ login: "a" }, good));
    expectRefused("");
    expectRefused("x".repeat(5000));
  });

  it("serves a repeated token from its cache, and still refuses it once expired", () => {
    const issued = tokens.sign(claims);
    expect(tokens.verify(issued.token)).toBe(tokens.verify(issued.token));
    const short = new AccessTokens({ ...cfg, accessTokenTtlSeconds: 1 });
    const t = short.sign(claims);
    expect(short.verify(t.token).userId).toBe(42);
    const realNow = Date.now;
    Date.now = () => realNow() + 2000;
    try {
      expect(() => short.verify(t.token)).toThrowError(AppError);
    } finally {
      Date.now = realNow;
    }
  });

  it("refuses a tampered payload", () => {
    const [h, , s] = tokens.sign(claims).token.split(".");
    const p = Buffer.from(JSON.stringify({ sub: "1", sid: "s1", login: "root", exp: 9999999999, iss: "anonchat", aud: "anonchat" })).toString("base64url");
    expectRefused(`${h}.${p}.${s}`);
  });
});
