import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PasswordHasher } from "@anonchat/core";
import { MESSAGES } from "@anonchat/shared";
import { httpClient, startTestServer, type TestServer } from "./harness.js";
import { api, expectEnvelope, expectTokenPair, registerLegacy, type ApiResponse } from "./helpers/legacy.js";
import { KEY_ENV, QUICK_ENV } from "./helpers/test-env.js";
import { expectTRPCError } from "./helpers/trpc.js";

/**
 * Login attacks beyond auth.test.ts and gateway.test.ts (which cover the tRPC answer to an unknown
 * user vs a wrong password, 10 failures per email and IP behind a trusted proxy, and X-Forwarded-For
 * on the per-IP request limit): the /api/v1 answers compared whole and their argon2 work counted, X-Forwarded-For (and
 * its cousins) against the login limits and the upgrade limit, a 1 MiB password, 200 logins at once.
 */

const FAST_HASH = QUICK_ENV;

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

  it("the same status, body and headers on /api/v1 and tRPC, and the same argon2 work", async () => {
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

    // The same time, stated as the same work (issue 14: no timing in the suite; a loaded machine
    // decides wall times). Each failed login, wrong password or unknown email, must run exactly
    // one argon2 verification, against a hash of the same parameters and sizes, so both cost the
    // same. The spy only counts (it calls through). A server that skipped the dummy verification
    // for an unknown email, or verified it with cheaper parameters, fails here. The time itself
    // is measured by `pnpm bench` (auth scenario: "failed login p50, unknown email vs wrong
    // password", bench/src/report.ts).
    const verify = vi.spyOn(PasswordHasher.prototype, "verify");
    const hashes: Record<string, string> = {};
    try {
      const cases: Array<[string, () => Promise<ApiResponse>]> = [
        ["/api/v1 wrong password", () => login(srv.url, u.email, "wrong-1-pw")],
        ["/api/v1 unknown email", () => login(srv.url, `nobody-1-${Date.now()}@example.test`, "wrong-1-pw")],
        ["tRPC wrong password", () => raw(u.email)],
        ["tRPC unknown email", () => raw(`nobody-2-${Date.now()}@example.test`)],
      ];
      for (const [name, attempt] of cases) {
        verify.mockClear();
        expect((await attempt()).status, name).toBe(401);
        expect(verify, name).toHaveBeenCalledTimes(1);
        hashes[name] = String(verify.mock.calls[0]?.[0]);
      }
    } finally {
      verify.mockRestore();
    }
    // $argon2id$v=19$m=…,t=…,p=…$salt$hash: everything but the salt's and hash's bytes.
    const shape = (h: string | undefined) => {
      const [, alg, version, params, salt, hash] = (h ?? "").split("$");
      return { alg, version, params, saltLength: salt?.length, hashLength: hash?.length };
    };
    const real = shape(hashes["/api/v1 wrong password"]);
    expect(real.alg).toBe("argon2id");
    expect(real.params).toMatch(/^m=\d+,t=\d+,p=\d+$/);
    for (const [name, h] of Object.entries(hashes)) expect(shape(h), name).toEqual(real);
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
    // The order the answers arrive in, not their times (issue 14).
    let arrived = 0;
    const answers = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const headers = { "X-Forwarded-For": `198.51.100.${i % 20}` };
        const res =
          i % 2 === 0
            ? await login(srv.url, u.email, u.password, headers)
            : await api(srv.url, "POST", "/trpc/auth.login", { body: { email: u.email, password: u.password }, headers });
        return { res, order: arrived++ };
      }),
    );
    clearInterval(sampler);
    const count = (s: number) => answers.filter((a) => a.res.status === s).length;
    const grownMiB = (peak - base) / 1024 / 1024;
    console.log(`[attack-login] 200 logins: ${count(200)} × 200, ${count(503)} × 503; RSS grew ${grownMiB.toFixed(0)} MiB`);
    for (const a of answers) expect([200, 503]).toContain(a.res.status);
    expect(count(200)).toBeGreaterThanOrEqual(2);
    expect(count(503)).toBeGreaterThanOrEqual(100);
    for (const a of answers.filter((x) => x.res.status === 503)) {
      expect(Number(a.res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
    // 200 hashes of 32 MiB at once would be 6.25 GiB; the cap keeps it to a few.
    expect(grownMiB).toBeLessThan(600);
    // Refused ones are refused without waiting for the hashing to drain, stated as an order
    // rather than "faster than the whole run" (issue 14): a 503 means the queue was full when it
    // was given, so queued logins were still waiting for their hash; each 503 must therefore
    // arrive before the last 200. A server that made the refused wait for a hash slot first would
    // answer the latecomers among them after the queue drained, and fail here.
    const lastAccepted = Math.max(...answers.filter((a) => a.res.status === 200).map((a) => a.order));
    const late = answers.filter((a) => a.res.status === 503 && a.order > lastAccepted).length;
    expect(late, "503s answered only after every accepted login had been hashed").toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    expectTokenPair(expectEnvelope(await login(srv.url, u.email, u.password), 200, "success"));
    await expectTRPCError(httpClient(srv.url).auth.login.mutate({ email: u.email, password: "wrong-password" }), "UNAUTHORIZED");
  });
});
