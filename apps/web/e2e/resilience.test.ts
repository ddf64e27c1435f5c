import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../server/test/harness";
import { DESKTOP, PHONE, WEB_DIST, explainFailure, launchBrowser, newContext, screenshot, type Browser, type Page } from "./browser";
import { composer, connectionStatus, createRoom, logIn, messageTexts, newUser, register, send, visibleErrors, waitForMessage } from "./ui";

/** A small send limit, so a burst meets it: 3 messages per 4 seconds. */
const ENV = { WEB_DIR: WEB_DIST, SEND_LIMIT: "3", SEND_LIMIT_WINDOW: "4" };

describe("when things go wrong", () => {
  let browser: Browser;
  let server: TestServer;
  let alice: Page;
  let roomId: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    [browser, server] = await Promise.all([launchBrowser(), startTestServer({ env: ENV })]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    for (const c of cleanups) await c();
  });

  it("a rate-limited message says how long to wait, and its retry is stored once", async () => {
    const a = await newContext(browser, server.url, DESKTOP);
    alice = await a.context.newPage();
    await alice.goto("/");
    await register(alice, newUser("rateA"));
    roomId = await createRoom(alice, "Limits", 5);
    for (const text of ["one", "two", "three"]) await send(alice, text);
    await waitForMessage(alice, "three");
    await send(alice, "four, too fast");
    const failed = alice.locator(".msg.failed", { hasText: "four, too fast" });
    await failed.getByText(/You're sending messages too fast\. Try again in \d seconds?\./).waitFor();
    await screenshot(alice, "09-rate-limited");
    await failed.getByText("You can try again now.").waitFor({ timeout: 10_000 });
    await failed.getByRole("button", { name: "Retry" }).click();
    await waitForMessage(alice, "four, too fast");
    expect(await messageTexts(alice)).toEqual(["one", "two", "three", "four, too fast"]);
    expect(await visibleErrors(alice)).toEqual([]);
  });

  it("through a server restart with a new signing key, shows the outage and then loses nothing", async () => {
    const b = await newContext(browser, server.url, PHONE);
    const bob = await b.context.newPage();
    explainFailure({ alice, bob });
    await bob.goto(`/r/${roomId}`);
    await register(bob, newUser("rateB"));
    await waitForMessage(bob, "four, too fast");
    const v = await newContext(browser, server.url, DESKTOP);
    const visitor = await v.context.newPage();
    await visitor.goto("/");
    await visitor.getByRole("heading", { name: "Log in" }).waitFor();

    const { port, dataDir, databaseUrl } = server;
    await server.stop({ keepData: true });

    // The outage is visible, a message sent meanwhile waits, and a login attempt is explained.
    await alice.locator('[data-testid=connection-status]:not([data-status="connected"])').waitFor({ timeout: 15_000 });
    await send(alice, "written during the outage");
    await alice.locator(".msg.failed", { hasText: "written during the outage" }).getByText("Can't reach the server").waitFor();
    await logIn(visitor, { email: "someone@example.test", password: "whatever1" });
    await visitor.getByRole("alert").getByText("Can't reach the server").waitFor();
    await screenshot(alice, "10-server-unreachable");

    // Back on the same port and data, but signing with a different key: every access token the
    // pages hold is now refused, and their refresh tokens still work.
    server = await startTestServer({
      dataDir,
      ...(databaseUrl ? { databaseUrl } : {}),
      env: { ...ENV, PORT: String(port), JWT_SECRET: "a-different-secret-after-restart-0123456789abcdef" },
    });
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));

    await alice.locator('[data-testid=connection-status][data-status="connected"]').waitFor({ timeout: 30_000 });
    await waitForMessage(bob, "written during the outage", 30_000);
    await bob.locator('[data-testid=connection-status][data-status="connected"]').waitFor({ timeout: 30_000 });
    await composer(bob).fill("welcome back");
    await composer(bob).press("Enter");
    await waitForMessage(alice, "welcome back");
    const expected = ["one", "two", "three", "four, too fast", "written during the outage", "welcome back"];
    expect(await messageTexts(alice)).toEqual(expected);
    expect(await messageTexts(bob)).toEqual(expected);
    expect(await visibleErrors(alice)).toEqual([]);
    expect(await visibleErrors(bob)).toEqual([]);
    expect(await alice.getByRole("heading", { name: "Log in" }).count()).toBe(0);
    expect(await bob.getByRole("heading", { name: "Log in" }).count()).toBe(0);
    expect(await connectionStatus(alice)).toBe("connected");

    // The browser itself goes offline: said at once, and on return the stream catches up.
    await b.context.setOffline(true);
    await bob.locator('[data-testid=connection-status][data-status="offline"]').waitFor();
    await bob.getByText("You're offline").waitFor();
    await composer(alice).fill("sent while Bruno was offline");
    await composer(alice).press("Enter");
    await waitForMessage(alice, "sent while Bruno was offline");
    await b.context.setOffline(false);
    await waitForMessage(bob, "sent while Bruno was offline", 30_000);
    await bob.locator('[data-testid=connection-status][data-status="connected"]').waitFor({ timeout: 30_000 });
    expect(await messageTexts(bob)).toEqual([...expected, "sent while Bruno was offline"]);
  });
});
