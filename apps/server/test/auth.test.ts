import { createHmac, createSign, generateKeyPairSync, type KeyObject } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MESSAGES, type Session } from "@anonchat/shared";
import { httpClient, registerUser, startTestServer, type TestServer } from "./harness.js";
import { expectAnsweredOrBadRequest, expectTRPCError } from "./helpers/trpc.js";

// A known signing key, so the forged-token tests can also sign with the right key (a positive control).
const KEYS = generateKeyPairSync("rsa", { modulusLength: 2048 });
const OTHER = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PRIVATE_PEM = KEYS.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const PUBLIC_PEM = KEYS.publicKey.export({ type: "spki", format: "pem" }).toString();

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ env: { JWT_PRIVATE_KEY: PRIVATE_PEM } });
});
afterAll(async () => {
  await srv.stop();
});

let n = 0;
const fresh = (prefix: string) => {
  n++;
  const tag = `${prefix}${n}${Math.floor(Math.random() * 1e6)}`;
  return { login: tag, email: `${tag}@example.test`, password: `pw-${tag}-long-enough` };
};

/** No driver/SQL/constraint text may reach a client. */
const NO_DB_TEXT = /duplicate key|constraint|violates|users_|sql|postgres|pglite/i;

function expectSession(s: Session, login: string, email: string) {
  expect(s.user).toEqual({ id: expect.any(Number), login, email });
  expect(Number.isInteger(s.user.id)).toBe(true);
  expect(s.accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  expect(typeof s.refreshToken).toBe("string");
  expect(s.refreshToken.length).toBeGreaterThanOrEqual(32);
  expect(new Date(s.accessTokenExpiresAt).toISOString()).toBe(s.accessTokenExpiresAt);
  expect(Date.parse(s.accessTokenExpiresAt)).toBeGreaterThan(Date.now());
}

describe("auth.register", () => {
  it("returns a Session for the new user, with the email lower-cased", async () => {
    const u = fresh("reg");
    const s = await httpClient(srv.url).auth.register.mutate({ ...u, email: u.email.toUpperCase() });
    expectSession(s, u.login, u.email.toLowerCase());
    expect(await httpClient(srv.url, s.accessToken).auth.me.query()).toEqual(s.user);
  });

  it("refuses a taken login or email with CONFLICT and a clear message", async () => {
    const u = fresh("dup");
    await httpClient(srv.url).auth.register.mutate(u);
    const other = fresh("dup");
    const byLogin = await expectTRPCError(
      httpClient(srv.url).auth.register.mutate({ ...other, login: u.login }),
      "CONFLICT",
      "login is already taken",
    );
    const byEmail = await expectTRPCError(
      httpClient(srv.url).auth.register.mutate({ ...other, email: u.email.toUpperCase() }),
      "CONFLICT",
      "email is already registered",
    );
    for (const e of [byLogin, byEmail]) expect(e.message).not.toMatch(NO_DB_TEXT);
  });

  it.each([
    ["login", { login: "abc" }],
    ["login", { login: "has space" }],
    ["login", { login: "x".repeat(33) }],
    ["email", { email: "not-an-address" }],
    ["email", { email: "" }],
    ["password", { password: "short" }],
    ["password", { password: "p".repeat(129) }],
  ])("refuses a bad %s with BAD_REQUEST naming the field (%o)", async (field, patch) => {
    const err = await expectTRPCError(httpClient(srv.url).auth.register.mutate({ ...fresh("val"), ...patch }), "BAD_REQUEST");
    expect(err.message).toContain(field);
  });

  it("names every missing field", async () => {
    // The typed client cannot express a missing field; the wire can, so send raw JSON.
    const res = await fetch(`${srv.url}/trpc/auth.register`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: "x@example.test" }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string; data: { code: string } } };
    expect(body.error.data.code).toBe("BAD_REQUEST");
    expect(body.error.message).toContain("login");
    expect(body.error.message).toContain("password");
  });

  it("lets exactly one of five concurrent registrations of one login through", async () => {
    const login = fresh("same").login;
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) =>
        httpClient(srv.url).auth.register.mutate({ login, email: `${login}-${i}@example.test`, password: "long-enough-pw" }),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") await expectTRPCError(Promise.reject(r.reason), "CONFLICT", "login is already taken");
  });

  it("answers an email holding a NUL character without a server error", async () => {
    const u = fresh("nul");
    await expectAnsweredOrBadRequest(httpClient(srv.url).auth.register.mutate({ ...u, email: `a\u0000${u.email}` }), "email");
    // Login must not crash on it either: it is an unknown email or a bad one.
    const err = await httpClient(srv.url)
      .auth.login.mutate({ email: `b\u0000${u.email}`, password: u.password })
      .then(() => undefined, (e: unknown) => e as { data?: { code?: string } });
    expect(["UNAUTHORIZED", "BAD_REQUEST"]).toContain(err?.data?.code);
  });

  it("accepts a password of exactly 128 characters", async () => {
    const u = { ...fresh("max"), password: "p".repeat(128) };
    const s = await httpClient(srv.url).auth.register.mutate(u);
    expect(s.user.login).toBe(u.login);
    await httpClient(srv.url).auth.login.mutate({ email: u.email, password: u.password });
  });
});

describe("auth.login", () => {
  it("returns a new Session for the right password, whatever the email's case", async () => {
    const { session, password } = await registerUser(srv.url, "login");
    const s = await httpClient(srv.url).auth.login.mutate({ email: session.user.email.toUpperCase(), password });
    expectSession(s, session.user.login, session.user.email);
    expect(s.user.id).toBe(session.user.id);
    expect(s.refreshToken).not.toBe(session.refreshToken);
  });

  it("answers an unknown email and a wrong password with the same UNAUTHORIZED error", async () => {
    const { session } = await registerUser(srv.url, "login");
    const wrong = await expectTRPCError(
      httpClient(srv.url).auth.login.mutate({ email: session.user.email, password: "not-the-password" }),
      "UNAUTHORIZED",
      MESSAGES.invalidCredentials,
    );
    const unknown = await expectTRPCError(
      httpClient(srv.url).auth.login.mutate({ email: `nobody-${Date.now()}@example.test`, password: "not-the-password" }),
      "UNAUTHORIZED",
      MESSAGES.invalidCredentials,
    );
    expect(unknown.data).toEqual(wrong.data);
  });

  it("refuses a too-long password with BAD_REQUEST naming it", async () => {
    const err = await expectTRPCError(
      httpClient(srv.url).auth.login.mutate({ email: "x@example.test", password: "p".repeat(129) }),
      "BAD_REQUEST",
    );
    expect(err.message).toContain("password");
  });
});

describe("auth.me", () => {
  it("returns the caller with a valid token, UNAUTHORIZED without one or with garbage", async () => {
    const { session } = await registerUser(srv.url, "me");
    expect(await httpClient(srv.url, session.accessToken).auth.me.query()).toEqual(session.user);
    await expectTRPCError(httpClient(srv.url).auth.me.query(), "UNAUTHORIZED", MESSAGES.tokenInvalid);
    for (const garbage of ["garbage", "a.b.c", `${session.accessToken}x`]) {
      await expectTRPCError(httpClient(srv.url, garbage).auth.me.query(), "UNAUTHORIZED", MESSAGES.tokenInvalid);
    }
  });
});

describe("auth.refresh", () => {
  it("returns a new pair and spends the old refresh token", async () => {
    const { session } = await registerUser(srv.url, "ref");
    const next = await httpClient(srv.url).auth.refresh.mutate({ refreshToken: session.refreshToken });
    expectSession(next, session.user.login, session.user.email);
    expect(next.user.id).toBe(session.user.id);
    expect(next.refreshToken).not.toBe(session.refreshToken);
    expect(await httpClient(srv.url, next.accessToken).auth.me.query()).toEqual(session.user);
    // Presented again at once, within the reuse grace, the old token yields that same successor...
    const again = await httpClient(srv.url).auth.refresh.mutate({ refreshToken: session.refreshToken });
    expect(again.refreshToken).toBe(next.refreshToken);
    expect(await httpClient(srv.url, again.accessToken).auth.me.query()).toEqual(session.user);
    // ...and nothing more once the successor has been rotated.
    await httpClient(srv.url).auth.refresh.mutate({ refreshToken: next.refreshToken });
    await expectTRPCError(httpClient(srv.url).auth.refresh.mutate({ refreshToken: session.refreshToken }), "UNAUTHORIZED");
  });

  it("revokes the whole family when a rotated token is reused, and only that family", async () => {
    const { session, password } = await registerUser(srv.url, "reuse");
    const other = await httpClient(srv.url).auth.login.mutate({ email: session.user.email, password });
    const s1 = await httpClient(srv.url).auth.refresh.mutate({ refreshToken: session.refreshToken });
    const s2 = await httpClient(srv.url).auth.refresh.mutate({ refreshToken: s1.refreshToken });
    await expectTRPCError(httpClient(srv.url).auth.refresh.mutate({ refreshToken: session.refreshToken }), "UNAUTHORIZED");
    // The newest token of the family is refused too...
    await expectTRPCError(httpClient(srv.url).auth.refresh.mutate({ refreshToken: s2.refreshToken }), "UNAUTHORIZED");
    // ...while the user's other session lives on.
    const o1 = await httpClient(srv.url).auth.refresh.mutate({ refreshToken: other.refreshToken });
    expect(o1.user.id).toBe(session.user.id);
  });

  it("gives concurrent refreshes of one token one and the same successor, and revokes nothing", async () => {
    const { session } = await registerUser(srv.url, "race");
    const results = await Promise.all(
      Array.from({ length: 4 }, () => httpClient(srv.url).auth.refresh.mutate({ refreshToken: session.refreshToken })),
    );
    expect(new Set(results.map((r) => r.refreshToken)).size).toBe(1);
    for (const r of results) expect(await httpClient(srv.url, r.accessToken).auth.me.query()).toEqual(session.user);
    const next = await httpClient(srv.url).auth.refresh.mutate({ refreshToken: (results[0] as Session).refreshToken });
    expect(next.user).toEqual(session.user);
  });

  it("refuses an unknown or malformed refresh token", async () => {
    await expectTRPCError(httpClient(srv.url).auth.refresh.mutate({ refreshToken: "not-a-token" }), "UNAUTHORIZED");
    const err = await expectTRPCError(httpClient(srv.url).auth.refresh.mutate({ refreshToken: "" }), "BAD_REQUEST");
    expect(err.message).toMatch(/refresh token/i);
  });
});

describe("auth.logout", () => {
  it("revokes the session without an access token; refreshing afterwards fails", async () => {
    const { session } = await registerUser(srv.url, "out");
    expect(await httpClient(srv.url).auth.logout.mutate({ refreshToken: session.refreshToken })).toEqual({ ok: true });
    await expectTRPCError(httpClient(srv.url).auth.refresh.mutate({ refreshToken: session.refreshToken }), "UNAUTHORIZED");
  });

  it("revokes the family from a rotated token's successor too", async () => {
    const { session } = await registerUser(srv.url, "out");
    const s1 = await httpClient(srv.url).auth.refresh.mutate({ refreshToken: session.refreshToken });
    expect(await httpClient(srv.url).auth.logout.mutate({ refreshToken: s1.refreshToken })).toEqual({ ok: true });
    await expectTRPCError(httpClient(srv.url).auth.refresh.mutate({ refreshToken: s1.refreshToken }), "UNAUTHORIZED");
  });

  it("answers {ok:true} for an unknown token and for a second logout", async () => {
    expect(await httpClient(srv.url).auth.logout.mutate({ refreshToken: "never-issued-token" })).toEqual({ ok: true });
    const { session } = await registerUser(srv.url, "out");
    await httpClient(srv.url).auth.logout.mutate({ refreshToken: session.refreshToken });
    expect(await httpClient(srv.url).auth.logout.mutate({ refreshToken: session.refreshToken })).toEqual({ ok: true });
  });
});

// ---- forged access tokens ----------------------------------------------------------------

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const decodePart = (token: string, i: number) =>
  JSON.parse(Buffer.from(token.split(".")[i] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;

function rs(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject, hash = "RSA-SHA256") {
  const body = `${b64(header)}.${b64(payload)}`;
  return `${body}.${createSign(hash).update(body).sign(key).toString("base64url")}`;
}

function hmac(header: Record<string, unknown>, payload: Record<string, unknown>, key: string | null) {
  const body = `${b64(header)}.${b64(payload)}`;
  return `${body}.${key === null ? "" : createHmac("sha256", key).update(body).digest("base64url")}`;
}

describe("forged access tokens", () => {
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  let me: (token: string) => Promise<unknown>;
  beforeAll(async () => {
    const { session } = await registerUser(srv.url, "forge");
    header = decodePart(session.accessToken, 0);
    payload = decodePart(session.accessToken, 1);
    me = (token) => httpClient(srv.url, token).auth.me.query();
  });

  it("accepts a token re-signed with the server's key and claims (positive control)", async () => {
    const later = { ...payload, exp: Math.floor(Date.now() / 1000) + 600 };
    expect(await me(rs(header, later, KEYS.privateKey))).toMatchObject({ id: Number(payload.sub) });
  });

  it.each<[string, () => string]>([
    ["signed with another key", () => rs(header, payload, OTHER.privateKey)],
    ["alg none, no signature", () => hmac({ ...header, alg: "none" }, payload, null)],
    ["alg none, with the right key's signature", () => rs({ ...header, alg: "none" }, payload, KEYS.privateKey)],
    ["HS256 keyed with the public key (algorithm confusion)", () => hmac({ ...header, alg: "HS256" }, payload, PUBLIC_PEM)],
    ["RS512 with the right key", () => rs({ ...header, alg: "RS512" }, payload, KEYS.privateKey, "RSA-SHA512")],
    ["typ JWT instead of at+jwt", () => rs({ ...header, typ: "JWT" }, payload, KEYS.privateKey)],
    ["an unknown kid", () => rs({ ...header, kid: "0000000000000000" }, payload, KEYS.privateKey)],
    ["no exp", () => rs(header, { ...payload, exp: undefined }, KEYS.privateKey)],
    ["expired", () => rs(header, { ...payload, exp: Math.floor(Date.now() / 1000) - 5 }, KEYS.privateKey)],
    ["another audience", () => rs(header, { ...payload, aud: "someone-else" }, KEYS.privateKey)],
    ["another issuer", () => rs(header, { ...payload, iss: "someone-else" }, KEYS.privateKey)],
    ["a non-numeric subject", () => rs(header, { ...payload, sub: "admin" }, KEYS.privateKey)],
  ])("refuses a token %s", async (_name, make) => {
    await expectTRPCError(me(make()), "UNAUTHORIZED", MESSAGES.tokenInvalid);
  });
});
