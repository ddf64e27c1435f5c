import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * The reuse grace hands a rotated token's successor out again, yet the server keeps only hashes of
 * tokens. So the successor is stored sealed with AES-256-GCM under a key derived (HKDF-SHA256) from
 * the rotated token itself: 256 random bits that only its holder has, and whose hash, the one thing
 * stored about it, does not give the key. Whoever presents the rotated token can open the box;
 * someone who reads the database cannot.
 */

const INFO = "anonchat/refresh-successor/v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

function keyFor(rotatedToken: string): Buffer {
  // No salt: the input is already uniformly random, and the info string keeps this key apart
  // from any other use of the token.
  return Buffer.from(hkdfSync("sha256", rotatedToken, Buffer.alloc(0), INFO, 32));
}

export function sealSuccessor(rotatedToken: string, successor: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", keyFor(rotatedToken), iv);
  const body = Buffer.concat([cipher.update(successor, "utf8"), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
}

/** The successor, or undefined when the box was not sealed for this token or was altered. */
export function openSuccessor(rotatedToken: string, sealed: string): string | undefined {
  const raw = Buffer.from(sealed, "base64url");
  if (raw.length <= IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", keyFor(rotatedToken), raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString("utf8");
  } catch {
    return undefined;
  }
}
