import { createHmac, createSign, sign as cryptoSign, type KeyObject } from "node:crypto";
import fc from "fast-check";

/** Building and mutating JWTs for the forged-token attacks and their property-based mutations. */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Claims = Record<string, unknown>;

export const b64 = (v: unknown): string => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

export function decodeSegment(token: string, i: number): Claims {
  return JSON.parse(Buffer.from(token.split(".")[i] ?? "", "base64url").toString("utf8")) as Claims;
}

/** An RS256 (or RS384/RS512 with another hash) signature over header.payload. */
export function signRsa(header: Claims, payload: Claims, key: KeyObject, hash = "RSA-SHA256"): string {
  const body = `${b64(header)}.${b64(payload)}`;
  return `${body}.${createSign(hash).update(body).sign(key).toString("base64url")}`;
}

export function signPss(header: Claims, payload: Claims, key: KeyObject): string {
  const body = `${b64(header)}.${b64(payload)}`;
  const sig = cryptoSign("sha256", Buffer.from(body), { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 });
  return `${body}.${sig.toString("base64url")}`;
}

export function signEs256(header: Claims, payload: Claims, key: KeyObject): string {
  const body = `${b64(header)}.${b64(payload)}`;
  return `${body}.${cryptoSign("sha256", Buffer.from(body), { key, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;
}

export function signHmac(header: Claims, payload: Claims, secret: string | Buffer | null, hash = "sha256"): string {
  const body = `${b64(header)}.${b64(payload)}`;
  return `${body}.${secret === null ? "" : createHmac(hash, secret).update(body).digest("base64url")}`;
}

// ---- property-based mutations -------------------------------------------------------------

/** How a mutated header or payload is signed again (never with the server's key). */
export type Resign = "keep" | "none" | "other-key" | "hmac-public-key" | "hmac-empty";

export type Mutation =
  | { k: "flip"; seg: number; at: number; ch: string }
  | { k: "delete"; seg: number; at: number; len: number }
  | { k: "insert"; seg: number; at: number; text: string }
  | { k: "segments"; op: "swap01" | "swap12" | "drop0" | "drop1" | "drop2" | "dup" | "extra" | "empty-sig" | "two-dots" | "reverse" }
  | { k: "header" | "payload"; key: string; value: Json | undefined; resign: Resign }
  | { k: "case"; seg: number; upper: boolean }
  | { k: "std-base64"; seg: number }
  | { k: "wrap"; prefix: string; suffix: string };

export interface ForgeKeys {
  /** An attacker's RSA key (not the server's). */
  other: KeyObject;
  /** The server's public key as PEM: the classic HS256 confusion secret. */
  publicPem: string;
  /** The server's kid, so mutations can also keep the right one. */
  kid: string;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const ODD_CHARS = ["=", "+", "/", ".", " ", "%", "\u0000", "é", "\n", "*", "~"];

export function mutationArb(keys: ForgeKeys): fc.Arbitrary<Mutation[]> {
  const seg = fc.integer({ min: 0, max: 2 });
  const at = fc.double({ min: 0, max: 1, noNaN: true });
  const ch = fc.oneof(fc.constantFrom(...ALPHABET.split("")), fc.constantFrom(...ODD_CHARS));
  const resign = fc.constantFrom<Resign>("keep", "none", "other-key", "hmac-public-key", "hmac-empty");
  const interesting: Json[] = [
    "none", "None", "NONE", "HS256", "HS512", "RS256", "RS512", "PS256", "ES256", "EdDSA", "",
    "at+jwt", "JWT", "AT+JWT", "application/at+jwt", keys.kid, keys.kid.toUpperCase(), `${keys.kid} `, "../../../../dev/null",
    "' OR '1'='1", "http://127.0.0.1:1/jwks.json", ["exp"], "1", "0", "-1", "01", "1e3", " 1", "99999999999", 1, 0, -1,
    4102444800, 1, 1e21, "4102444800", "anonchat", ["anonchat"], ["x", "anonchat"], "someone-else", true, null, [], {},
    { kty: "RSA", n: "AQAB", e: "AQAB" }, { kty: "oct", k: b64("secret") },
  ];
  const value: fc.Arbitrary<Json | undefined> = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom<Json | undefined>(...interesting, undefined) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> },
    { weight: 1, arbitrary: fc.integer().map((n): Json => Math.floor(Date.now() / 1000) + n) },
  );
  const headerKey = fc.oneof(fc.constantFrom("alg", "typ", "kid", "jku", "jwk", "x5u", "x5c", "crit", "cty", "b64", "zip"), fc.string({ maxLength: 6 }));
  const payloadKey = fc.oneof(fc.constantFrom("sub", "sid", "login", "exp", "nbf", "iat", "iss", "aud", "jti"), fc.string({ maxLength: 6 }));
  const one: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ k: fc.constant("flip" as const), seg, at, ch }),
    fc.record({ k: fc.constant("delete" as const), seg, at, len: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ k: fc.constant("insert" as const), seg, at, text: fc.oneof(fc.string({ maxLength: 6 }), ch) }),
    fc.record({
      k: fc.constant("segments" as const),
      op: fc.constantFrom("swap01", "swap12", "drop0", "drop1", "drop2", "dup", "extra", "empty-sig", "two-dots", "reverse") as fc.Arbitrary<
        Extract<Mutation, { k: "segments" }>["op"]
      >,
    }),
    fc.record({ k: fc.constant("header" as const), key: headerKey, value, resign }),
    fc.record({ k: fc.constant("payload" as const), key: payloadKey, value, resign }),
    fc.record({ k: fc.constant("case" as const), seg, upper: fc.boolean() }),
    fc.record({ k: fc.constant("std-base64" as const), seg }),
    fc.record({ k: fc.constant("wrap" as const), prefix: fc.constantFrom("", " ", "Bearer ", "\"", "\t"), suffix: fc.constantFrom("", " ", ".", "\"", "\n", "=") }),
  );
  return fc.array(one, { minLength: 1, maxLength: 3 });
}

function resignBody(h: string, p: string, how: Resign, keys: ForgeKeys, oldSig: string): string {
  const body = `${h}.${p}`;
  switch (how) {
    case "keep":
      return `${body}.${oldSig}`;
    case "none":
      return `${body}.`;
    case "other-key":
      return `${body}.${createSign("RSA-SHA256").update(body).sign(keys.other).toString("base64url")}`;
    case "hmac-public-key":
      return `${body}.${createHmac("sha256", keys.publicPem).update(body).digest("base64url")}`;
    case "hmac-empty":
      return `${body}.${createHmac("sha256", "").update(body).digest("base64url")}`;
  }
}

/** Applies mutations in order to a token. */
export function applyMutations(token: string, muts: readonly Mutation[], keys: ForgeKeys): string {
  let t = token;
  for (const m of muts) {
    const parts = t.split(".");
    const pos = (s: string, f: number) => Math.min(s.length, Math.floor(f * (s.length + 1)));
    switch (m.k) {
      case "flip":
      case "delete":
      case "insert": {
        const i = Math.min(m.seg, parts.length - 1);
        const s = parts[i] ?? "";
        const p = pos(s, m.at);
        parts[i] =
          m.k === "flip" ? s.slice(0, p) + m.ch + s.slice(p + 1) : m.k === "delete" ? s.slice(0, p) + s.slice(p + m.len) : s.slice(0, p) + m.text + s.slice(p);
        t = parts.join(".");
        break;
      }
      case "segments": {
        const [a = "", b = "", c = ""] = parts;
        t = {
          swap01: `${b}.${a}.${c}`,
          swap12: `${a}.${c}.${b}`,
          drop0: `${b}.${c}`,
          drop1: `${a}.${c}`,
          drop2: `${a}.${b}`,
          dup: `${a}.${b}.${c}.${c}`,
          extra: `${t}.${b64("{}")}`,
          "empty-sig": `${a}.${b}.`,
          "two-dots": `${a}..${c}`,
          reverse: `${c}.${b}.${a}`,
        }[m.op];
        break;
      }
      case "header":
      case "payload": {
        const i = m.k === "header" ? 0 : 1;
        let obj: Claims;
        try {
          obj = JSON.parse(Buffer.from(parts[i] ?? "", "base64url").toString("utf8")) as Claims;
          if (typeof obj !== "object" || obj === null || Array.isArray(obj)) break;
        } catch {
          break;
        }
        if (m.value === undefined) delete obj[m.key];
        else obj[m.key] = m.value;
        parts[i] = b64(obj);
        t = resignBody(parts[0] ?? "", parts[1] ?? "", m.resign, keys, parts[2] ?? "");
        break;
      }
      case "case": {
        const i = Math.min(m.seg, parts.length - 1);
        parts[i] = m.upper ? (parts[i] ?? "").toUpperCase() : (parts[i] ?? "").toLowerCase();
        t = parts.join(".");
        break;
      }
      case "std-base64": {
        const i = Math.min(m.seg, parts.length - 1);
        parts[i] = Buffer.from(parts[i] ?? "", "base64url").toString("base64");
        t = parts.join(".");
        break;
      }
      case "wrap":
        t = `${m.prefix}${t}${m.suffix}`;
        break;
    }
  }
  return t;
}

/**
 * Whether a token means exactly the original: the same signed header and payload text and the same
 * signature bytes. base64url's last character carries spare bits, so a few different strings
 * decode to the original signature; such a token is not a forgery.
 */
export function equivalentToken(candidate: string, original: string): boolean {
  const c = candidate.split(".");
  const o = original.split(".");
  if (c.length !== 3 || o.length !== 3) return false;
  if (c[0] !== o[0] || c[1] !== o[1]) return false;
  if (!/^[A-Za-z0-9_-]*$/.test(c[2] ?? "")) return false;
  return Buffer.from(c[2] ?? "", "base64url").equals(Buffer.from(o[2] ?? "", "base64url"));
}
