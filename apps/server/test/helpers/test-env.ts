import { generateKeyPairSync } from "node:crypto";

/**
 * Environment shared by the attack and fuzz test servers of one file: one signing key for all of
 * them (a fresh DATA_DIR would otherwise generate a 2048-bit RSA key at every start, seconds on a
 * loaded machine), cheap argon2 where hashing cost is not under test, a short shutdown.
 */
export const TEST_PRIVATE_KEY = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();

export const QUICK_ENV: Record<string, string> = {
  JWT_PRIVATE_KEY: TEST_PRIVATE_KEY,
  ARGON2_MEMORY_KIB: "1024",
  ARGON2_TIME_COST: "1",
  SHUTDOWN_TIMEOUT: "1",
};

/** The same without the cheap hashing (for tests of hashing itself). */
export const KEY_ENV: Record<string, string> = { JWT_PRIVATE_KEY: TEST_PRIVATE_KEY, SHUTDOWN_TIMEOUT: "1" };
