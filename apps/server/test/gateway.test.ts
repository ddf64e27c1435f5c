import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { TRPCClientError } from "@trpc/client";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpClient, liveClient, registerUser, startTestServer, waitFor, type TestServer } from "./harness.js";
import {
  api,
  connectLegacy,
  createRoomLegacy,
  expectEnvelope,
  expectTokenPair,
  LegacySocket,
  openLegacy,
  registerLegacy,
  type ApiResponse,
} from "./helpers/legacy.js";
import { expectRebindingRefused, rawStatus, upgradeStatus } from "./helpers/origin.js";

/** The edge in front of every route: rate limits, origins, request ids, health, and logs. */

function expectRateHeaders(res: ApiResponse, limit: number, windowSeconds = 60) {
  const h = res.headers;
  expect(h.get("x-ratelimit-limit")).toBe(String(limit));
  const remaining = Number(h.get("x-ratelimit-remaining"));
  expect(Number.isInteger(remaining) && remaining >= 0 && remaining < limit).toBe(true);
  const reset = Number(h.get("x-ratelimit-reset"));
  const now = Date.now() / 1000;
  expect(Number.isInteger(reset)).toBe(true);
  expect(reset).toBeGreaterThanOrEqual(Math.floor(now));
  expect(reset).toBeLessThanOrEqual(Math.ceil(now) + windowSeconds + 1);
  return remaining;
}

describe("gateway, default limits", () => {
  let srv: TestServer;
  const lines: string[] = [];
  beforeAll(async () => {
    srv = await startTestServer({ onLog: (l) => lines.push(l) });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it("every counted response carries X-RateLimit-Limit/Remaining/Reset: /api/v1, /trpc", async () => {
    const a = await api(srv.url, "GET", "/api/v1/status");
    const b = await api(srv.url, "GET", "/trpc/auth.me");
    const d = await api(srv.url, "POST", "/api/v1/auth/login", { body: {} });
    expect([a.status, b.status, d.status]).toEqual([200, 401, 400]);
    const remaining = [a, b, d].map((r) => expectRateHeaders(r, 1_000_000));
    expect(remaining[1]).toBeLessThan(remaining[0] as number);
    expect(remaining[2]).toBeLessThan(remaining[1] as number);
  });

  it("/healthz (liveness) and /readyz (polled by orchestrators) are answered outside the budget: neither charged nor refused", async () => {
    const before = expectRateHeaders(await api(srv.url, "GET", "/api/v1/status"), 1_000_000);
    const health = await api(srv.url, "GET", "/healthz");
    const ready = await api(srv.url, "GET", "/readyz");
    expect([health.status, ready.status]).toEqual([200, 200]);
    expect([health.headers.get("x-ratelimit-limit"), ready.headers.get("x-ratelimit-limit")]).toEqual([null, null]);
    const after = expectRateHeaders(await api(srv.url, "GET", "/api/v1/status"), 1_000_000);
    // Only the second /api/v1/status was charged between the two readings.
    expect(before - after).toBe(1);
  });

  it("/healthz and /readyz answer 200", async () => {
    const health = await api(srv.url, "GET", "/healthz");
    const ready = await api(srv.url, "GET", "/readyz");
    expect([health.status, ready.status]).toEqual([200, 200]);
    expect(health.body).toEqual({ status: "ok" });
    expect(ready.body).toEqual({ status: "ready" });
  });

  it("returns an X-Request-Id, echoing a valid incoming one", async () => {
    const fresh = await api(srv.url, "GET", "/api/v1/status");
    const generated = fresh.headers.get("x-request-id") ?? "";
    expect(generated).toMatch(/^[A-Za-z0-9._-]{8,64}$/);
    expect((await api(srv.url, "GET", "/api/v1/status")).headers.get("x-request-id")).not.toBe(generated);
    const echoed = await api(srv.url, "GET", "/healthz", { headers: { "X-Request-Id": "trace-42.abc_DEF" } });
    expect(echoed.headers.get("x-request-id")).toBe("trace-42.abc_DEF");
    const refused = await api(srv.url, "GET", "/healthz", { headers: { "X-Request-Id": "bad id\twith; junk" } });
    expect(refused.headers.get("x-request-id")).not.toBe("bad id\twith; junk");
    expect(refused.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._-]{8,64}$/);
  });

  describe("origins", () => {
    const evil = { Origin: "https://evil.example" };

    it("a foreign Origin gets 403 on HTTP, on /api/v1 and /trpc alike", async () => {
      const rest = await api(srv.url, "GET", "/api/v1/status", { headers: evil });
      expect(expectEnvelope(rest, 403, "error").data).toBeNull();
      expect(rest.headers.get("access-control-allow-origin")).toBeNull();
      expect((await api(srv.url, "GET", "/trpc/auth.me", { headers: evil })).status).toBe(403);
      expect((await api(srv.url, "OPTIONS", "/trpc/auth.me", { headers: { ...evil, "Access-Control-Request-Method": "POST" } })).status).toBe(403);
    });

    it("a foreign Origin's WebSocket upgrade is refused with 403 on both socket paths", async () => {
      const u = await registerLegacy(srv.url, "org");
      const roomId = await createRoomLegacy(srv.url, u.access_token);
      const legacyUrl = `${srv.wsUrl}/api/v1/rooms/ws?room=${roomId}&token=${u.access_token}`;
      expect(await upgradeStatus(legacyUrl, evil)).toBe(403);
      expect(await upgradeStatus(`${srv.wsUrl}/trpc`, evil)).toBe(403);
      const sameOrigin = { Origin: `http://127.0.0.1:${srv.port}` };
      expect(await upgradeStatus(legacyUrl, sameOrigin)).toBe(101);
      expect(await upgradeStatus(legacyUrl)).toBe(101);
      expect(await upgradeStatus(`${srv.wsUrl}/trpc`, sameOrigin)).toBe(101);
    });

    it("same-origin and Origin-less HTTP requests are admitted", async () => {
      const same = await api(srv.url, "GET", "/api/v1/status", { headers: { Origin: `http://127.0.0.1:${srv.port}` } });
      expectEnvelope(same, 200, "success");
      expectEnvelope(await api(srv.url, "GET", "/api/v1/status"), 200, "success");
    });

    it("DNS rebinding: Origin and Host both naming a foreign host are refused with 403, HTTP and upgrades alike", async () => {
      await expectRebindingRefused(srv.url);
    });

    it("without PUBLIC_ORIGIN, the loopback origins of the port actually bound are the public ones", async () => {
      const u = await registerLegacy(srv.url, "lo");
      const roomId = await createRoomLegacy(srv.url, u.access_token);
      const legacyUrl = `${srv.wsUrl}/api/v1/rooms/ws?room=${roomId}&token=${u.access_token}`;
      for (const origin of [`http://localhost:${srv.port}`, `http://127.0.0.1:${srv.port}`, `http://[::1]:${srv.port}`]) {
        // Whatever Host the request names: the browser's Origin is what counts.
        for (const host of [`127.0.0.1:${srv.port}`, "evil.example"]) {
          expect(await rawStatus(srv.url, "GET", "/api/v1/status", { Origin: origin, Host: host }), origin).toBe(200);
          expect(await rawStatus(srv.url, "GET", "/trpc/auth.me", { Origin: origin, Host: host }), origin).toBe(401);
          expect(await upgradeStatus(`${srv.wsUrl}/trpc`, { Origin: origin, Host: host }), origin).toBe(101);
          expect(await upgradeStatus(legacyUrl, { Origin: origin, Host: host }), origin).toBe(101);
        }
      }
      // Not the configured PORT (0 here) nor another port, nor https on this one.
      for (const origin of ["http://127.0.0.1:0", `http://127.0.0.1:${srv.port + 1}`, `https://127.0.0.1:${srv.port}`, "http://localhost"]) {
        expect(await rawStatus(srv.url, "GET", "/api/v1/status", { Origin: origin }), origin).toBe(403);
        expect(await upgradeStatus(`${srv.wsUrl}/trpc`, { Origin: origin }), origin).toBe(403);
      }
    });
  });

  it("no log line holds a token or a password; request lines are JSON with a requestId", async () => {
    lines.length = 0;
    const u = await registerLegacy(srv.url, "log");
    await api(srv.url, "POST", "/api/v1/auth/login", { body: { email: u.email, password: `${u.password}-wrong` } });
    const login = expectTokenPair(
      expectEnvelope(await api(srv.url, "POST", "/api/v1/auth/login", { body: { email: u.email, password: u.password } }), 200, "success"),
    );
    const refreshed = expectTokenPair(
      expectEnvelope(await api(srv.url, "POST", "/api/v1/auth/refresh", { body: { token: login.refresh_token } }), 200, "success"),
    );
    // Within the reuse grace the same token gets the same pair again; after that pair's rotation it is reuse.
    const again = await api(srv.url, "POST", "/api/v1/auth/refresh", { body: { token: login.refresh_token } });
    expect(expectTokenPair(expectEnvelope(again, 200, "success")).refresh_token).toBe(refreshed.refresh_token);
    const rotatedAgain = expectTokenPair(
      expectEnvelope(await api(srv.url, "POST", "/api/v1/auth/refresh", { body: { token: refreshed.refresh_token } }), 200, "success"),
    );
    const replay = await api(srv.url, "POST", "/api/v1/auth/refresh", { body: { token: login.refresh_token } });
    expect(replay.status).toBe(401);
    const roomId = await createRoomLegacy(srv.url, u.access_token);
    const bad = connectLegacy(srv.wsUrl, roomId, `${u.access_token}x`);
    await bad.waitClose();
    const sock = await openLegacy(srv, roomId, u.access_token);
    sock.send("hello logs");
    await sock.waitFrames(1);
    await sock.close();
    const t = await registerUser(srv.url, "tlog");
    const live = liveClient(srv.url, t.session);
    await t.client.room.join.mutate({ roomId });
    let started = false;
    const sub = live.client.room.onMessage.subscribe({ roomId }, { onStarted: () => (started = true) });
    await waitFor(() => started, 5000, "subscription");
    sub.unsubscribe();
    live.close();
    await httpClient(srv.url, t.session.accessToken).auth.logout.mutate({ refreshToken: t.session.refreshToken });

    const secrets = [
      u.access_token,
      u.refresh_token,
      u.password,
      login.access_token,
      login.refresh_token,
      refreshed.access_token,
      refreshed.refresh_token,
      rotatedAgain.access_token,
      rotatedAgain.refresh_token,
      t.session.accessToken,
      t.session.refreshToken,
      t.password,
    ];
    // Long enough to be meaningful: a JWT's payload segment is unique to its token.
    const fragments = secrets.flatMap((s) => [s, ...s.split(".").filter((p) => p.length >= 20)]);
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) {
      for (const f of fragments) expect(line.includes(f), `log line leaks a secret: ${line}`).toBe(false);
    }
    const requests = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.msg === "request");
    expect(requests.length).toBeGreaterThanOrEqual(8);
    for (const r of requests) {
      expect(typeof r.requestId).toBe("string");
      expect(typeof r.status).toBe("number");
      expect(String(r.path)).not.toContain("?");
    }
    const upgrades = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.msg === "upgrade");
    expect(upgrades.length).toBeGreaterThanOrEqual(2);
    for (const up of upgrades) expect(typeof up.requestId).toBe("string");
  });
});

describe("gateway, RATE_LIMIT_PER_IP=5 without a trusted proxy", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ env: { RATE_LIMIT_PER_IP: "5" } });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it("the 6th request is 429 with Retry-After, on /api/v1, /trpc and the WebSocket upgrade; X-Forwarded-For does not help", async () => {
    for (let i = 0; i < 5; i++) {
      const res = await api(srv.url, "GET", "/api/v1/status", { headers: { "X-Forwarded-For": `10.0.0.${i}` } });
      expectEnvelope(res, 200, "success");
      expect(expectRateHeaders(res, 5)).toBe(4 - i);
    }
    const limited = await api(srv.url, "GET", "/api/v1/status");
    const env = expectEnvelope(limited, 429, "error");
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
    expect(env.data).toEqual({ retry_after: retryAfter });
    expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");

    const spoofed = await api(srv.url, "GET", "/api/v1/status", { headers: { "X-Forwarded-For": "203.0.113.99" } });
    expect(spoofed.status).toBe(429);

    const trpc = await api(srv.url, "GET", "/trpc/auth.me");
    expect(trpc.status).toBe(429);
    expect(Number(trpc.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const err = await httpClient(srv.url).auth.me.query().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCClientError);
    expect((err as TRPCClientError<never>).data).toMatchObject({ code: "TOO_MANY_REQUESTS", httpStatus: 429 });

    expect(await upgradeStatus(`${srv.wsUrl}/trpc`)).toBe(429);
    const legacy = new LegacySocket(new WebSocket(`${srv.wsUrl}/api/v1/rooms/ws?room=AAAAAAAAAAAAAAAA&token=x`));
    await expect(legacy.opened).rejects.toThrow();
    expect(legacy.refusedStatus).toBe(429);
  });
});

describe("gateway, RATE_LIMIT_PER_IP=5 behind TRUST_PROXY=127.0.0.1", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ env: { RATE_LIMIT_PER_IP: "5", TRUST_PROXY: "127.0.0.1" } });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it("each forwarded client has its own bucket", async () => {
    const from = (ip: string) => api(srv.url, "GET", "/api/v1/status", { headers: { "X-Forwarded-For": ip } });
    for (let i = 0; i < 5; i++) expect((await from("203.0.113.7")).status).toBe(200);
    expect((await from("203.0.113.7")).status).toBe(429);
    // The right-most untrusted hop counts: a client cannot prepend a fresh address to escape.
    expect((await from("198.18.0.1, 203.0.113.7")).status).toBe(429);
    const other = await from("203.0.113.8");
    expect(other.status).toBe(200);
    expect(other.headers.get("x-ratelimit-remaining")).toBe("4");
  });
});

describe("gateway, PUBLIC_ORIGIN=https://chat.example.com,http://[::1]:8080", () => {
  let srv: TestServer;
  let webDir: string;
  beforeAll(async () => {
    webDir = await mkdtemp(path.join(os.tmpdir(), "anonchat-web-"));
    await writeFile(path.join(webDir, "index.html"), "<!doctype html><title>t</title>");
    srv = await startTestServer({ env: { PUBLIC_ORIGIN: "https://chat.example.com,http://[::1]:8080", WEB_DIR: webDir } });
  });
  afterAll(async () => {
    await srv.stop();
    await rm(webDir, { recursive: true, force: true });
  });

  it("the web client's CSP lets it reach the public origin's WebSocket", async () => {
    const csp = (await fetch(`${srv.url}/r/AbCdEfGhIjKlMnOp`)).headers.get("content-security-policy") ?? "";
    // An IPv6 literal cannot be a CSP source ('self' covers a page served from one).
    expect(csp.split(";").map((d) => d.trim())).toContain("connect-src 'self' wss://chat.example.com");
  });

  it("admits the public origin behind any Host, refuses the loopback default and rebinding", async () => {
    const u = await registerLegacy(srv.url, "po");
    const roomId = await createRoomLegacy(srv.url, u.access_token);
    const legacyUrl = `${srv.wsUrl}/api/v1/rooms/ws?room=${roomId}&token=${u.access_token}`;
    // A TLS-terminating proxy may pass its own Host or the public one.
    for (const host of ["chat.example.com", `127.0.0.1:${srv.port}`]) {
      const pub = { Origin: "https://chat.example.com", Host: host };
      expect(await rawStatus(srv.url, "GET", "/api/v1/status", pub)).toBe(200);
      expect(await rawStatus(srv.url, "GET", "/trpc/auth.me", pub)).toBe(401);
      expect(await upgradeStatus(`${srv.wsUrl}/trpc`, pub)).toBe(101);
      expect(await upgradeStatus(legacyUrl, pub)).toBe(101);
    }
    const loopback = { Origin: `http://127.0.0.1:${srv.port}` };
    expect(await rawStatus(srv.url, "GET", "/api/v1/status", loopback)).toBe(403);
    expect(await upgradeStatus(`${srv.wsUrl}/trpc`, loopback)).toBe(403);
    expect(await rawStatus(srv.url, "GET", "/api/v1/status", { Origin: "http://chat.example.com" })).toBe(403);
    await expectRebindingRefused(srv.url);
    await expectRebindingRefused(srv.url, "chat.example.com.evil.example");
  });
});

describe("gateway, CORS_ORIGINS and login brute force (LOGIN_FAILS_PER_EMAIL_IP=10)", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({
      env: { CORS_ORIGINS: "https://app.example", TRUST_PROXY: "127.0.0.1", LOGIN_FAILS_PER_EMAIL_IP: "10" },
    });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it("admits the configured origin, with a preflight that lists Authorization", async () => {
    const app = { Origin: "https://app.example" };
    const res = await api(srv.url, "GET", "/api/v1/status", { headers: app });
    expectEnvelope(res, 200, "success");
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(res.headers.get("vary") ?? "").toMatch(/\bOrigin\b/);
    const exposed = (res.headers.get("access-control-expose-headers") ?? "").toLowerCase();
    for (const h of ["x-request-id", "retry-after", "x-ratelimit-remaining"]) expect(exposed).toContain(h);
    const pre = await api(srv.url, "OPTIONS", "/trpc/room.list", {
      headers: { ...app, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization, content-type" },
    });
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const allowed = (pre.headers.get("access-control-allow-headers") ?? "").split(",").map((s) => s.trim().toLowerCase());
    expect(allowed).toContain("authorization");
    expect(allowed).toContain("content-type");
    expect(pre.headers.get("access-control-allow-methods") ?? "").toMatch(/POST/);
    expect(pre.headers.get("access-control-max-age")).toBe("600");
    expect(await upgradeStatus(`${srv.wsUrl}/trpc`, app)).toBe(101);
    expect((await api(srv.url, "GET", "/api/v1/status", { headers: { Origin: "https://evil.example" } })).status).toBe(403);
  });

  it("blocks an email after 10 failures from one IP, even with the right password, but not from another IP", async () => {
    const u = await registerLegacy(srv.url, "bf");
    const bystander = await registerLegacy(srv.url, "by");
    const login = (email: string, password: string, ip: string) =>
      api(srv.url, "POST", "/api/v1/auth/login", { body: { email, password }, headers: { "X-Forwarded-For": ip } });
    for (let i = 0; i < 10; i++) expectEnvelope(await login(u.email, `wrong-${i}-password`, "192.0.2.10"), 401, "error");
    const blocked = await login(u.email, u.password, "192.0.2.10");
    const env = expectEnvelope(blocked, 429, "error");
    const retryAfter = Number(blocked.headers.get("retry-after"));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true);
    expect(env.data).toEqual({ retry_after: retryAfter });
    expectTokenPair(expectEnvelope(await login(u.email, u.password, "192.0.2.20"), 200, "success"));
    expectTokenPair(expectEnvelope(await login(bystander.email, bystander.password, "192.0.2.10"), 200, "success"));
    expect((await login(u.email, u.password, "192.0.2.10")).status).toBe(429);
  });
});
