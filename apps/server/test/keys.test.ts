import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import http from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScratchDatabase } from "@anonchat/db";
import { createLogger, loadConfig, startServer, type RunningServer } from "../src/index.js";
import { DB_KIND, httpClient, registerUser, startTestServer, type TestServer } from "./harness.js";
import { decodeSegment, signRsa } from "./helpers/token-forge.js";
import { freePort, sleep, spawnServerProcess, type ServerProcess } from "./helpers/wire.js";

/**
 * Keys without restarts: the issuer rotates its signing key and publishes the old one beside it;
 * verifiers (gateway, chat) hold a cached JWKS with several keys, fetch it again on an unknown
 * kid (at most once per JWKS_MIN_REFRESH_SECONDS), start while auth is down and keep the last
 * good set when it goes down again.
 */

const rsa = () => generateKeyPairSync("rsa", { modulusLength: 2048 });
const KEY_A = rsa();
const KEY_B = rsa();
/** A key no server knows: tokens with made-up kids are signed with it. */
const KEY_C = rsa();
const privatePem = (k: { privateKey: KeyObject }) => k.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const publicPem = (k: { publicKey: KeyObject }) => k.publicKey.export({ type: "spki", format: "pem" }).toString();
const kidOf = (token: string) => String(decodeSegment(token, 0).kid);

/** The floor between two JWKS fetches in these tests. */
const MIN_REFRESH_SECONDS = 2;

/** A token shaped like ours, for a made-up kid (so the verifier does not hold its key). */
function unknownKidToken(): string {
  const now = Math.floor(Date.now() / 1000);
  return signRsa(
    { alg: "RS256", typ: "at+jwt", kid: randomBytes(8).toString("hex") },
    { sub: "1", sid: "0".repeat(32), login: "nobody", iss: "anonchat", aud: "anonchat", iat: now, exp: now + 300 },
    KEY_C.privateKey,
  );
}

/**
 * A real HTTP server standing in for auth's /.well-known/jwks.json: it serves the document it is
 * given (copied from a real issuer), counts requests, can answer 500, and can stop listening; it
 * answers the gateway's health checks as a ready auth does.
 */
class JwksServer {
  requests = 0;
  body = "";
  failing = false;
  private server: http.Server | undefined;
  constructor(readonly port: number) {}
  get url() {
    return `http://127.0.0.1:${this.port}`;
  }
  /** Serves the JWKS a real issuer publishes now. */
  async copyFrom(issuerUrl: string) {
    this.body = await (await fetch(`${issuerUrl}/.well-known/jwks.json`)).text();
  }
  async start() {
    this.server = http.createServer((req, res) => {
      // The gateway's health checks of its auth upstreams (gateway/upstreams.ts) ask /readyz.
      if (req.url === "/readyz") return void res.writeHead(200, { "Content-Type": "application/json" }).end('{"status":"ready"}');
      if (req.url !== "/.well-known/jwks.json") return void res.writeHead(404).end();
      this.requests++;
      if (this.failing) return void res.writeHead(500).end();
      res.writeHead(200, { "Content-Type": "application/json" }).end(this.body);
    });
    await new Promise<void>((resolve) => (this.server as http.Server).listen(this.port, "127.0.0.1", resolve));
  }
  async stop() {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve())));
  }
}

async function readyz(url: string): Promise<number> {
  return (await fetch(`${url}/readyz`)).status;
}

/** Whether the gateway lets this token through to a chat service (room.list answers). */
async function accepted(url: string, token: string): Promise<boolean> {
  try {
    await httpClient(url, token).room.list.query();
    return true;
  } catch (err) {
    if ((err as { data?: { code?: string } }).data?.code === "UNAUTHORIZED") return false;
    throw err;
  }
}

// The issuer is an all-in-one server (it publishes its JWKS like the auth role); the verifier
// is a gateway in front of it, which needs no database: this runs on PGlite and PostgreSQL.
describe("key rotation and a verifier's key set", () => {
  let dataDir: string;
  let databaseUrl: string | undefined;
  let dropDb: (() => Promise<void>) | undefined;
  let issuer: TestServer;
  let jwks: JwksServer;
  let gateway: RunningServer;
  let gatewayUrl: string;
  let alice: { token: string; email: string; password: string };

  /** The issuer again on the same port, data and database (the gateway forwards there). */
  async function restartIssuer(env: Record<string, string>) {
    const port = issuer.port;
    await issuer.stop({ keepData: true });
    issuer = await startTestServer({ dataDir, ...(databaseUrl ? { databaseUrl } : {}), env: { ...env, PORT: String(port) } });
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "anonchat-keys-"));
    if (DB_KIND === "postgres") {
      const scratch = await createScratchDatabase(process.env.TEST_DATABASE_URL as string);
      databaseUrl = scratch.url;
      dropDb = scratch.drop;
    }
    issuer = await startTestServer({ dataDir, ...(databaseUrl ? { databaseUrl } : {}), env: { JWT_PRIVATE_KEY: privatePem(KEY_A) } });
    const u = await registerUser(issuer.url, "rot");
    alice = { token: u.session.accessToken, email: u.session.user.email, password: u.password };
    jwks = new JwksServer(await freePort());
  }, 60_000);

  afterAll(async () => {
    await gateway?.close();
    await jwks?.stop();
    await issuer?.stop({ keepData: true });
    await dropDb?.();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("a gateway starts while auth is down: not ready and refusing tokens until it holds the keys, then verifying", async () => {
    const deadPort = await freePort();
    const config = loadConfig({
      ROLE: "gateway",
      HOST: "127.0.0.1",
      PORT: "0",
      // The first URL never answers: the key set fails over to the second.
      AUTH_URL: `http://127.0.0.1:${deadPort},${jwks.url}`,
      CHAT_URLS: issuer.url,
      SERVICE_SECRET: randomBytes(32).toString("hex"),
      RATE_LIMIT_STORE: "memory",
      RATE_LIMIT_PER_IP: "1000000",
      REGISTRATIONS_PER_IP: "1000000",
      JWKS_REFRESH_SECONDS: "3600",
      JWKS_MIN_REFRESH_SECONDS: String(MIN_REFRESH_SECONDS),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
      DATA_DIR: dataDir,
    });
    gateway = await startServer(config, createLogger(config.logLevel, {}));
    gatewayUrl = `http://127.0.0.1:${gateway.port}`;

    expect(await readyz(gatewayUrl)).toBe(503);
    expect(await accepted(gatewayUrl, alice.token)).toBe(false);

    await jwks.copyFrom(issuer.url);
    await jwks.start();
    const deadline = Date.now() + 30_000;
    while ((await readyz(gatewayUrl)) !== 200) {
      if (Date.now() > deadline) throw new Error("the gateway did not become ready once auth appeared");
      await sleep(100);
    }
    expect(await accepted(gatewayUrl, alice.token)).toBe(true);
  });

  it("keeps the last good key set when auth answers errors or goes away", async () => {
    jwks.failing = true;
    await sleep(MIN_REFRESH_SECONDS * 1000 + 100);
    const before = jwks.requests;
    // An unknown kid makes the set look again; that fetch fails.
    expect(await accepted(gatewayUrl, unknownKidToken())).toBe(false);
    expect(jwks.requests).toBe(before + 1);
    expect(await accepted(gatewayUrl, alice.token)).toBe(true);
    expect(await readyz(gatewayUrl)).toBe(200);

    await jwks.stop();
    await sleep(MIN_REFRESH_SECONDS * 1000 + 100);
    expect(await accepted(gatewayUrl, unknownKidToken())).toBe(false);
    expect(await accepted(gatewayUrl, alice.token)).toBe(true);
    // (Its /readyz now follows its health checks of auth: no auth replica answers, so it is
    // going to say 503, docs/architecture.md "Readiness and liveness"; the tokens it holds keys
    // for are still verified, which is what this test is about.)
    jwks.failing = false;
    await jwks.start();
  });

  it("the issuer rotates: new tokens carry the new kid, old tokens stay valid everywhere, the gateway fetches the new key once", async () => {
    const oldKid = kidOf(alice.token);
    await restartIssuer({ JWT_PRIVATE_KEY: privatePem(KEY_B), JWT_EXTRA_PUBLIC_KEYS: publicPem(KEY_A) });
    const published = (await (await fetch(`${issuer.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    const session = await httpClient(issuer.url).auth.login.mutate({ email: alice.email, password: alice.password });
    const newKid = kidOf(session.accessToken);
    expect(newKid).not.toBe(oldKid);
    // The signing key first, then the previous one.
    expect(published.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    // The issuer still accepts the old key's token.
    expect(await accepted(issuer.url, alice.token)).toBe(true);
    expect(await accepted(issuer.url, session.accessToken)).toBe(true);

    // The gateway holds only the old key; the new kid makes it fetch once, then it verifies.
    await jwks.copyFrom(issuer.url);
    await sleep(MIN_REFRESH_SECONDS * 1000 + 100);
    const before = jwks.requests;
    expect(await accepted(gatewayUrl, session.accessToken)).toBe(true);
    expect(jwks.requests).toBe(before + 1);
    expect(await accepted(gatewayUrl, alice.token)).toBe(true);
    expect(await accepted(gatewayUrl, unknownKidToken())).toBe(false);

    // Once the old key is retired, its tokens are refused.
    await restartIssuer({ JWT_PRIVATE_KEY: privatePem(KEY_B) });
    expect(await accepted(issuer.url, alice.token)).toBe(false);
    expect(await accepted(issuer.url, session.accessToken)).toBe(true);
  });

  it("a flood of unknown kids costs auth at most one fetch per JWKS_MIN_REFRESH_SECONDS", async () => {
    await sleep(MIN_REFRESH_SECONDS * 1000 + 100);
    const before = jwks.requests;
    const started = performance.now();
    let refused = 0;
    for (let round = 0; round < 10; round++) {
      const statuses = await Promise.all(
        Array.from({ length: 40 }, async () => {
          const res = await fetch(`${gatewayUrl}/trpc/room.list`, { headers: { Authorization: `Bearer ${unknownKidToken()}` } });
          await res.arrayBuffer();
          return res.status;
        }),
      );
      refused += statuses.filter((s) => s === 401).length;
    }
    const elapsedMs = performance.now() - started;
    const fetches = jwks.requests - before;
    console.log(`[keys] flood: 400 unknown-kid requests in ${Math.round(elapsedMs)} ms caused ${fetches} JWKS fetch(es), floor ${MIN_REFRESH_SECONDS} s`);
    expect(refused).toBe(400);
    expect(fetches).toBeGreaterThanOrEqual(1);
    // One at the start, then at most one per floor interval that passed (measured, not assumed).
    expect(fetches).toBeLessThanOrEqual(1 + Math.floor(elapsedMs / (MIN_REFRESH_SECONDS * 1000)));
  });
});

// The split roles as real processes on PostgreSQL: a chat replica started before auth.
describe.runIf(DB_KIND === "postgres")("a chat replica and auth coming and going", () => {
  let auth: ServerProcess | undefined;
  let chat: ServerProcess | undefined;
  let drop: (() => Promise<void>) | undefined;
  let dataDir: string;
  let common: Record<string, string>;
  let authPort: number;

  beforeAll(async () => {
    const scratch = await createScratchDatabase(process.env.TEST_DATABASE_URL as string);
    drop = scratch.drop;
    dataDir = await mkdtemp(path.join(os.tmpdir(), "anonchat-keys-split-"));
    authPort = await freePort();
    const deadPort = await freePort();
    common = {
      DATABASE_URL: scratch.url,
      DATA_DIR: dataDir,
      SERVICE_SECRET: randomBytes(32).toString("hex"),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
      RATE_LIMIT_PER_IP: "1000000",
      REGISTRATIONS_PER_IP: "1000000",
      LOGIN_FAILS_PER_IP: "1000000",
      JWKS_REFRESH_SECONDS: "3600",
      JWKS_MIN_REFRESH_SECONDS: String(MIN_REFRESH_SECONDS),
    };
    // The dead URL first: the key set and the calls to auth fail over to the live one.
    chat = spawnServerProcess(await freePort(), {
      ...common,
      ROLE: "chat",
      AUTH_URL: `http://127.0.0.1:${deadPort},http://127.0.0.1:${authPort}`,
    });
  }, 60_000);

  afterAll(async () => {
    await chat?.stop();
    await auth?.stop();
    await drop?.();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("starts without auth, is not ready until auth appears, then serves; keeps verifying after auth goes down; takes auth's new key", async () => {
    const c = chat as ServerProcess;
    // Listening, alive, and not ready.
    let status = 0;
    for (let i = 0; i < 300 && status !== 503; i++) {
      status = await readyz(c.url).catch(() => 0);
      if (status !== 503) await sleep(100);
    }
    expect(status).toBe(503);
    await sleep(1000);
    expect(await readyz(c.url)).toBe(503);
    expect(c.child.exitCode).toBeNull();

    auth = spawnServerProcess(authPort, { ...common, ROLE: "auth", JWT_PRIVATE_KEY: privatePem(KEY_A) });
    await auth.ready();
    await c.ready(30_000);
    // Registration through the chat replica goes to auth (past the dead URL).
    const u = await registerUser(c.url, "ks");
    const room = await u.client.room.create.mutate({ name: "keys", maxMembers: 3 });
    await u.client.room.send.mutate({ roomId: room.id, text: "before" });

    await auth.stop("SIGKILL");
    await sleep(MIN_REFRESH_SECONDS * 1000 + 100);
    // An unknown kid makes the set look again, which fails: the last good set stays.
    expect(await accepted(c.url, unknownKidToken())).toBe(false);
    expect(await readyz(c.url)).toBe(200);
    await u.client.room.send.mutate({ roomId: room.id, text: "while auth is down" });
    expect((await u.client.room.history.query({ roomId: room.id })).messages.map((m) => m.text)).toEqual(["before", "while auth is down"]);

    // auth comes back with a new signing key, still publishing the old one.
    auth = spawnServerProcess(authPort, { ...common, ROLE: "auth", JWT_PRIVATE_KEY: privatePem(KEY_B), JWT_EXTRA_PUBLIC_KEYS: publicPem(KEY_A) });
    await auth.ready();
    await sleep(MIN_REFRESH_SECONDS * 1000 + 100);
    const again = await httpClient(c.url).auth.login.mutate({ email: u.session.user.email, password: u.password });
    expect(kidOf(again.accessToken)).not.toBe(kidOf(u.session.accessToken));
    expect(await accepted(c.url, again.accessToken)).toBe(true);
    expect(await accepted(c.url, u.session.accessToken)).toBe(true);
  }, 120_000);
});
