import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

export interface TokenKeys {
  /** Present only where tokens are issued (all-in-one and the auth role). */
  privateKey: KeyObject | undefined;
  publicKey: KeyObject;
  keyId: string;
}

/** The key id: a digest of the public key, so every process derives the same one. */
function keyIdOf(publicKey: KeyObject): string {
  return createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16);
}

function fromPrivate(privateKey: KeyObject): TokenKeys {
  if (privateKey.asymmetricKeyType !== "rsa") throw new Error("JWT_PRIVATE_KEY must be an RSA private key (PEM)");
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

/**
 * The RS256 signing key: JWT_PRIVATE_KEY (PEM) if set, else a 2048-bit key generated on first
 * start and kept (mode 0600) in DATA_DIR. There is no built-in default key.
 */
export async function loadSigningKeys(privateKeyPem: string | undefined, dataDir: string): Promise<TokenKeys> {
  if (privateKeyPem) return fromPrivate(createPrivateKey(privateKeyPem.replace(/\\n/g, "\n")));
  await mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, "jwt-private.pem");
  const existing = await readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  if (existing === undefined) {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    try {
      await writeFile(file, privateKey.export({ type: "pkcs8", format: "pem" }), { flag: "wx", mode: 0o600 });
    } catch (e) {
      // Another process created it first: use theirs, so both sign with one key.
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  return fromPrivate(createPrivateKey(existing ?? (await readFile(file, "utf8"))));
}

/** A verify-only key set, from a PEM public key or a JWK (as published by the auth role). */
export function verifyOnlyKeys(key: string | JsonWebKey): TokenKeys {
  const publicKey =
    typeof key === "string" ? createPublicKey(key.replace(/\\n/g, "\n")) : createPublicKey({ key, format: "jwk" });
  if (publicKey.asymmetricKeyType !== "rsa") throw new Error("the token public key must be an RSA key");
  return { privateKey: undefined, publicKey, keyId: keyIdOf(publicKey) };
}

/** The JWKS document the auth role publishes at /.well-known/jwks.json. */
export function jwksOf(keys: TokenKeys): { keys: JsonWebKey[] } {
  return { keys: [{ ...keys.publicKey.export({ format: "jwk" }), kid: keys.keyId, alg: "RS256", use: "sig" }] };
}
