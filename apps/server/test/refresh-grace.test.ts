import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, TOPOLOGY, type TestServer } from "./harness.js";
import { api, expectEnvelope, expectTokenPair, registerLegacy, sleep, type TokenPair } from "./helpers/legacy.js";

/**
 * The reuse grace from the client's side: the original web client keeps one login's refresh token
 * in two tabs, and both refresh it. Within REFRESH_REUSE_GRACE of the rotation the second tab gets
 * the pair's same refresh token instead of a revoked session; later, or once that successor was
 * rotated, it is reuse and revokes the family as before.
 */

const refresh = (srv: TestServer, token: string) => api(srv.url, "POST", "/api/v1/auth/refresh", { body: { token } });
const refreshed = async (srv: TestServer, token: string): Promise<TokenPair> =>
  expectTokenPair(expectEnvelope(await refresh(srv, token), 200, "success"));
const expectRefused = async (srv: TestServer, token: string) => {
  expect(expectEnvelope(await refresh(srv, token), 401, "error").data).toBeNull();
};
const validate = (srv: TestServer, accessToken: string) => api(srv.url, "GET", "/api/v1/auth/validate", { token: accessToken });
const expectValid = async (srv: TestServer, accessToken: string, userId: number) => {
  expect(expectEnvelope(await validate(srv, accessToken), 200, "success").data).toMatchObject({ id: userId });
};
const sessionIdOf = (accessToken: string) =>
  (JSON.parse(Buffer.from(accessToken.split(".")[1] ?? "", "base64url").toString("utf8")) as { sid: string }).sid;

describe("with the default grace", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv.stop();
  });

  const login = async () => {
    const u = await registerLegacy(srv.url, "tab");
    const id = (expectEnvelope(await validate(srv, u.access_token), 200, "success").data as { id: number }).id;
    return { ...u, id };
  };

  it("two tabs refresh one login's token one after the other: both get the same refresh token and keep working", async () => {
    const u = await login();
    const tabA = await refreshed(srv, u.refresh_token);
    const tabB = await refreshed(srv, u.refresh_token);
    expect(tabB.refresh_token).toBe(tabA.refresh_token);
    expect(tabB.refresh_token).not.toBe(u.refresh_token);
    await expectValid(srv, tabA.access_token, u.id);
    await expectValid(srv, tabB.access_token, u.id);
    expect(sessionIdOf(tabB.access_token)).toBe(sessionIdOf(tabA.access_token));

    // The next round, B first this time: the tabs still share one refresh token, which rotates.
    const tabB2 = await refreshed(srv, tabB.refresh_token);
    const tabA2 = await refreshed(srv, tabA.refresh_token);
    expect(tabA2.refresh_token).toBe(tabB2.refresh_token);
    expect(tabA2.refresh_token).not.toBe(tabA.refresh_token);
    await expectValid(srv, tabA2.access_token, u.id);
    await expectValid(srv, tabB2.access_token, u.id);
    await expectValid(srv, (await refreshed(srv, tabA2.refresh_token)).access_token, u.id);
  });

  it("two tabs refresh at the same moment: both succeed with one refresh token and keep working", async () => {
    const u = await login();
    const [tabA, tabB] = await Promise.all([refreshed(srv, u.refresh_token), refreshed(srv, u.refresh_token)]);
    expect(tabB.refresh_token).toBe(tabA.refresh_token);
    await expectValid(srv, tabA.access_token, u.id);
    await expectValid(srv, tabB.access_token, u.id);

    const [tabA2, tabB2] = await Promise.all([refreshed(srv, tabA.refresh_token), refreshed(srv, tabB.refresh_token)]);
    expect(tabB2.refresh_token).toBe(tabA2.refresh_token);
    await expectValid(srv, tabA2.access_token, u.id);
    await expectValid(srv, tabB2.access_token, u.id);
    await expectValid(srv, (await refreshed(srv, tabB2.refresh_token)).access_token, u.id);
  });

  it("the old token presented after its successor was rotated is reuse: the family is revoked", async () => {
    const u = await login();
    const first = await refreshed(srv, u.refresh_token);
    const second = await refreshed(srv, first.refresh_token);
    await expectRefused(srv, u.refresh_token);
    await expectRefused(srv, second.refresh_token);
    await expectRefused(srv, first.refresh_token);
  });

  it("a tab's stale token does not undo a logout", async () => {
    const u = await login();
    const next = await refreshed(srv, u.refresh_token);
    expectEnvelope(await api(srv.url, "POST", "/api/v1/auth/logout", { body: { token: next.refresh_token } }), 200, "success");
    await expectRefused(srv, u.refresh_token);
    await expectRefused(srv, next.refresh_token);
  });
});

describe("REFRESH_REUSE_GRACE=1", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ env: { REFRESH_REUSE_GRACE: "1" } });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it("a rotated token presented after the grace revokes the family, and the successor stops working", async () => {
    const u = await registerLegacy(srv.url, "late");
    const next = await refreshed(srv, u.refresh_token);
    // Waiting longer only makes it later: nothing here depends on how fast the machine is.
    await sleep(1500);
    await expectRefused(srv, u.refresh_token);
    await expectRefused(srv, next.refresh_token);
  });
});

describe("REFRESH_REUSE_GRACE=0", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ env: { REFRESH_REUSE_GRACE: "0" } });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it("keeps the strict rule: the second tab's refresh is reuse and logs both tabs out", async () => {
    const u = await registerLegacy(srv.url, "strict");
    const tabA = await refreshed(srv, u.refresh_token);
    await expectRefused(srv, u.refresh_token);
    await expectRefused(srv, tabA.refresh_token);
  });
});

describe.runIf(TOPOLOGY === "all")("logging", () => {
  const lines: string[] = [];
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ onLog: (l) => lines.push(l) });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it("a grace presentation and a reuse are logged with the session id, never a token", async () => {
    const u = await registerLegacy(srv.url, "logged");
    const sessionId = sessionIdOf(u.access_token);
    const first = await refreshed(srv, u.refresh_token);
    const again = await refreshed(srv, u.refresh_token);
    const second = await refreshed(srv, first.refresh_token);
    await expectRefused(srv, u.refresh_token);

    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toContainEqual(
      expect.objectContaining({ level: "info", msg: "refresh token presented again within the grace; same successor returned", sessionId }),
    );
    expect(entries).toContainEqual(expect.objectContaining({ level: "warn", msg: "refresh token reused; family revoked", sessionId }));
    const secrets = [u, first, again, second].flatMap((p) => [p.refresh_token, p.access_token.split(".")[1] as string]);
    for (const line of lines) for (const s of secrets) expect(line.includes(s), `log line leaks a token: ${line}`).toBe(false);
  });
});
