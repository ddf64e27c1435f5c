import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../server/test/harness";
import { DESKTOP, PHONE, WEB_DIST, explainFailure, launchBrowser, newContext, shownConnectionStates, type Browser, type Page } from "./browser";
import { composer, connectionStatus, createRoom, messageTexts, newUser, register, visibleErrors, waitForMessage } from "./ui";

/** Messages in the conversation at least; it goes on until each side's socket followed its token 3 times. */
const MIN_MESSAGES = 16;
const MIN_SOCKETS = 3;
/** A bound, not a pace: a client that never reconnects must end the test, not hang it. */
const GIVE_UP_MS = 120_000;

/** The access token the page holds right now (from its stored session). */
function accessToken(page: Page): Promise<string | undefined> {
  return page.evaluate(() => {
    const raw = localStorage.getItem("anonchat.session");
    return raw ? (JSON.parse(raw) as { session: { accessToken: string } }).session.accessToken : undefined;
  });
}

describe("with 3-second access tokens", () => {
  let browser: Browser;
  let server: TestServer;

  beforeAll(async () => {
    [browser, server] = await Promise.all([launchBrowser(), startTestServer({ env: { WEB_DIR: WEB_DIST, ACCESS_TOKEN_TTL: "3" } })]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("a conversation through several token lifetimes loses no message and shows no error", async () => {
    const a = await newContext(browser, server.url, DESKTOP);
    const b = await newContext(browser, server.url, PHONE);
    const alice = await a.context.newPage();
    const bob = await b.context.newPage();
    explainFailure({ alice, bob });
    await alice.goto("/");
    await register(alice, newUser("tokA"));
    const roomId = await createRoom(alice, "Short tokens", 5);
    await bob.goto(`/r/${roomId}`);
    await register(bob, newUser("tokB"));
    await bob.getByRole("heading", { level: 1, name: "Short tokens" }).waitFor();
    // A second tab of Alice's shares her session: the tabs must never both spend the same
    // refresh token (its reuse would revoke the session), so they take turns and share results.
    const aliceTab2 = await a.context.newPage();
    await aliceTab2.goto(`/r/${roomId}`);
    explainFailure({ aliceTab2 });
    await aliceTab2.getByRole("heading", { level: 1, name: "Short tokens" }).waitFor();
    const firstTokens = [await accessToken(alice), await accessToken(bob)];
    const sockets = { alice: 0, bob: 0 };
    alice.on("websocket", () => sockets.alice++);
    bob.on("websocket", () => sockets.bob++);

    // Both talk in turns through several token lifetimes (and socket reconnects): however slow
    // the machine, the conversation lasts until each socket was replaced, not a fixed time.
    const sent: string[] = [];
    const problems: string[] = [];
    const start = Date.now();
    const goOn = (i: number) => i < MIN_MESSAGES || sockets.alice < MIN_SOCKETS || sockets.bob < MIN_SOCKETS;
    for (let i = 0; goOn(i) && Date.now() - start < GIVE_UP_MS; i++) {
      const from = i % 2 === 0 ? alice : bob;
      const text = `message ${i + 1} from ${i % 2 === 0 ? "alice" : "bob"}`;
      await composer(from).fill(text);
      await composer(from).press("Enter");
      sent.push(text);
      for (const [name, page] of [["alice", alice], ["bob", bob]] as const) {
        const status = await connectionStatus(page);
        if (status !== "connected") problems.push(`${name} showed "${status}" after ${text}`);
        for (const e of await visibleErrors(page)) problems.push(`${name} showed "${e}" after ${text}`);
      }
      await new Promise((r) => setTimeout(r, 250 + (i % 3) * 150));
    }

    const last = sent.at(-1) as string;
    for (const text of sent) {
      await waitForMessage(alice, text);
      await waitForMessage(bob, text);
    }
    // Every page shows the same conversation in the server's order (a send delayed by a token
    // refresh may be stored after the other side's next one), and it is exactly what was sent:
    // nothing lost, nothing doubled.
    await waitForMessage(aliceTab2, last);
    const shown = await messageTexts(alice);
    expect(await messageTexts(bob)).toEqual(shown);
    expect(await messageTexts(aliceTab2)).toEqual(shown);
    expect([...shown].sort()).toEqual([...sent].sort());
    for (const page of [alice, aliceTab2, bob]) expect(await page.getByRole("heading", { name: "Log in" }).count()).toBe(0);
    expect(problems).toEqual([]);
    // The user never saw the socket follow the token: the state stayed "connected" throughout.
    expect(new Set(await shownConnectionStates(alice))).toEqual(new Set(["connected"]));
    expect(new Set(await shownConnectionStates(bob))).toEqual(new Set(["connected"]));
    expect(new Set(await shownConnectionStates(aliceTab2))).toEqual(new Set(["connected"]));
    // ...though the server closed each socket when its token expired, and the client reconnected.
    expect(sockets.alice).toBeGreaterThanOrEqual(MIN_SOCKETS);
    expect(sockets.bob).toBeGreaterThanOrEqual(MIN_SOCKETS);
    expect(a.pageErrors.concat(b.pageErrors)).toEqual([]);
    expect(sent.length).toBeGreaterThanOrEqual(MIN_MESSAGES);
    // The tokens really were replaced along the way.
    expect(await accessToken(alice)).not.toBe(firstTokens[0]);
    expect(await accessToken(bob)).not.toBe(firstTokens[1]);
    expect(a.foreign.concat(b.foreign)).toEqual([]);
  }, GIVE_UP_MS + 60_000);
});
