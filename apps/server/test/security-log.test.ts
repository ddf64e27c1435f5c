import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emailTag } from "@anonchat/core";
import type { Session } from "@anonchat/shared";
import { TOPOLOGY, startTestServer, waitFor, type TestServer } from "./harness.js";
import { api, sleep } from "./helpers/legacy.js";
import { legacySocket, responsesTo, trpcSocket, type RawSocket } from "./helpers/raw-ws.js";
import { QUICK_ENV } from "./helpers/test-env.js";

/**
 * Security events reach the log as structured lines marked `security: true` (apps/server/src/
 * security-log.ts), each with who did it (address, user, session) and never a secret: a login
 * lockout, refresh-token reuse, sampled refusals, sockets closed for a limit or a policy, and
 * refused upgrades. Every scenario comes from an X-Forwarded-For address of its own
 * (TRUST_PROXY=127.0.0.1), so each budget spent is that scenario's alone.
 */

type Line = Record<string, unknown> & { level: string; msg: string };

/** The secrets of this test: no log line may contain any of them. */
const secrets = new Set<string>();

/** Per-IP budget of the server: low, so a scenario spends it in a moment. */
const PER_IP = 30;

describe.skipIf(TOPOLOGY === "split")("security events in the log", () => {
  let srv: TestServer;
  const raw: string[] = [];
  const lines = (): Line[] => raw.map((l) => JSON.parse(l) as Line);
  const security = (msg: string, match: Record<string, unknown> = {}) =>
    lines().filter((l) => l.security === true && l.msg === msg && Object.entries(match).every(([k, v]) => l[k] === v));

  beforeAll(async () => {
    srv = await startTestServer({
      env: {
        ...QUICK_ENV,
        TRUST_PROXY: "127.0.0.1",
        RATE_LIMIT_PER_IP: String(PER_IP),
        LOGIN_FAILS_PER_EMAIL_IP: "5",
        REFRESH_REUSE_GRACE: "0",
        MAX_CONNECTIONS_PER_USER: "2",
        WS_MAX_IN_FLIGHT: "2",
        WS_MAX_SUBSCRIPTIONS: "1",
      },
      onLog: (line) => raw.push(line),
    });
  });
  afterAll(async () => {
    await srv.stop();
  });

  /** Registers over tRPC from this address; the password, email and tokens become secrets of the test. */
  async function register(address: string, name: string): Promise<Session & { email: string; password: string }> {
    const login = `${name}${process.pid % 1000}${Math.floor(Math.random() * 1e5)}`;
    const email = `${login}@example.test`;
    const password = `pw-${login}-Secret!`;
    secrets.add(email).add(password);
    const res = await api(srv.url, "POST", "/trpc/auth.register", { body: { login, email, password }, headers: { "X-Forwarded-For": address } });
    expect(res.status, res.text).toBe(200);
    const session = (res.body as { result: { data: Session } }).result.data;
    secrets.add(session.accessToken).add(session.refreshToken);
    return { ...session, email, password };
  }

  const xff = (address: string) => ({ "X-Forwarded-For": address });

  // The sampling window is 10 s: the first scenario starts it, the last one looks after it.
  let sampledAt = 0;

  it("200 refused requests from one address: one line at once, the rest counted, not written", async () => {
    const address = "198.51.100.50";
    const statuses: number[] = [];
    for (let left = PER_IP + 200; left > 0; left -= 20) {
      const batch = await Promise.all(Array.from({ length: Math.min(20, left) }, () => api(srv.url, "GET", "/no-such-page", { headers: xff(address) })));
      statuses.push(...batch.map((r) => r.status));
    }
    expect(statuses.filter((s) => s === 429)).toHaveLength(200);
    sampledAt = Date.now();
    const refused = security("rate limit refused", { ip: address });
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: "warn", scope: "ip_http", status: 429 });
    expect(typeof refused[0]?.requestId).toBe("string");
  });

  it("a login lockout: the address and a one-way tag of the email, never the email", async () => {
    const address = "198.51.100.51";
    const u = await register(address, "lock");
    for (let i = 0; i < 7; i++) {
      const password = `wrong-${i}-password`;
      secrets.add(password);
      await api(srv.url, "POST", "/api/v1/auth/login", { body: { email: u.email, password }, headers: xff(address) });
    }
    const locked = security("login locked out", { ip: address });
    expect(locked.length).toBeGreaterThanOrEqual(1);
    expect(locked[0]).toMatchObject({ level: "warn", type: "login_locked", scope: "email_ip", emailTag: emailTag(u.email) });
    expect(locked[0]?.retryAfter).toBeGreaterThan(0);
    expect(JSON.stringify(locked)).not.toContain(u.email);
  });

  it("refresh-token reuse: the family revoked, with its session and user", async () => {
    const address = "198.51.100.52";
    const u = await register(address, "reuse");
    const first = await api(srv.url, "POST", "/trpc/auth.refresh", { body: { refreshToken: u.refreshToken }, headers: xff(address) });
    expect(first.status).toBe(200);
    const rotated = (first.body as { result: { data: Session } }).result.data;
    secrets.add(rotated.accessToken).add(rotated.refreshToken);
    const again = await api(srv.url, "POST", "/trpc/auth.refresh", { body: { refreshToken: u.refreshToken }, headers: xff(address) });
    expect(again.status).toBe(401);
    const sessionId = (JSON.parse(Buffer.from(u.accessToken.split(".")[1] as string, "base64url").toString()) as { sid: string }).sid;
    expect(security("refresh token reused; family revoked", { sessionId })).toEqual([
      expect.objectContaining({ level: "warn", userId: u.user.id }),
    ]);
  });

  it("a tRPC socket past MAX_CONNECTIONS_PER_USER is closed 4429, and the log says so with user and address", async () => {
    const address = "198.51.100.53";
    const u = await register(address, "conns");
    const sockets: RawSocket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = trpcSocket(srv.wsUrl, u.accessToken, { headers: xff(address) });
      sockets.push(s);
      await s.opened;
      // One at a time, so the third is the one past the cap.
      await sleep(200);
    }
    await waitFor(() => sockets.some((s) => s.closed !== undefined), 10_000, "a socket closed");
    await sleep(200);
    expect(sockets.map((s) => s.closed?.code).filter((c) => c !== undefined)).toEqual([4429]);
    const logged = security("socket closed by server", { protocol: "trpc", code: 4429 });
    expect(logged).toEqual([expect.objectContaining({ level: "warn", reason: "too many connections", userId: u.user.id, ip: address })]);
    for (const s of sockets) s.close();
  });

  it("calls past WS_MAX_IN_FLIGHT and subscriptions past WS_MAX_SUBSCRIPTIONS: sampled refusal lines naming the cap", async () => {
    const address = "198.51.100.54";
    const u = await register(address, "caps");
    const room = await api(srv.url, "POST", "/trpc/room.create", { body: { name: "caps", maxMembers: 2 }, token: u.accessToken, headers: xff(address) });
    const roomId = (room.body as { result: { data: { id: string } } }).result.data.id;
    const s = trpcSocket(srv.wsUrl, u.accessToken, { headers: xff(address) });
    await s.opened;
    s.send(JSON.stringify(Array.from({ length: 8 }, (_, i) => ({ id: 100 + i, method: "query", params: { path: "room.list" } }))));
    s.send(JSON.stringify([200, 201, 202].map((id) => ({ id, method: "subscription", params: { path: "room.onMessage", input: { roomId } } }))));
    await s.until(() => [100, 101, 102, 103, 104, 105, 106, 107, 200, 201, 202].every((id) => responsesTo(s, id).length > 0), 10_000, "every answer");
    const inFlight = security("rate limit refused", { scope: "ws_in_flight", ip: address });
    const subscriptions = security("rate limit refused", { scope: "ws_subscriptions", ip: address });
    // Several refusals of each kind, one line each: the rest fall in the sample window.
    expect(inFlight).toEqual([expect.objectContaining({ level: "warn", userId: u.user.id })]);
    expect(subscriptions).toEqual([expect.objectContaining({ level: "warn", userId: u.user.id })]);
    s.close();
  });

  it("a legacy socket closed for a policy (a message over the limit): code, reason and user", async () => {
    const address = "198.51.100.55";
    const u = await register(address, "legacy");
    const room = await api(srv.url, "POST", "/api/v1/rooms/create", { body: { name: "legacy", max_user: 3 }, token: u.accessToken, headers: xff(address) });
    const roomId = (room.body as { data: { room_id: string } }).data.room_id;
    const s = legacySocket(srv.wsUrl, roomId, u.accessToken, { headers: xff(address) });
    await s.opened;
    await sleep(300);
    s.send("x".repeat(5000));
    const closed = await s.waitClose(10_000);
    expect(closed.code).toBe(1009);
    expect(security("socket closed by server", { protocol: "legacy", code: 1009 })).toEqual([
      expect.objectContaining({ level: "warn", reason: "message too long", userId: u.user.id }),
    ]);
  });

  it("refused upgrades, with their status: 403 for a foreign Origin, 429 past the address's budget", async () => {
    const foreign = "198.51.100.56";
    const s = trpcSocket(srv.wsUrl, undefined, { headers: { ...xff(foreign), Origin: "https://evil.example" } });
    await s.opened.catch(() => undefined);
    await s.until(() => s.refusedStatus !== undefined, 5000, "the refusal");
    expect(s.refusedStatus).toBe(403);
    expect(security("upgrade refused", { ip: foreign })).toEqual([
      expect.objectContaining({ level: "warn", status: 403, reason: "origin not allowed", path: "/trpc", requestId: expect.any(String) }),
    ]);

    // The address of the first scenario has no budget left.
    const spent = "198.51.100.50";
    const t = trpcSocket(srv.wsUrl, undefined, { headers: xff(spent) });
    await t.opened.catch(() => undefined);
    await t.until(() => t.refusedStatus !== undefined, 5000, "the refusal");
    expect(t.refusedStatus).toBe(429);
    expect(security("upgrade refused", { ip: spent })).toEqual([expect.objectContaining({ level: "warn", status: 429, reason: "too many requests" })]);
  });

  it("once the sample window has passed, the next refusal is written with how many were left out", async () => {
    const address = "198.51.100.50";
    await sleep(Math.max(0, sampledAt + 10_500 - Date.now()));
    expect((await api(srv.url, "GET", "/no-such-page", { headers: xff(address) })).status).toBe(429);
    const refused = security("rate limit refused", { ip: address, scope: "ip_http" });
    expect(refused).toHaveLength(2);
    expect(refused[1]?.suppressed).toBe(199);
  }, 30_000);

  it("no line anywhere holds a token, a password or an email of this test", () => {
    expect(raw.length).toBeGreaterThan(100);
    const leaks = raw.flatMap((line) => [...secrets].filter((secret) => line.includes(secret)).map((secret) => `${secret.slice(0, 12)}… in ${line.slice(0, 200)}`));
    expect(leaks).toEqual([]);
    expect(secrets.size).toBeGreaterThanOrEqual(20);
  });
});
