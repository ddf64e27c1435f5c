import { createHash, createSecretKey, randomBytes, type KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

export interface SigningKey {
  key: KeyObject;
  keyId: string;
}

/**
 * The access-token key: JWT_SECRET if set, else a random secret generated on first start and
 * kept (mode 0600) in DATA_DIR. There is no built-in default.
 */
export async function loadSigningKey(secretFromEnv: string | undefined, dataDir: string): Promise<SigningKey> {
  let secret: Buffer;
  if (secretFromEnv) {
    secret = Buffer.from(secretFromEnv, "utf8");
  } else {
    await mkdir(dataDir, { recursive: true });
    const file = path.join(dataDir, "jwt-secret");
    try {
      await writeFile(file, randomBytes(64).toString("base64url"), { flag: "wx", mode: 0o600 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    secret = Buffer.from((await readFile(file, "utf8")).trim(), "utf8");
    if (secret.length < 32) throw new Error(`${file} holds a secret shorter than 32 bytes`);
  }
  const keyId = createHash("sha256").update(secret).digest("hex").slice(0, 16);
  return { key: createSecretKey(secret), keyId };
}
