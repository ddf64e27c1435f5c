import { createHash, randomBytes } from "node:crypto";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Uniform base62 string from the CSPRNG (rejection sampling: no modulo bias). */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** Room ids: 16 base62 characters, about 95 random bits; fits the original client's join field. */
export const newRoomId = (): string => randomBase62(16);

/** Opaque refresh token: 256 random bits. */
export const newRefreshToken = (): string => randomBytes(32).toString("base64url");

export const newSessionId = (): string => randomBytes(16).toString("hex");

export const sha256Hex = (s: string): string => createHash("sha256").update(s).digest("hex");
