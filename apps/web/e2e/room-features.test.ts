import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpClient, registerUser, startTestServer, type TestServer } from "../../server/test/harness";
import { axeViolations } from "./a11y";
import {
  DESKTOP,
  WEB_DIST,
  explainFailure,
  launchBrowser,
  newContext,
  screenshot,
  subscriptionsStarted,
  type Browser,
  type Page,
} from "./browser";
import {
  composer,
  createRoom,
  logIn,
  membersPanel,
  membersShown,
  messageItem,
  messageTexts,
  newUser,
  register,
  roomEntry,
  roomOrder,
  send,
  systemLine,
  typingShown,
  unreadShown,
  visibleErrors,
  waitForMessage,
  type TestUser,
} from "./ui";

/**
 * Issue 7 in the browser: two or three people in one room, each in a browser context of their own,
 * against the real server. The typing lifetime is long enough that a notice gone well before it
 * was cleared by a "stopped typing" or a message, not by its expiry, and short enough to watch
 * one expire.
 */
const TYPING_TTL_MS = 8000;
const ENV = { WEB_DIR: WEB_DIST, TYPING_TTL_MS: String(TYPING_TTL_MS) };
/** Waits for live updates (never a performance bound: a slow run waits, a wrong one fails). */
const LIVE = { timeout: 10_000 };

/**
 * A typing notice shown from a typist who started at `startedAt` (epoch ms, taken before the first
 * key) cannot expire before startedAt + TYPING_TTL_MS: one gone a second before that was cleared.
 */
function beforeExpiry(startedAt: number) {
  return startedAt + TYPING_TTL_MS - 1000;
}

/**
 * From now on, records on every change of the page whether the typing notice is shown and whether
 * the message with this text is on screen, in the order the page went through them: an order,
 * where a deadline would flake on a loaded machine (issue 14).
 */
async function recordTypingAndMessage(page: Page, text: string): Promise<void> {
  await page.evaluate((t) => {
    const states: { typing: string; message: boolean }[] = [];
    (window as unknown as { __typingStates: typeof states }).__typingStates = states;
    const look = () => {
      const typing = (document.querySelector<HTMLElement>("[data-testid=typing]")?.innerText ?? "").trim();
      const message = [...document.querySelectorAll("li.msg:not(.pending) .msg-text")].some((n) => n.textContent === t);
      const last = states.at(-1);
      if (!last || last.typing !== typing || last.message !== message) states.push({ typing, message });
    };
    look();
    new MutationObserver(look).observe(document.body, { childList: true, subtree: true, characterData: true });
  }, text);
}

/** What recordTypingAndMessage saw. */
function typingStates(page: Page): Promise<{ typing: string; message: boolean }[]> {
  return page.evaluate(() => (window as unknown as { __typingStates: { typing: string; message: boolean }[] }).__typingStates);
}

/** From now on, records every unread badge the page shows for this room (even for a moment). */
async function recordBadges(page: Page, roomName: string): Promise<void> {
  await page.evaluate((name) => {
    const seen: string[] = [];
    (window as unknown as { __badgesSeen: string[] }).__badgesSeen = seen;
    const look = () => {
      for (const li of document.querySelectorAll(".room-list li")) {
        if (li.querySelector(".room-name")?.textContent !== name) continue;
        const badge = li.querySelector("[data-testid=unread]");
        if (badge) seen.push(badge.textContent ?? "");
      }
    };
    look();
    new MutationObserver(look).observe(document.body, { childList: true, subtree: true, characterData: true });
  }, roomName);
}

/** The badges recordBadges saw. */
function badgesSeen(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __badgesSeen: string[] }).__badgesSeen);
}

/** Waits until the page shows no typing notice, failing if that takes until `deadline`. */
async function typingClearedBy(page: Page, deadline: number): Promise<void> {
  const timeout = deadline - Date.now();
  if (timeout <= 0) throw new Error(`the test reached the typing deadline ${-timeout} ms late: it cannot tell a stop from an expiry`);
  await expect.poll(() => typingShown(page), { timeout, interval: 50 }).toBe("");
}

describe("room features in the browser", () => {
  let browser: Browser;
  let server: TestServer;
  const contexts: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    [browser, server] = await Promise.all([launchBrowser(), startTestServer({ env: ENV })]);
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
  });

  /** A signed-in page on a desktop-sized window, registered from the home page or a room link. */
  async function person(user: TestUser, path = "/", listening?: (page: Page) => void): Promise<Page> {
    const { context, pageErrors } = await newContext(browser, server.url, DESKTOP);
    contexts.push({
      close: async () => {
        expect(pageErrors).toEqual([]);
        await context.close();
      },
    });
    const page = await context.newPage();
    listening?.(page);
    await page.goto(path);
    await register(page, user);
    return page;
  }

  /** Opens a room by its link and waits for its heading. */
  async function openRoom(page: Page, roomId: string, name: string): Promise<void> {
    await page.goto(`/r/${roomId}`);
    await page.getByRole("heading", { level: 1, name }).waitFor();
  }

  /** Confirms the open dialog with the given button. */
  async function confirmWith(page: Page, dialogName: string | RegExp, button: string): Promise<void> {
    const dialog = page.getByRole("dialog", { name: dialogName });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: button }).click();
    await dialog.waitFor({ state: "hidden" });
  }

  let alice: Page;
  let bruno: Page;
  let roomId: string;
  const aliceUser = newUser("alice", true);
  const brunoUser = newUser("bruno", true);

  it("shows who is online, who is typing, and who joined and left", async () => {
    alice = await person(aliceUser);
    roomId = await createRoom(alice, "Features", 10);
    // Alone: only me online.
    await expect.poll(() => membersShown(alice, "Online"), LIVE).toEqual(["alice"]);

    bruno = await person(brunoUser, `/r/${roomId}`);
    explainFailure({ alice, bruno });
    await bruno.getByRole("heading", { level: 1, name: "Features" }).waitFor();
    // Both see the join as a system line (Bruno from history, Alice live), not as a chat message.
    await systemLine(alice, "bruno joined").waitFor(LIVE);
    await systemLine(bruno, "bruno joined").waitFor(LIVE);
    expect(await messageTexts(alice)).toEqual([]);
    await expect.poll(() => membersShown(alice, "Online"), LIVE).toEqual(["alice", "bruno"]);
    await expect.poll(() => membersShown(bruno, "Online"), LIVE).toEqual(["alice", "bruno"]);
    await membersPanel(alice).locator(".member", { hasText: "alice" }).getByText("owner", { exact: true }).waitFor();

    // Bruno's phone, signed in now: the slow part (the password check) is over before he types.
    const brunoSession = await httpClient(server.url).auth.login.mutate({ email: brunoUser.email, password: brunoUser.password });
    const brunoPhone = httpClient(server.url, brunoSession.accessToken);

    // Bruno types: Alice is told, Bruno is not told about himself. He stops without sending,
    // so the notice expires by itself (TYPING_TTL_MS).
    await composer(bruno).pressSequentially("hel");
    await expect.poll(() => typingShown(alice), LIVE).toBe("bruno is typing…");
    expect(await typingShown(bruno)).toBe("");
    await expect.poll(() => typingShown(alice), { timeout: TYPING_TTL_MS + LIVE.timeout }).toBe("");

    // Typing again, then a message of his arrives from another device (so no "stopped typing"
    // comes with it): the message itself clears the notice, before it would expire.
    await composer(bruno).fill("");
    await composer(bruno).pressSequentially("hello");
    await expect.poll(() => typingShown(alice), LIVE).toBe("bruno is typing…");
    await recordTypingAndMessage(alice, "from my phone");
    await brunoPhone.room.send.mutate({ roomId, text: "from my phone" });
    await waitForMessage(alice, "from my phone");
    expect(await typingShown(alice)).toBe("");
    // Cleared by the message, not by expiry, as an order rather than "before the TTL ran out"
    // (issue 14): the notice never went away while the message was not yet on screen.
    const states = await typingStates(alice);
    expect(states.filter((st) => st.typing === "" && !st.message), JSON.stringify(states)).toEqual([]);
    await composer(bruno).press("Enter");
    await waitForMessage(alice, "hello");
    // Alice types: now the other way round. Clearing the box says she stopped.
    let startedAt = Date.now();
    await composer(alice).pressSequentially("hi");
    await expect.poll(() => typingShown(bruno), LIVE).toBe("alice is typing…");
    expect(await typingShown(alice)).toBe("");
    await composer(alice).fill("");
    await typingClearedBy(bruno, beforeExpiry(startedAt));
    await screenshot(alice, "13-room-members-typing");

    // Bruno goes back to his room list: he goes offline in the room, and comes back online.
    await bruno.getByRole("button", { name: "New or join room" }).click();
    await bruno.getByRole("heading", { name: "Create a room" }).waitFor();
    await expect.poll(() => membersShown(alice, "Online"), LIVE).toEqual(["alice"]);
    await expect.poll(() => membersShown(alice, "Offline"), LIVE).toEqual(["bruno"]);
    await roomEntry(bruno, "Features").getByRole("link").click();
    await expect.poll(() => membersShown(alice, "Online"), LIVE).toEqual(["alice", "bruno"]);

    // Leaving: a system line for those who stay, and Bruno is no longer listed.
    await bruno.getByRole("button", { name: "Leave" }).click();
    await confirmWith(bruno, "Leave “Features”?", "Leave room");
    await bruno.getByText("You left “Features”.").waitFor();
    await systemLine(alice, "bruno left").waitFor(LIVE);
    await expect.poll(async () => [...(await membersShown(alice, "Online")), ...(await membersShown(alice, "Offline"))], LIVE).toEqual([
      "alice",
    ]);
    expect(await visibleErrors(alice)).toEqual([]);
    expect(await visibleErrors(bruno)).toEqual([]);
  });

  it("edits and deletes messages, seen live by the other member", async () => {
    await openRoom(bruno, roomId, "Features");
    await systemLine(alice, "bruno joined").nth(1).waitFor(LIVE);
    await send(alice, "See you at 5 pm");
    await send(alice, "this one goes away");
    await send(bruno, "a message of bruno's");
    await waitForMessage(bruno, "this one goes away");
    await waitForMessage(alice, "a message of bruno's");

    // Only my own messages can be edited; Bruno gets no action on Alice's messages.
    expect(await messageItem(bruno, "See you at 5 pm").getByRole("button").count()).toBe(0);
    expect(await messageItem(alice, "a message of bruno's").getByRole("button", { name: "Edit" }).count()).toBe(0);

    // Escape cancels an edit and gives focus back to its Edit button.
    const first = messageItem(alice, "See you at 5 pm");
    await first.getByRole("button", { name: "Edit" }).click();
    const editor = alice.getByRole("textbox", { name: "Edit message" });
    await editor.fill("nonsense");
    await editor.press("Escape");
    await editor.waitFor({ state: "hidden" });
    expect(await alice.evaluate(() => document.activeElement?.textContent)).toBe("Edit");
    expect(await first.innerText()).not.toContain("nonsense");

    // Enter saves: both see the new text marked "(edited)", the old text gone.
    await first.getByRole("button", { name: "Edit" }).focus();
    await alice.keyboard.press("Enter");
    await editor.fill("See you at 6 pm");
    await editor.press("Enter");
    await messageItem(alice, "See you at 6 pm").getByText("(edited)").waitFor(LIVE);
    await messageItem(bruno, "See you at 6 pm").getByText("(edited)").waitFor(LIVE);
    expect(await messageTexts(bruno)).not.toContain("See you at 5 pm");

    // Deleting asks first, then leaves a tombstone for everyone.
    await messageItem(alice, "this one goes away").getByRole("button", { name: "Delete" }).click();
    await confirmWith(alice, "Delete this message?", "Delete message");
    await expect.poll(() => messageTexts(bruno), LIVE).toEqual(["from my phone", "hello", "See you at 6 pm", "message deleted", "a message of bruno's"]);
    expect(await messageTexts(alice)).toEqual(["from my phone", "hello", "See you at 6 pm", "message deleted", "a message of bruno's"]);

    // The owner may delete someone else's message.
    await messageItem(alice, "a message of bruno's").getByRole("button", { name: "Delete" }).click();
    await confirmWith(alice, "Delete this message?", "Delete message");
    await expect.poll(() => messageTexts(bruno), LIVE).toEqual(["from my phone", "hello", "See you at 6 pm", "message deleted", "message deleted"]);

    // A reload shows the same: the server holds the edit and the tombstones.
    await bruno.reload();
    await waitForMessage(bruno, "See you at 6 pm");
    expect(await messageTexts(bruno)).toEqual(["from my phone", "hello", "See you at 6 pm", "message deleted", "message deleted"]);
    await messageItem(bruno, "See you at 6 pm").getByText("(edited)").waitFor();

    await screenshot(alice, "14-room-edited-deleted");
    expect({ alice: await axeViolations(alice), bruno: await axeViolations(bruno) }).toEqual({ alice: [], bruno: [] });
    expect(await visibleErrors(alice)).toEqual([]);
    expect(await visibleErrors(bruno)).toEqual([]);

    // The README's picture of a room (docs/room-view.png): all of the above while Bruno types.
    let startedAt = Date.now();
    await composer(bruno).pressSequentially("On my way");
    await expect.poll(() => typingShown(alice), LIVE).toBe("bruno is typing…");
    await screenshot(alice, "14b-room-view");
    await composer(bruno).fill("");
    await typingClearedBy(alice, beforeExpiry(startedAt));

    // Typing on and on tells the room every few seconds (TYPING_EVERY_MS), not at every key.
    const typingCalls: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (r.url().includes("room.typing")) typingCalls.push(r.url());
    };
    bruno.on("request", onRequest);
    startedAt = Date.now();
    await composer(bruno).pressSequentially("Sorry, the bus is late, I think I'll be there by ten", { delay: 80 });
    const typedFor = Date.now() - startedAt;
    bruno.off("request", onRequest);
    expect(typedFor).toBeGreaterThan(3500);
    expect(typingCalls.length).toBeGreaterThanOrEqual(1);
    expect(typingCalls.length).toBeLessThanOrEqual(Math.ceil(typedFor / 3000) + 1);
    expect(await typingShown(alice)).toBe("bruno is typing…");
    await composer(bruno).fill("");
    await expect.poll(() => typingShown(alice), LIVE).toBe("");
  });

  it("lets the owner kick, ban, unban and hand over the room", async () => {
    const carolUser = newUser("carol", true);
    const carol = await person(carolUser, `/r/${roomId}`);
    explainFailure({ alice, bruno, carol });
    await carol.getByRole("heading", { level: 1, name: "Features" }).waitFor();
    await expect.poll(() => membersShown(alice, "Online"), LIVE).toEqual(["alice", "bruno", "carol"]);
    // Only the owner has the controls, and not for herself.
    expect(await membersPanel(bruno).getByRole("button", { name: /^Kick/ }).count()).toBe(0);
    expect(await membersPanel(alice).getByRole("button", { name: "Kick alice" }).count()).toBe(0);

    // Kick, from the keyboard: Carol is sent back to her list with a notice, and the room is gone
    // from it.
    await membersPanel(alice).getByRole("button", { name: "Kick carol" }).focus();
    await alice.keyboard.press("Enter");
    const kickDialog = alice.getByRole("dialog", { name: "Remove carol from “Features”?" });
    await kickDialog.waitFor();
    expect(await axeViolations(alice)).toEqual([]);
    // Focus starts on Cancel; the next stop is Kick.
    await alice.keyboard.press("Tab");
    await alice.keyboard.press("Enter");
    await kickDialog.waitFor({ state: "hidden" });
    // Her row and its Kick button are gone; the focus is not lost with them (it would fall to
    // the body): it moves to the next member's Kick button, still in the members panel.
    await expect.poll(() => membersShown(alice, "Online"), LIVE).toEqual(["alice", "bruno"]);
    await expect
      .poll(
        () =>
          alice.evaluate(() => {
            const el = document.activeElement;
            return el?.closest(".members-panel") ? el.getAttribute("aria-label") ?? el.textContent : el?.tagName;
          }),
        LIVE,
      )
      .toBe("Kick bruno");
    await carol.getByText("alice removed you from “Features”.").waitFor(LIVE);
    await carol.getByText("No rooms yet").waitFor(LIVE);
    expect(new URL(carol.url()).pathname).toBe("/");
    await systemLine(alice, "carol was removed by alice").waitFor(LIVE);
    await systemLine(bruno, "carol was removed by alice").waitFor(LIVE);
    await screenshot(carol, "15-kicked-notice");

    // A kicked member may come back; a banned one may not.
    await openRoom(carol, roomId, "Features");
    await expect.poll(() => membersShown(alice, "Online"), LIVE).toEqual(["alice", "bruno", "carol"]);
    await membersPanel(alice).getByRole("button", { name: "Ban carol" }).click();
    await confirmWith(alice, "Ban carol from “Features”?", "Ban");
    await carol.getByText("alice banned you from “Features”.").waitFor(LIVE);
    expect(new URL(carol.url()).pathname).toBe("/");
    await systemLine(bruno, "carol was banned by alice").waitFor(LIVE);
    await carol.goto(`/r/${roomId}`);
    await carol.getByRole("heading", { name: "Can't open this room" }).waitFor(LIVE);
    await carol.getByRole("alert").getByText("You're banned from this room").waitFor();
    await screenshot(carol, "16-banned");

    // The owner, and only the owner, sees her under Banned, and can unban her from the keyboard.
    const banned = membersPanel(alice).getByRole("list", { name: /^Banned/ });
    await banned.getByRole("button", { name: "Unban carol" }).waitFor(LIVE);
    expect(await banned.locator(".member-name").allInnerTexts()).toEqual(["carol"]);
    await membersPanel(alice).getByRole("heading", { name: "Banned — 1" }).waitFor();
    expect(await membersPanel(bruno).getByRole("heading", { name: /^Banned/ }).count()).toBe(0);
    expect(await axeViolations(alice)).toEqual([]);
    await screenshot(alice, "16b-banned-list");
    await banned.getByRole("button", { name: "Unban carol" }).focus();
    await alice.keyboard.press("Enter");
    await membersPanel(alice).getByRole("status").getByText("carol is no longer banned").waitFor(LIVE);
    await membersPanel(alice).getByText("No one is banned.").waitFor(LIVE);
    // Her button is gone; the focus is not lost with it.
    expect(await alice.evaluate(() => document.activeElement?.textContent)).toBe("Banned — 0");
    // The server agrees (a fresh read, not the page's own removal), and she can come back.
    const aliceSession = await httpClient(server.url).auth.login.mutate({ email: aliceUser.email, password: aliceUser.password });
    expect(await httpClient(server.url, aliceSession.accessToken).member.bans.query({ roomId })).toEqual([]);
    await openRoom(carol, roomId, "Features");
    await expect.poll(() => membersShown(alice, "Online"), LIVE).toEqual(["alice", "bruno", "carol"]);
    await expect.poll(() => membersShown(carol, "Online"), LIVE).toEqual(["alice", "bruno", "carol"]);
    expect(await visibleErrors(carol)).toEqual([]);

    // Ownership passes to Bruno: the controls move with it. The button that opened the dialog
    // goes with them; the focus moves to the members heading instead of falling to the body.
    await membersPanel(alice).getByRole("button", { name: "Make owner: bruno" }).click();
    await confirmWith(alice, "Make bruno the owner of “Features”?", "Make owner");
    await systemLine(alice, "alice made bruno the owner").waitFor(LIVE);
    await expect.poll(() => membersPanel(alice).getByRole("button", { name: /^Kick/ }).count(), LIVE).toBe(0);
    expect(await alice.evaluate(() => document.activeElement?.id)).toBe("members-panel-heading");
    await systemLine(bruno, "alice made bruno the owner").waitFor(LIVE);
    await membersPanel(bruno).getByRole("button", { name: "Kick alice" }).waitFor(LIVE);
    await bruno.getByRole("button", { name: "Delete room" }).waitFor(LIVE);
    await membersPanel(bruno).getByRole("heading", { name: "Banned — 0" }).waitFor(LIVE);
    await expect.poll(() => membersPanel(alice).getByRole("button", { name: /^Kick/ }).count(), LIVE).toBe(0);
    expect(await alice.getByRole("button", { name: "Delete room" }).count()).toBe(0);
    expect(await membersPanel(alice).getByRole("heading", { name: /^Banned/ }).count()).toBe(0);
    expect(await visibleErrors(alice)).toEqual([]);
    expect(await visibleErrors(bruno)).toEqual([]);
  });

  it("orders the room list by activity and counts unread messages live, clearing them when the room is read", async () => {
    const danaUser = newUser("dana", true);
    // Dana's list is live (room.onActivity has started) before she has any room: every room
    // below is one she comes to belong to while it listens.
    let listening: Promise<void> = Promise.resolve();
    const dana = await person(danaUser, "/", (page) => (listening = subscriptionsStarted(page)));
    explainFailure({ dana });
    await listening;
    // A room she creates on another device appears here too.
    const session = await httpClient(server.url).auth.login.mutate({ email: danaUser.email, password: danaUser.password });
    const danaElsewhere = httpClient(server.url, session.accessToken);
    await danaElsewhere.room.create.mutate({ name: "Made elsewhere", maxMembers: 3 });
    await roomEntry(dana, "Made elsewhere").waitFor(LIVE);

    // Someone else writes through the API.
    const { client: writer } = await registerUser(server.url, "writer");
    const older = await createRoom(dana, "Older room", 5);
    await dana.getByRole("button", { name: "New or join room" }).click();
    const newer = await createRoom(dana, "Newer room", 5);
    await writer.room.join.mutate({ roomId: older });
    await writer.room.join.mutate({ roomId: newer });
    await dana.getByRole("button", { name: "New or join room" }).click();
    await dana.getByRole("heading", { name: "Create a room" }).waitFor();
    await expect.poll(() => roomOrder(dana), LIVE).toEqual(["Newer room", "Older room", "Made elsewhere"]);
    expect(await unreadShown(dana, "Older room")).toBe("");

    // A message in the older room moves it to the top, shows it, and counts it.
    await writer.room.send.mutate({ roomId: older, text: "first news" });
    await expect.poll(() => roomOrder(dana), LIVE).toEqual(["Older room", "Newer room", "Made elsewhere"]);
    await expect.poll(() => unreadShown(dana, "Older room"), LIVE).toBe("1");
    await roomEntry(dana, "Older room").getByText("first news").waitFor();
    await writer.room.send.mutate({ roomId: older, text: "second news" });
    await expect.poll(() => unreadShown(dana, "Older room"), LIVE).toBe("2");
    await roomEntry(dana, "Older room").getByText("second news").waitFor();
    expect(await unreadShown(dana, "Newer room")).toBe("");
    expect(await axeViolations(dana)).toEqual([]);
    await screenshot(dana, "17-room-list-unread");

    // Then the newer room is the most recent again.
    const overHere = await writer.room.send.mutate({ roomId: newer, text: "over here now" });
    await expect.poll(() => roomOrder(dana), LIVE).toEqual(["Newer room", "Older room", "Made elsewhere"]);
    await expect.poll(() => unreadShown(dana, "Newer room"), LIVE).toBe("1");

    // Opening the room reads it: its badge goes, the other room's stays.
    await roomEntry(dana, "Older room").getByRole("link").click();
    await waitForMessage(dana, "second news");
    await expect.poll(() => unreadShown(dana, "Older room"), LIVE).toBe("");
    expect(await unreadShown(dana, "Newer room")).toBe("1");
    // A message in the room on screen is read as it arrives: no badge for it, not even for a
    // moment (every badge the page shows for the room is recorded), and the read marker moves
    // past it (the page says so to the server).
    await recordBadges(dana, "Older room");
    const looked = { seq: 0 };
    const markedRead = dana.waitForResponse(
      (r) => r.url().includes("room.markRead") && new RegExp(`"seq":${looked.seq}[,}]`).test(r.request().postData() ?? ""),
    );
    looked.seq = (await writer.room.send.mutate({ roomId: older, text: "while you look" })).seq;
    await waitForMessage(dana, "while you look");
    await markedRead;
    const meanwhile = await writer.room.send.mutate({ roomId: newer, text: "meanwhile elsewhere" });
    await expect.poll(() => unreadShown(dana, "Newer room"), LIVE).toBe("2");
    expect(await unreadShown(dana, "Older room")).toBe("");
    expect(await badgesSeen(dana)).toEqual([]);

    // The server holds the read marker: a fresh load agrees.
    await dana.goto("/");
    await expect.poll(() => roomOrder(dana), LIVE).toEqual(["Newer room", "Older room", "Made elsewhere"]);
    await expect.poll(() => unreadShown(dana, "Newer room"), LIVE).toBe("2");
    expect(await unreadShown(dana, "Older room")).toBe("");
    // My own message, from another device while this one shows the list, moves the room up
    // without counting.
    await danaElsewhere.room.send.mutate({ roomId: older, text: "my own words" });
    await expect.poll(() => roomOrder(dana), LIVE).toEqual(["Older room", "Newer room", "Made elsewhere"]);
    await roomEntry(dana, "Older room").getByText("You: my own words").waitFor();
    expect(await unreadShown(dana, "Older room")).toBe("");
    expect(await visibleErrors(dana)).toEqual([]);

    // Logging in elsewhere shows the same list (the counts come from the server).
    const other = await newContext(browser, server.url, DESKTOP);
    contexts.push(other.context);
    const second = await other.context.newPage();
    await second.goto("/");
    await logIn(second, danaUser);
    await expect.poll(() => roomOrder(second), LIVE).toEqual(["Older room", "Newer room", "Made elsewhere"]);
    expect(await unreadShown(second, "Newer room")).toBe("2");
    expect(await unreadShown(second, "Older room")).toBe("");

    // Reading on another device clears the badge here, live: half of it first (the server's
    // count, not this page's, says what is left), then the rest.
    await danaElsewhere.room.markRead.mutate({ roomId: newer, seq: overHere.seq });
    await expect.poll(() => unreadShown(dana, "Newer room"), LIVE).toBe("1");
    await expect.poll(() => unreadShown(second, "Newer room"), LIVE).toBe("1");
    await danaElsewhere.room.markRead.mutate({ roomId: newer, seq: meanwhile.seq });
    await expect.poll(() => unreadShown(dana, "Newer room"), LIVE).toBe("");
    await expect.poll(() => unreadShown(second, "Newer room"), LIVE).toBe("");
    expect(await visibleErrors(dana)).toEqual([]);
  });

  it("marks a room read only while its newest messages are in view", async () => {
    const erinUser = newUser("erin", true);
    const erin = await person(erinUser);
    explainFailure({ erin });
    const session = await httpClient(server.url).auth.login.mutate({ email: erinUser.email, password: erinUser.password });
    const room = await httpClient(server.url, session.accessToken).room.create.mutate({ name: "Long talk", maxMembers: 3 });
    const { client: talker } = await registerUser(server.url, "talker");
    await talker.room.join.mutate({ roomId: room.id });
    for (let i = 1; i <= 40; i++) await talker.room.send.mutate({ roomId: room.id, text: `line ${i}` });
    // Opening the room reads it (the page says so to the server).
    const openedRead = erin.waitForResponse((r) => r.url().includes("room.markRead"));
    await openRoom(erin, room.id, "Long talk");
    await waitForMessage(erin, "line 40");
    await openedRead;
    await expect.poll(() => unreadShown(erin, "Long talk"), LIVE).toBe("");

    // Scrolled up, the newest messages are out of view: one that comes then is not read (its
    // badge shows, the marker stays) until the reader goes down to it.
    const marks: string[] = [];
    erin.on("request", (r) => {
      if (r.url().includes("room.markRead")) marks.push(r.postData() ?? "");
    });
    // Up to the top, and on once the page has handled the scroll (its event comes with the next
    // frame: a message sent before it would find the reader still at the bottom).
    await erin.getByRole("region", { name: "Messages" }).evaluate(
      (el) =>
        new Promise<void>((resolve) => {
          el.addEventListener("scroll", () => setTimeout(resolve, 200), { once: true });
          el.scrollTop = 0;
        }),
    );
    const unseen = await talker.room.send.mutate({ roomId: room.id, text: "while scrolled up" });
    const marksUnseen = () => marks.some((body) => new RegExp(`"seq":${unseen.seq}[,}]`).test(body));
    const jump = erin.getByRole("button", { name: /^1 new message/ });
    await jump.waitFor(LIVE);
    await expect.poll(() => unreadShown(erin, "Long talk"), LIVE).toBe("1");
    await erin.waitForTimeout(1500); // past the read debounce: a mark would have been sent
    expect(marksUnseen()).toBe(false);
    expect(await unreadShown(erin, "Long talk")).toBe("1");
    // The jump button brings it into view: now it is read.
    await jump.click();
    await expect.poll(() => unreadShown(erin, "Long talk"), LIVE).toBe("");
    await expect.poll(marksUnseen, LIVE).toBe(true);
    expect(await visibleErrors(erin)).toEqual([]);
  });
});
