import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerUser, startTestServer, type TestServer } from "../../server/test/harness";
import { DESKTOP, PHONE, WEB_DIST, arrivalTime, explainFailure, launchBrowser, newContext, screenshot, type Browser, type Page } from "./browser";
import {
  composer,
  connectionStatus,
  createRoom,
  logIn,
  messageTexts,
  newUser,
  register,
  send,
  visibleErrors,
  waitForMessage,
} from "./ui";

/** Only ends a hang: how long a delivery takes is printed, never asserted (issue 14). */
const DELIVERY_WAIT_MS = 30_000;

let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

/**
 * Sends from one page and waits until the other page rendered the message. "Live" is stated
 * without a clock: between Enter and the render, the receiving page neither fetched the room's
 * history nor opened a new WebSocket, so the message came through the subscription already open
 * (a client that reloaded or reconnected to show it fails). Returns the time it took, on the
 * browser's clock, for the log only.
 */
async function deliver(from: Page, to: Page, text: string, type?: (box: ReturnType<typeof composer>) => Promise<void>): Promise<number> {
  if (type) await type(composer(from));
  else await composer(from).fill(text);
  const fetched: string[] = [];
  const onRequest = (r: { url(): string }) => {
    if (r.url().includes("room.history")) fetched.push(r.url());
  };
  const onSocket = (ws: { url(): string }) => fetched.push(`new WebSocket ${ws.url()}`);
  to.on("request", onRequest);
  to.on("websocket", onSocket);
  try {
    const t0 = await from.evaluate(() => Date.now());
    await composer(from).press("Enter");
    await waitForMessage(to, text, DELIVERY_WAIT_MS);
    const at = await arrivalTime(to, text);
    if (at === undefined) throw new Error(`no arrival recorded for ${JSON.stringify(text)}`);
    expect(fetched, `${JSON.stringify(text)} reached the other page by a reload, not live`).toEqual([]);
    return at - t0;
  } finally {
    to.off("request", onRequest);
    to.off("websocket", onSocket);
  }
}

describe("the web client on the real server", () => {
  let server: TestServer;
  let roomId: string;
  let alice: Page;
  let bob: Page;
  let aliceUser: ReturnType<typeof newUser>;
  const foreignRequests: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ env: { WEB_DIR: WEB_DIST } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("two users chat by a shared link, each seeing the other's messages live", async () => {
    const a = await newContext(browser, server.url, DESKTOP);
    const b = await newContext(browser, server.url, PHONE);
    foreignRequests.push(...a.foreign, ...b.foreign);
    alice = await a.context.newPage();
    bob = await b.context.newPage();
    explainFailure({ alice, bob });

    const served = await alice.goto("/");
    // The page runs under the server's Content-Security-Policy, and nothing below may break it.
    expect(served?.headers()["content-security-policy"]).toMatch(/default-src 'self'/);
    await alice.getByRole("heading", { name: "Log in" }).waitFor();
    await screenshot(alice, "01-login");
    aliceUser = newUser("alice", true);
    await register(alice, aliceUser);
    await alice.getByRole("heading", { name: "My rooms" }).waitFor();
    await screenshot(alice, "02-lobby-empty");

    roomId = await createRoom(alice, "Lunch plans", 2);
    await alice.getByTestId("member-count").getByText("1 / 2 members").waitFor();

    // Bob opens the link before he has an account: he registers and lands in the room.
    await bob.goto(`/r/${roomId}`);
    await bob.getByText("Log in or create an account to join the room you were invited to.").waitFor();
    await register(bob, newUser("bruno", true));
    await bob.getByRole("heading", { level: 1, name: "Lunch plans" }).waitFor();
    await bob.getByText("2 / 2 members").waitFor();

    const times: number[] = [];
    times.push(await deliver(alice, bob, "Hi Bruno! Pizza or sushi?"));
    times.push(await deliver(bob, alice, "Sushi, obviously. Ça te va ?"));
    times.push(await deliver(alice, bob, "Sushi it is. 12:30 at the usual place?"));
    // Shift+Enter breaks the line; Enter sends both lines as one message.
    times.push(
      await deliver(bob, alice, "Works for me.\nI'll book a table.", async (box) => {
        await box.fill("Works for me.");
        await box.press("Shift+Enter");
        await box.pressSequentially("I'll book a table.");
      }),
    );
    times.push(await deliver(alice, bob, "Perfect, see you there!"));
    // Printed, not asserted (issue 14): deliver() checked each one came live.
    console.log(`[chat] delivery times ${times.join(", ")} ms`);

    // The owner sees the second member (after a new sender the count is refreshed).
    await alice.getByTestId("member-count").getByText("2 / 2 members").waitFor();
    // Own messages are set apart; both see the same conversation in the same order.
    expect(await alice.locator(".msg.mine").count()).toBe(3);
    expect(await bob.locator(".msg.mine").count()).toBe(2);
    expect(await messageTexts(alice)).toEqual(await messageTexts(bob));
    expect(await visibleErrors(alice)).toEqual([]);
    expect(await visibleErrors(bob)).toEqual([]);
    await screenshot(alice, "03-room-desktop");
    await screenshot(bob, "04-room-phone");
    expect(foreignRequests.concat(a.foreign, b.foreign)).toEqual([]);
    expect(a.cspViolations.concat(b.cspViolations)).toEqual([]);
    // The watch works: an inline script, which the policy forbids, is reported.
    await alice.evaluate(() => document.head.append(Object.assign(document.createElement("script"), { textContent: "0" })));
    await expect.poll(() => a.cspViolations.length).toBeGreaterThan(0);
  });

  it("explains a taken login and a wrong password", async () => {
    const e = await newContext(browser, server.url, PHONE);
    const page = await e.context.newPage();
    await page.goto("/");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByLabel("Login (shown to others)").fill(aliceUser.login);
    await page.getByLabel("Email").fill(`other-${aliceUser.email}`);
    await page.getByLabel("Password").fill("another password");
    await page.getByRole("button", { name: "Create an account" }).click();
    await page.getByRole("alert").getByText("That login is already taken. Choose another one.").waitFor();

    await page.getByRole("button", { name: "Log in" }).first().click();
    await logIn(page, { email: aliceUser.email, password: "not the password" });
    await page.getByRole("alert").getByText("Wrong email or password.").waitFor();
    await screenshot(page, "05-wrong-password-phone");
    await e.context.close();
  });

  it("tells a third user the room is full, and tells the member when the owner removes it", async () => {
    const c = await newContext(browser, server.url, DESKTOP);
    const carol = await c.context.newPage();
    explainFailure({ alice, bob, carol });
    await carol.goto(`/r/${roomId}`);
    await register(carol, newUser("carol", true));
    await carol.getByRole("alert").getByText("This room is full").waitFor();
    await screenshot(carol, "06-room-full");
    await carol.getByRole("button", { name: "Back to my rooms" }).click();
    await carol.getByText("No rooms yet").waitFor();
    // A well-formed id of no room.
    await carol.getByLabel("Room id or link").fill(`${server.url}/r/NoSuchRoom0000000000`);
    await carol.getByRole("button", { name: "Join room" }).click();
    await carol.getByRole("alert").getByText("No room has this id. Check the link or id.").waitFor();

    // Bruno opens the room from his list this time (after a reload), and that list will be
    // refetched without the room: the room view must stay and explain.
    await bob.reload();
    await waitForMessage(bob, "Perfect, see you there!");
    const listWithoutRoom = new Promise<void>((resolve) => {
      bob.on("response", async (r) => {
        if (r.url().includes("room.list") && !(await r.text().catch(() => roomId)).includes(roomId)) resolve();
      });
    });
    await alice.getByRole("button", { name: "Delete room" }).click();
    const dialog = alice.getByRole("dialog", { name: /Delete “Lunch plans” for everyone\?/ });
    await dialog.waitFor();
    await screenshot(alice, "07-confirm-delete");
    await dialog.getByRole("button", { name: "Delete room" }).click();
    await alice.getByText("“Lunch plans” was deleted.").waitFor();

    await bob.getByText("This room was removed by its owner").waitFor();
    await listWithoutRoom;
    await bob.getByText("This room was removed by its owner").waitFor();
    expect(await bob.getByRole("heading", { name: "Can't open this room" }).count()).toBe(0);
    await expect(composer(bob).isDisabled()).resolves.toBe(true);
    await screenshot(bob, "08-room-removed-phone");
    await c.context.close();
  });

  it("loads older messages as you scroll up, and a reload keeps the user logged in with the history", async () => {
    // A user with a long history, written through the API.
    const { session, client, password } = await registerUser(server.url, "dana");
    const room = await client.room.create.mutate({ name: "Long history", maxMembers: 10 });
    for (let i = 1; i <= 120; i++) {
      await client.room.send.mutate({ roomId: room.id, text: `history message ${i}`, clientMsgId: `h${i}` });
    }
    const d = await newContext(browser, server.url, DESKTOP);
    const dana = await d.context.newPage();
    explainFailure({ dana });
    await dana.goto(`/r/${room.id}`);
    await logIn(dana, { email: session.user.email, password });
    await waitForMessage(dana, "history message 120");
    expect(await dana.getByText("history message 1", { exact: true }).count()).toBe(0);

    // Scrolling to the top loads the older pages, without losing the reader's place.
    const list = dana.getByRole("region", { name: "Messages" });
    for (let i = 0; i < 5 && (await dana.getByText("history message 1", { exact: true }).count()) === 0; i++) {
      const before = await dana.locator(".msg").count();
      await list.evaluate((el) => {
        el.scrollTop = 0;
      });
      await dana.waitForFunction(
        (n) => document.querySelectorAll(".msg").length > n || !!document.querySelector(".history-edge p"),
        before,
        { timeout: 10_000 },
      );
    }
    await dana.getByText("history message 1", { exact: true }).waitFor();
    await dana.getByText("This is the beginning of the room.").waitFor();
    expect(await messageTexts(dana)).toEqual(Array.from({ length: 120 }, (_, i) => `history message ${i + 1}`));

    await send(dana, "one more, then reload");
    await waitForMessage(dana, "one more, then reload");
    await dana.reload();
    await dana.getByRole("heading", { level: 1, name: "Long history" }).waitFor();
    await waitForMessage(dana, "one more, then reload");
    await waitForMessage(dana, "history message 100");
    expect(await dana.getByRole("heading", { name: "Log in" }).count()).toBe(0);
    expect(await visibleErrors(dana)).toEqual([]);
    expect(await connectionStatus(dana)).toBe("connected");

    // Leaving asks first, then the room is gone from the list.
    await dana.getByRole("button", { name: "Leave" }).click();
    await dana.getByRole("dialog", { name: "Leave “Long history”?" }).getByRole("button", { name: "Leave room" }).click();
    await dana.getByText("You left “Long history”.").waitFor();
    await dana.getByText("No rooms yet").waitFor();

    // Logging out forgets the session (a reload stays logged out); logging in brings it back.
    await dana.getByRole("button", { name: "Log out" }).click();
    await dana.getByText("You're logged out.").waitFor();
    await dana.reload();
    await dana.getByRole("heading", { name: "Log in" }).waitFor();
    await logIn(dana, { email: session.user.email, password });
    await dana.getByText(`Signed in as ${session.user.login}`).waitFor();
    expect(d.pageErrors).toEqual([]);
    expect(d.cspViolations).toEqual([]);
    await d.context.close();
  });
});
