import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { VerificationKeys } from "@anonchat/core";
import type { Logger } from "./logger.js";

/** The public keys a process accepts tokens from, by kid. */
export interface KeySet extends VerificationKeys {
  /** Every key held, by kid (the issuer publishes these as its JWKS). */
  entries(): Array<[string, KeyObject]>;
  close(): void;
}

export interface TokenKeys {
  /** Present only where tokens are issued (all-in-one and the auth role). */
  privateKey: KeyObject | undefined;
  /** The kid of privateKey, placed in every token it signs. */
  keyId: string | undefined;
  keySet: KeySet;
}

/** Shortest RSA modulus accepted, from configuration or from a JWKS. */
const MIN_RSA_BITS = 2048;
/** Bounds on a fetched JWKS, against a misbehaving or hostile endpoint. */
const JWKS_MAX_BYTES = 256 * 1024;
const JWKS_MAX_KEYS = 32;

/** The key id: a digest of the public key, so every process derives the same one. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16);
}

function requireRsa(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== "rsa") throw new Error(`${what} must be an RSA key`);
  if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) throw new Error(`${what} must be an RSA key of at least ${MIN_RSA_BITS} bits`);
  return key;
}

/**
 * Every PEM block in a setting (one key or several one after another; newlines as is or written
 * as \n), as public keys by kid. Public keys, certificates and private keys are accepted (a
 * private key's public half is taken).
 */
export function publicKeysFromPem(text: string, what: string): Map<string, KeyObject> {
  const blocks = text.replace(/\\n/g, "\n").match(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${what} holds no PEM key`);
  const keys = new Map<string, KeyObject>();
  for (const block of blocks) {
    let key: KeyObject;
    try {
      key = createPublicKey(block);
    } catch {
      throw new Error(`${what} holds a PEM block that is not a key`);
    }
    requireRsa(key, `every key in ${what}`);
    keys.set(keyIdOf(key), key);
  }
  return keys;
}

/** A set that does not change while the process runs (the issuer's keys, or configured ones). */
export class FixedKeySet implements KeySet {
  constructor(private readonly keys: Map<string, KeyObject>) {}
  key(kid: string): KeyObject | undefined {
    return this.keys.get(kid);
  }
  ready(): boolean {
    return this.keys.size > 0;
  }
  entries(): Array<[string, KeyObject]> {
    return [...this.keys];
  }
  close(): void {}
}

async function dataDirKey(dataDir: string): Promise<KeyObject> {
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
  return createPrivateKey(existing ?? (await readFile(file, "utf8")));
}

/**
 * The issuer's keys. It signs with JWT_PRIVATE_KEY (PEM) if set, else with a 2048-bit key
 * generated on first start and kept (mode 0600) in DATA_DIR; there is no built-in default key.
 * It accepts and publishes that key's public half and every key in JWT_EXTRA_PUBLIC_KEYS: the
 * previous key during a rotation (its tokens stay valid until they expire), or the next one
 * ahead of it (so every verifier holds it before the first token it signs).
 */
export async function loadSigningKeys(privateKeyPem: string | undefined, extraPublicPems: string | undefined, dataDir: string): Promise<TokenKeys> {
  const privateKey = privateKeyPem ? createPrivateKey(privateKeyPem.replace(/\\n/g, "\n")) : await dataDirKey(dataDir);
  if (privateKey.asymmetricKeyType !== "rsa") throw new Error("JWT_PRIVATE_KEY must be an RSA private key (PEM)");
  const publicKey = requireRsa(createPublicKey(privateKey), "JWT_PRIVATE_KEY");
  const keyId = keyIdOf(publicKey);
  // The signing key first: a JWKS consumer that takes the first key gets the current one.
  const keys = new Map<string, KeyObject>([[keyId, publicKey]]);
  if (extraPublicPems) for (const [kid, key] of publicKeysFromPem(extraPublicPems, "JWT_EXTRA_PUBLIC_KEYS")) keys.set(kid, key);
  return { privateKey, keyId, keySet: new FixedKeySet(keys) };
}

/** The JWKS document the auth role publishes at /.well-known/jwks.json. */
export function jwksOf(keys: TokenKeys): { keys: JsonWebKey[] } {
  return { keys: keys.keySet.entries().map(([kid, key]) => ({ ...key.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" })) };
}

/** The usable keys of a JWKS document: RS256 signing keys with a kid; anything else is skipped. */
export function keysOfJwks(body: unknown): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  const list = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) return keys;
  for (const jwk of list.slice(0, JWKS_MAX_KEYS)) {
    if (typeof jwk !== "object" || jwk === null) continue;
    const { kty, kid, alg, use } = jwk as Record<string, unknown>;
    if (kty !== "RSA" || typeof kid !== "string" || kid === "" || kid.length > 200) continue;
    if ((alg !== undefined && alg !== "RS256") || (use !== undefined && use !== "sig")) continue;
    try {
      keys.set(kid, requireRsa(createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }), "a JWKS key"));
    } catch {
      // not a usable public key
    }
  }
  return keys;
}

export interface RemoteKeySetOptions {
  /** The auth role's base URLs; each serves /.well-known/jwks.json. Tried in turn. */
  urls: string[];
  /** Keys accepted whatever the JWKS says (JWT_PUBLIC_KEY). */
  fixed: Map<string, KeyObject>;
  refreshMs: number;
  /** The least time between two fetches: the floor for fetches caused by unknown kids. */
  minRefreshMs: number;
  timeoutMs: number;
  log: Logger;
}

/**
 * The keys of a verifier (gateway and chat roles): the auth role's JWKS, fetched in the
 * background at start and every refreshMs, and again when a token names a kid not held (at most
 * once per minRefreshMs). A failed fetch keeps the last good set; until one fetch has succeeded
 * the set holds only the configured keys, and with none it is not ready (the process says so on
 * /readyz and refuses every token as invalid).
 */
export class RemoteKeySet implements KeySet {
  private fetched = new Map<string, KeyObject>();
  private held = false;
  private lastFetchAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The URL tried first: the one that answered last; a random one at start spreads replicas over a list. */
  private next: number;
  private failures = 0;
  private closed = false;
  private readonly abort = new AbortController();

  constructor(private readonly o: RemoteKeySetOptions) {
    if (o.urls.length === 0) throw new Error("the key set needs at least one auth URL");
    this.next = Math.floor(Math.random() * o.urls.length);
  }

  key(kid: string): KeyObject | undefined {
    return this.fetched.get(kid) ?? this.o.fixed.get(kid);
  }

  ready(): boolean {
    return this.held || this.o.fixed.size > 0;
  }

  entries(): Array<[string, KeyObject]> {
    return [...this.o.fixed, ...this.fetched];
  }

  /** Starts the background fetches. */
  start(): void {
    void this.tick();
  }

  refresh(): Promise<void> {
    if (this.inflight) return this.inflight;
    if (this.closed || performance.now() - this.lastFetchAt < this.o.minRefreshMs) return Promise.resolve();
    return this.fetchNow();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
  }

  private fetchNow(): Promise<void> {
    this.lastFetchAt = performance.now();
    const run = this.fetchFromAny().finally(() => {
      if (this.inflight === run) this.inflight = undefined;
    });
    this.inflight = run;
    return run;
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    await (this.inflight ?? this.fetchNow());
    if (this.closed) return;
    // After a failure (auth down, or not up yet), sooner: from 250 ms, doubling up to the floor.
    const base = this.failures === 0 ? this.o.refreshMs : Math.min(this.o.refreshMs, this.o.minRefreshMs, 250 * 2 ** (this.failures - 1));
    // A little jitter, so replicas started together do not fetch together forever.
    this.timer = setTimeout(() => void this.tick(), Math.round(base * (0.9 + Math.random() * 0.2)));
    this.timer.unref();
  }

  private async fetchFromAny(): Promise<void> {
    const n = this.o.urls.length;
    let lastError = "";
    for (let i = 0; i < n && !this.closed; i++) {
      const index = (this.next + i) % n;
      const url = `${(this.o.urls[index] as string).replace(/\/+$/, "")}/.well-known/jwks.json`;
      try {
        const keys = await this.fetchOne(url);
        const before = [...this.fetched.keys()].sort().join(",");
        const after = [...keys.keys()].sort().join(",");
        if (before !== after) this.o.log.info("token keys fetched", { url, kids: [...keys.keys()] });
        if (this.failures > 0 && this.held) this.o.log.info("the auth service's keys are reachable again", { url });
        this.fetched = keys;
        this.held = true;
        this.failures = 0;
        this.next = index;
        return;
      } catch (err) {
        lastError = `${url}: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    if (this.closed) return;
    this.failures++;
    if (this.failures === 1 || this.failures % 10 === 0) {
      const fields = { failures: this.failures, lastError };
      if (this.held) this.o.log.warn("could not fetch the token keys; keeping the last good set", fields);
      else if (this.o.fixed.size > 0) this.o.log.warn("could not fetch the token keys; verifying with JWT_PUBLIC_KEY only", fields);
      else this.o.log.warn("waiting for the auth service's token keys; tokens are refused until then", fields);
    }
  }

  private async fetchOne(url: string): Promise<Map<string, KeyObject>> {
    const res = await fetch(url, {
      headers: { Accept: "application/json" },
      signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.o.timeoutMs)]),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    if (Number(res.headers.get("content-length") ?? 0) > JWKS_MAX_BYTES) throw new Error("the JWKS is too large");
    const text = await res.text();
    if (text.length > JWKS_MAX_BYTES) throw new Error("the JWKS is too large");
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error("the JWKS is not JSON");
    }
    const keys = keysOfJwks(body);
    if (keys.size === 0) throw new Error("the JWKS holds no RS256 signing key");
    return keys;
  }
}
