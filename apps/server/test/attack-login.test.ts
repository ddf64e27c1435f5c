import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MESSAGES } from "@anonchat/shared";
import { httpClient, startTestServer, type TestServer } from "./harness";
import { api, expectEnvelope, expectTokenPair, registerLegacy, type ApiResponse } from "./helpers/legacy";
import { KEY_ENV, QUICK_ENV } from "./helpers/test-env";
import { expectTRPCError } from "./helpers/trpc";

/**
 * Login attacks beyond auth.test.ts and gateway.test.ts (which cover the tRPC answer to an unknown
 * user vs a wrong password, 10 failures per email and IP behind a trusted proxy, and X-Forwarded-For
 * on the per-IP request limit): the /api/v1 answers compared whole and timed, X-Forwarded-For (and
 * its cousins) against the login limits and the upgrade limit, a 1 MiB password, 200 logins at once.
 */

const FAST_HASH = QUICK_ENV;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await f();
  return [v, performance.now() - t];
}

const login = (url: string, email: string, password: string, headers: Record<string, string> = {}) =>
  api(url, "POST", "/api/v1/auth/login", { body: { email, password }, headers });

/** Headers that describe the answer (not the request id, the date or the rate-limit counters). */
function answerHeaders(res: ApiResponse): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (!/^(date|x-request-id|x-ratelimit-.*|keep-alive|connection)$/.test(k)) out[k] = v;
  });
  return out;
}

describe("unknown user and wrong password answer identically (default argon2 parameters)", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ env: KEY_ENV });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it("the same status, body and headers on /api/v1 and tRPC, and about the same time", async () => {
    const u = await registerLegacy(srv.url, "same");
    const nobody = `nobody-${Date.now()}@example.test`;
    const wrong = await login(srv.url, u.email, "not-the-password");
    const unknown = await login(srv.url, nobody, "not-the-password");
    expectEnvelope(wrong, 401, "error");
    expect(unknown.status).toBe(wrong.status);
    expect(unknown.text).toBe(wrong.text);
    expect(answerHeaders(unknown)).toEqual(answerHeaders(wrong));
    expect((wrong.body as { message: string }).message).toBe(MESSAGES.invalidCredentials);

    const raw = (email: string) =>
      api(srv.url, "POST", "/trpc/auth.login", { body: { email, password: "not-the-password" } });
    const [tw, tu] = [await raw(u.email), await raw(nobody)];
    expect(tw.status).toBe(401);
    expect(tu.status).toBe(tw.status);
    expect(tu.text).toBe(tw.text);
    expect(answerHeaders(tu)).toEqual(answerHeaders(tw));

    // Timing: both pay for one argon2 verification. Interleaved so load affects both alike.
    const w: number[] = [];
    const n: number[] = [];
    for (let i = 0; i < 8; i++) {
      w.push((await timed(() => login(srv.url, u.email, `wrong-${i}-pw`)))[1]);
      n.push((await timed(() => login(srv.url, `nobody-${i}-${Date.now()}@example.test`, `wrong-${i}-pw`)))[1]);
    }
    const ratio = median(n) / median(w);
    console.log(`[attack-login] median wrong password ${median(w).toFixed(1)} ms, unknown user ${median(n).toFixed(1)} ms (ratio ${ratio.toFixed(2)})`);
    expect(ratio).toBeGreaterThan(0.4);
    expect(ratio).toBeLessThan(2.5);
  });
});

describe("X-Forwarded-For spoofing does not escape any limit (no trusted proxy; RATE_LIMIT_PER_IP=60)", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ env: { ...FAST_HASH, LOGIN_FAILS_PER_EMAIL_IP: "10", LOGIN_FAILS_PER_IP: "25", RATE_LIMIT_PER_IP: "60" } });
  });
  afterAll(async () => {
    await srv.stop();
  });

  const spoof = (i: number): Record<string, string> => ({
    "X-Forwarded-For": `198.51.100.${i % 250}, 203.0.113.${i % 250}`,
    "X-Real-IP": `192.0.2.${i % 250}`,
    Forwarded: `for=192.0.2.${i % 250}`,
    "CF-Connecting-IP": `192.0.2.${(i + 1) % 250}`,
  });

  it("10 failures on one email, each from a 'different' forwarded address, block that email: 429 with Retry-After", async () => {
    const u = await registerLegacy(srv.url, "xff");
    for (let i = 0; i < 10; i++) expectEnvelope(await login(srv.url, u.email, `wrong-${i}-password`, spoof(i)), 401, "error");
    const blocked = await login(srv.url, u.email, u.password, spoof(99));
    expectEnvelope(blocked, 429, "error");
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // tRPC too, with yet another forwarded address.
    const res = await fetch(`${srv.url}/trpc/auth.login`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...spoof(123) },
      body: JSON.stringify({ email: u.email, password: u.password }),
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("a spray over many emails hits the per-IP failure limit whatever the forwarded headers say", async () => {
    // 10 failures were counted above; 15 more reach LOGIN_FAILS_PER_IP=25.
    for (let i = 0; i < 15; i++) {
      const res = await login(srv.url, `spray-${i}-${Date.now()}@example.test`, "wrong-password", spoof(200 + i));
      expect(res.status, `failure ${i}`).toBe(401);
    }
    const next = await login(srv.url, `spray-next-${Date.now()}@example.test`, "wrong-password", spoof(7));
    expectEnvelope(next, 429, "error");
    expect(Number(next.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });
  const upgrade = (headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${srv.wsUrl}/trpc`, { headers });
      ws.once("open", () => {
        ws.terminate();
        resolve(101);
      });
      ws.once("unexpected-response", (_req, res) => {
        res.resume();
        ws.terminate();
        resolve(res.statusCode ?? 0);
      });
      ws.once("error", reject);
    });

  it("the per-IP request limit: upgrades and requests from 'many addresses' spend the one real address's budget", async () => {
    // Whatever the login tests above left of the 60 requests, spent by upgrades with fresh headers.
    const probe = await api(srv.url, "GET", "/api/v1/status", { headers: spoof(300) });
    let left = Number(probe.headers.get("x-ratelimit-remaining"));
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(60);
    for (let i = 0; left > 0; i++, left--) expect(await upgrade(spoof(400 + i))).toBe(101);
    expect(await upgrade(spoof(499))).toBe(429);
    expect((await api(srv.url, "POST", "/trpc/auth.login", { body: {}, headers: spoof(500) })).status).toBe(429);
    expect((await api(srv.url, "GET", "/api/v1/status", { headers: spoof(501) })).status).toBe(429);
  });
});

describe("behind a trusted proxy (TRUST_PROXY=127.0.0.1), a client-prepended X-Forwarded-For does not help", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ env: { ...FAST_HASH, TRUST_PROXY: "127.0.0.1", LOGIN_FAILS_PER_EMAIL_IP: "10" } });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it("failures counted for the address the proxy saw; the owner logs in from another address", async () => {
    const u = await registerLegacy(srv.url, "prx");
    const via = (left: string, client: string) => ({ "X-Forwarded-For": `${left}, ${client}` });
    for (let i = 0; i < 10; i++) expect((await login(srv.url, u.email, `bad-${i}-password`, via(`10.${i}.0.1`, "203.0.113.7"))).status).toBe(401);
    expect((await login(srv.url, u.email, u.password, via("10.200.0.1", "203.0.113.7"))).status).toBe(429);
    expectTokenPair(expectEnvelope(await login(srv.url, u.email, u.password, via("10.200.0.1", "203.0.113.8")), 200, "success"));
  });
});

describe("password hashing under attack (ARGON2 32 MiB t=4, HASH_CONCURRENCY=2, HASH_QUEUE_MAX=10, MAX_BODY_BYTES=2 MiB)", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({
      env: {
        ...KEY_ENV,
        // The herd below comes from 20 addresses (through a trusted proxy): one address alone
        // would meet its own hashing lane and failure budget first (see limits-concurrency.test.ts).
        TRUST_PROXY: "127.0.0.1",
        ARGON2_MEMORY_KIB: "32768",
        ARGON2_TIME_COST: "4",
        HASH_CONCURRENCY: "2",
        HASH_QUEUE_MAX: "10",
        MAX_BODY_BYTES: String(2 * 1024 * 1024),
      },
    });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it("a 1 MiB password is refused with 400 naming it, on login and register, /api/v1 and tRPC, before hashing: while every hash slot and the whole queue are taken", async () => {
    const huge = "p".repeat(1024 * 1024);
    // 40 logins at once: 2 take the hash slots, 10 the queue, the rest are refused with 503 at once.
    let pending = 40;
    let refusedBusy = 0;
    const busy = Array.from({ length: 40 }, (_, i) =>
      login(srv.url, `busy${i}@example.test`, "wrong-password").then((r) => {
        pending--;
        if (r.status === 503) refusedBusy++;
        return r;
      }),
    );
    // A 503 proves the hasher is saturated (both slots and the whole queue taken) right now.
    for (let i = 0; i < 500 && refusedBusy === 0 && pending > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(refusedBusy, "the hash queue never filled up").toBeGreaterThan(0);
    const attempts: Array<[string, () => Promise<ApiResponse>]> = [
      ["/api/v1 login", () => login(srv.url, "victim@example.test", huge)],
      ["/api/v1 register", () => api(srv.url, "POST", "/api/v1/auth/register", { body: { login: "huge1", email: "h1@example.test", password: huge } })],
      ["tRPC login", () => api(srv.url, "POST", "/trpc/auth.login", { body: { email: "victim@example.test", password: huge } })],
      ["tRPC register", () => api(srv.url, "POST", "/trpc/auth.register", { body: { login: "huge2", email: "h2@example.test", password: huge } })],
      ["129 characters", () => login(srv.url, "victim@example.test", "p".repeat(129))],
    ];
    const results = await Promise.all(attempts.map(async ([name, f]) => [name, ...(await timed(f)), pending] as const));
    await Promise.all(busy);
    console.log(`[attack-login] with the hasher saturated: ${results.map(([n, , ms, left]) => `${n} ${ms.toFixed(0)} ms (${left} hashes pending)`).join(", ")}`);
    for (const [name, res, , left] of results) {
      // Had it reached the hasher it would be 503 (queue full) or wait behind the queued hashes.
      expect(res.status, name).toBe(400);
      expect(res.text, name).toMatch(/password must be at most 128 characters/);
      expect(left, `${name} was answered only after the hashes drained`).toBeGreaterThan(0);
    }
    // Past the body limit: 413 before any parsing.
    const tooBig = await login(srv.url, "victim@example.test", "p".repeat(3 * 1024 * 1024));
    expect(tooBig.status).toBe(413);
  });

  it("200 simultaneous logins from 20 addresses: at most 2 hashes run and 10 wait; the rest get 503 with Retry-After at once; memory stays bounded; the owner logs in afterwards", async () => {
    const u = await registerLegacy(srv.url, "herd");
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const t0 = performance.now();
        const headers = { "X-Forwarded-For": `198.51.100.${i % 20}` };
        const res =
          i % 2 === 0
            ? await login(srv.url, u.email, u.password, headers)
            : await api(srv.url, "POST", "/trpc/auth.login", { body: { email: u.email, password: u.password }, headers });
        return { res, ms: performance.now() - t0 };
      }),
    );
    clearInterval(sampler);
    const total = performance.now() - started;
    const count = (s: number) => answers.filter((a) => a.res.status === s).length;
    const grownMiB = (peak - base) / 1024 / 1024;
    console.log(`[attack-login] 200 logins in ${total.toFixed(0)} ms: ${count(200)} × 200, ${count(503)} × 503; RSS grew ${grownMiB.toFixed(0)} MiB`);
    for (const a of answers) expect([200, 503]).toContain(a.res.status);
    expect(count(200)).toBeGreaterThanOrEqual(2);
    expect(count(503)).toBeGreaterThanOrEqual(100);
    for (const a of answers.filter((x) => x.res.status === 503)) {
      expect(Number(a.res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
    // 200 hashes of 32 MiB at once would be 6.25 GiB; the cap keeps it to a few.
    expect(grownMiB).toBeLessThan(600);
    // Refused ones are refused without waiting for a hash.
    const refused = answers.filter((a) => a.res.status === 503).map((a) => a.ms);
    expect(median(refused)).toBeLessThan(total);
    await new Promise((r) => setTimeout(r, 1500));
    expectTokenPair(expectEnvelope(await login(srv.url, u.email, u.password), 200, "success"));
    await expectTRPCError(httpClient(srv.url).auth.login.mutate({ email: u.email, password: "wrong-password" }), "UNAUTHORIZED");
  });
});
