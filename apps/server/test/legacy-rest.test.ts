import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpClient, registerUser, startTestServer, type TestServer } from "./harness.js";
import { api, createRoomLegacy, expectEnvelope, expectTokenPair, registerLegacy, uniqueLogin } from "./helpers/legacy.js";

/** Every /api/v1 route of legacy-api.md, byte for byte where an old client looks. */
describe("legacy /api/v1 REST", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv.stop();
  });

  const post = (path: string, body: unknown, token?: string) => api(srv.url, "POST", path, { body, token });

  it("GET /api/v1/status answers 200 with data null", async () => {
    const env = expectEnvelope(await api(srv.url, "GET", "/api/v1/status"), 200, "success");
    expect(env.data).toBeNull();
  });

  describe("register", () => {
    it("answers 200 with a token pair", async () => {
      const login = uniqueLogin("reg");
      const res = await post("/api/v1/auth/register", { login, email: `${login}@example.test`, password: "password1" });
      const pair = expectTokenPair(expectEnvelope(res, 200, "success"));
      expect(pair.access_token).not.toBe(pair.refresh_token);
    });

    it("refuses a body that is not JSON with 400", async () => {
      const res = await api(srv.url, "POST", "/api/v1/auth/register", { raw: "{login:" });
      expect(expectEnvelope(res, 400, "error").data).toBeNull();
    });

    const valid = () => {
      const login = uniqueLogin("v");
      return { login, email: `${login}@example.test`, password: "password1" };
    };
    const invalid: Array<[string, (b: Record<string, unknown>) => void, string]> = [
      ["missing login", (b) => delete b.login, "login"],
      ["missing email", (b) => delete b.email, "email"],
      ["missing password", (b) => delete b.password, "password"],
      ["a 3-character login", (b) => (b.login = "abc"), "login"],
      ["a 33-character login", (b) => (b.login = "a".repeat(33)), "login"],
      ["a login with a space", (b) => (b.login = "bad login"), "login"],
      ["a login with a dot", (b) => (b.login = "bad.login"), "login"],
      ["a login that is a number", (b) => (b.login = 12345), "login"],
      ["a 7-character password", (b) => (b.password = "1234567"), "password"],
      ["a 129-character password", (b) => (b.password = "p".repeat(129)), "password"],
      ["an email without @", (b) => (b.email = "no-at-sign.example"), "email"],
      ["an email with a space", (b) => (b.email = "a b@example.test"), "email"],
    ];
    it.each(invalid)("refuses %s with 400 naming the field", async (_label, mutate, field) => {
      const body: Record<string, unknown> = valid();
      mutate(body);
      const env = expectEnvelope(await post("/api/v1/auth/register", body), 400, "error");
      expect(env.message).toContain(field);
      expect(env.data).toBeNull();
    });

    it("accepts the boundaries: 4- and 32-character logins, 8- and 128-character passwords", async () => {
      const short = `a${Math.floor(Math.random() * 900 + 100)}`;
      const long = uniqueLogin("L").padEnd(32, "_-");
      for (const [login, password] of [
        [short, "p".repeat(8)],
        [long, "p".repeat(128)],
      ] as const) {
        const res = await post("/api/v1/auth/register", { login, email: `${login}@example.test`, password });
        expectTokenPair(expectEnvelope(res, 200, "success"));
      }
    });

    it("answers 409 with a clear message when the login is taken", async () => {
      const u = await registerLegacy(srv.url, "dup");
      const res = await post("/api/v1/auth/register", { login: u.login, email: `other-${u.email}`, password: "password1" });
      const env = expectEnvelope(res, 409, "error");
      expect(env.message).toMatch(/login/i);
      expect(env.message).not.toMatch(/duplicate|constraint|violat|sql|users_/i);
      expect(env.data).toBeNull();
    });

    it("stores the email lower-cased", async () => {
      const login = uniqueLogin("lc");
      const res = await post("/api/v1/auth/register", { login, email: `${login.toUpperCase()}@Example.TEST`, password: "password1" });
      const pair = expectTokenPair(expectEnvelope(res, 200, "success"));
      const me = expectEnvelope(await api(srv.url, "GET", "/api/v1/auth/validate", { token: pair.access_token }), 200, "success");
      expect(me.data).toMatchObject({ login, email: `${login.toLowerCase()}@example.test` });
    });

    it("answers 409 when the email is taken, whatever its case", async () => {
      const u = await registerLegacy(srv.url, "dupe");
      const res = await post("/api/v1/auth/register", {
        login: uniqueLogin("x"),
        email: u.email.toUpperCase(),
        password: "password1",
      });
      const env = expectEnvelope(res, 409, "error");
      expect(env.message).toMatch(/email/i);
      expect(env.message).not.toMatch(/duplicate|constraint|violat|sql|users_/i);
    });
  });

  describe("login", () => {
    it("answers 200 with a token pair, also for the email in another case", async () => {
      const u = await registerLegacy(srv.url, "li");
      for (const email of [u.email, u.email.toUpperCase()]) {
        const pair = expectTokenPair(expectEnvelope(await post("/api/v1/auth/login", { email, password: u.password }), 200, "success"));
        const me = expectEnvelope(await api(srv.url, "GET", "/api/v1/auth/validate", { token: pair.access_token }), 200, "success");
        expect(me.data).toMatchObject({ login: u.login, email: u.email });
      }
    });

    it("answers 401 'invalid login or password' identically for an unknown user and a wrong password", async () => {
      const u = await registerLegacy(srv.url, "lw");
      const wrong = await post("/api/v1/auth/login", { email: u.email, password: "wrong-password" });
      const unknown = await post("/api/v1/auth/login", { email: `nobody-${u.email}`, password: "wrong-password" });
      const env = expectEnvelope(wrong, 401, "error");
      expect(env).toEqual({ status: "error", message: "invalid login or password", data: null });
      expectEnvelope(unknown, 401, "error");
      expect(unknown.text).toBe(wrong.text);
    });

    it("answers 400 for a bad body", async () => {
      expectEnvelope(await post("/api/v1/auth/login", {}), 400, "error");
      expectEnvelope(await api(srv.url, "POST", "/api/v1/auth/login", { raw: "not json" }), 400, "error");
      const env = expectEnvelope(await post("/api/v1/auth/login", { email: "a@b.c" }), 400, "error");
      expect(env.message).toContain("password");
    });
  });

  describe("refresh and logout", () => {
    it("refresh rotates: a new pair; the old token is refused with 401 once that pair was refreshed", async () => {
      const u = await registerLegacy(srv.url, "rf");
      const next = expectTokenPair(expectEnvelope(await post("/api/v1/auth/refresh", { token: u.refresh_token }), 200, "success"));
      expect(next.refresh_token).not.toBe(u.refresh_token);
      expectEnvelope(await api(srv.url, "GET", "/api/v1/auth/validate", { token: next.access_token }), 200, "success");
      // (Right away, within the reuse grace, the old token would get this same pair's refresh token.)
      expectEnvelope(await post("/api/v1/auth/refresh", { token: next.refresh_token }), 200, "success");
      const again = expectEnvelope(await post("/api/v1/auth/refresh", { token: u.refresh_token }), 401, "error");
      expect(again.data).toBeNull();
    });

    it("refresh without a token is 400 naming it; a garbage token is 401", async () => {
      const env = expectEnvelope(await post("/api/v1/auth/refresh", {}), 400, "error");
      expect(env.message).toContain("token");
      expectEnvelope(await post("/api/v1/auth/refresh", { token: "not-a-real-token" }), 401, "error");
    });

    it("logout answers 200 with data null, and the refresh token is dead afterwards", async () => {
      const u = await registerLegacy(srv.url, "lo");
      const env = expectEnvelope(await post("/api/v1/auth/logout", { token: u.refresh_token }), 200, "success");
      expect(env.data).toBeNull();
      expectEnvelope(await post("/api/v1/auth/refresh", { token: u.refresh_token }), 401, "error");
    });

    it("logout answers 200 for an unknown token and 400 without one", async () => {
      expect(expectEnvelope(await post("/api/v1/auth/logout", { token: "never-issued" }), 200, "success").data).toBeNull();
      const env = expectEnvelope(await post("/api/v1/auth/logout", {}), 400, "error");
      expect(env.message).toContain("token");
    });
  });

  describe("validate", () => {
    it("answers the user as {id, login, email} with a numeric id", async () => {
      const u = await registerLegacy(srv.url, "va");
      const env = expectEnvelope(await api(srv.url, "GET", "/api/v1/auth/validate", { token: u.access_token }), 200, "success");
      const data = env.data as Record<string, unknown>;
      expect(Object.keys(data)).toEqual(["id", "login", "email"]);
      expect(Number.isInteger(data.id)).toBe(true);
      expect(data).toEqual({ id: data.id, login: u.login, email: u.email });
    });

    it("answers 401 without a token, with a garbage token and with a refresh token", async () => {
      const u = await registerLegacy(srv.url, "vb");
      const variants: Array<Record<string, string>> = [{}, { Authorization: "Bearer garbage.token.here" }, { Authorization: `Bearer ${u.refresh_token}` }];
      for (const headers of variants) {
        const env = expectEnvelope(await api(srv.url, "GET", "/api/v1/auth/validate", { headers }), 401, "error");
        expect(env.data).toBeNull();
      }
    });
  });

  describe("rooms", () => {
    it("create answers 201 with a 16-20 character base62 room_id", async () => {
      const u = await registerLegacy(srv.url, "rc");
      const res = await post("/api/v1/rooms/create", { name: "lobby", max_user: 7 }, u.access_token);
      const data = expectEnvelope(res, 201, "success").data as Record<string, unknown>;
      expect(Object.keys(data)).toEqual(["room_id"]);
      expect(data.room_id).toMatch(/^[A-Za-z0-9]{16,20}$/);
      const room = await httpClient(srv.url, u.access_token).room.get.query({ roomId: data.room_id as string });
      expect(room).toMatchObject({ id: data.room_id, name: "lobby", maxMembers: 7, memberCount: 1 });
    });

    it.each([
      ["0", 0],
      ["1001", 1001],
      ['the string "5"', "5"],
      ["2.5", 2.5],
    ])("create refuses max_user %s with 400 naming max_user", async (_label, maxUser) => {
      const u = await registerLegacy(srv.url, "rm");
      const env = expectEnvelope(await post("/api/v1/rooms/create", { name: "x", max_user: maxUser }, u.access_token), 400, "error");
      expect(env.message).toContain("max_user");
    });

    it("create refuses a missing name with 400 and a missing or bad token with 401", async () => {
      const u = await registerLegacy(srv.url, "rn");
      expect(expectEnvelope(await post("/api/v1/rooms/create", { max_user: 5 }, u.access_token), 400, "error").message).toContain("name");
      expectEnvelope(await post("/api/v1/rooms/create", { name: "x", max_user: 5 }), 401, "error");
      expectEnvelope(await post("/api/v1/rooms/create", { name: "x", max_user: 5 }, "garbage"), 401, "error");
    });

    it("remove: 401 without a token, 400 malformed id, 404 unknown id, 403 not owner, 200 for the owner", async () => {
      const owner = await registerLegacy(srv.url, "ro");
      const other = await registerLegacy(srv.url, "rx");
      const roomId = await createRoomLegacy(srv.url, owner.access_token);
      const del = (body: unknown, token?: string) => api(srv.url, "DELETE", "/api/v1/rooms/remove", { body, token });
      expectEnvelope(await del({ room_id: roomId }), 401, "error");
      expect(expectEnvelope(await del({ room_id: "abc" }, owner.access_token), 400, "error").message).toContain("room_id");
      expectEnvelope(await del({}, owner.access_token), 400, "error");
      expectEnvelope(await del({ room_id: "A".repeat(16) }, owner.access_token), 404, "error");
      expectEnvelope(await del({ room_id: roomId }, other.access_token), 403, "error");
      const ok = expectEnvelope(await del({ room_id: roomId }, owner.access_token), 200, "success");
      expect(ok.data).toBeNull();
      expectEnvelope(await del({ room_id: roomId }, owner.access_token), 404, "error");
      const err = await httpClient(srv.url, owner.access_token).room.get.query({ roomId }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TRPCClientError);
      expect((err as TRPCClientError<never>).data).toMatchObject({ code: "NOT_FOUND" });
    });
  });

  it("an unknown /api/v1 path is a 404 envelope", async () => {
    for (const [method, path] of [
      ["GET", "/api/v1/nope"],
      ["POST", "/api/v1/auth/nope"],
      ["GET", "/api/v1"],
    ] as const) {
      expect(expectEnvelope(await api(srv.url, method, path), 404, "error").data).toBeNull();
    }
  });

  it("tokens cross over: /api/v1 tokens work on tRPC and tRPC tokens on /api/v1", async () => {
    const legacy = await registerLegacy(srv.url, "cx");
    const me = await httpClient(srv.url, legacy.access_token).auth.me.query();
    expect(me).toMatchObject({ login: legacy.login, email: legacy.email });

    const modern = await registerUser(srv.url, "cy");
    const env = expectEnvelope(await api(srv.url, "GET", "/api/v1/auth/validate", { token: modern.session.accessToken }), 200, "success");
    expect(env.data).toEqual(modern.session.user);
    const pair = expectTokenPair(expectEnvelope(await post("/api/v1/auth/refresh", { token: modern.session.refreshToken }), 200, "success"));
    expect(await httpClient(srv.url, pair.access_token).auth.me.query()).toEqual(modern.session.user);
    const session = await httpClient(srv.url).auth.refresh.mutate({ refreshToken: pair.refresh_token });
    expect(session.user).toEqual(modern.session.user);
  });
});
