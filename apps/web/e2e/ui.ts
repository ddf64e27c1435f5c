import type { Page } from "playwright-core";

/** Page actions in the words a user would use: labels, roles and visible text only. */

let counter = 0;
/**
 * A new user's credentials. `exact` keeps the login as given (each test file has a database of
 * its own, so readable names in screenshots are safe when used once per file).
 */
export function newUser(prefix: string, exact = false) {
  counter++;
  const tag = exact ? prefix : `${prefix}${process.pid % 1000}${counter}${Math.floor(Math.random() * 1e4)}`.slice(0, 24);
  return { login: tag, email: `${tag}@example.test`, password: `pw-${tag}-secret` };
}
export type TestUser = ReturnType<typeof newUser>;

export async function register(page: Page, user: TestUser): Promise<void> {
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByLabel("Login (shown to others)").fill(user.login);
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Create an account" }).click();
  await signedInOrAlert(page, user.login);
}

/** Waits to be signed in; fails at once with the text of an alert if one shows instead. */
async function signedInOrAlert(page: Page, login: string): Promise<void> {
  const alert = page.locator("main [role=alert]").first();
  const outcome = await Promise.race([
    page.getByText(`Signed in as ${login}`).waitFor().then(() => "ok" as const),
    alert.waitFor().then(() => "alert" as const),
  ]);
  if (outcome === "alert") throw new Error(`expected to be signed in as ${login}, but the page says: ${await alert.innerText()}`);
}

export async function logIn(page: Page, user: { email: string; password: string }): Promise<void> {
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Log in" }).last().click();
}

/** Creates a room from the lobby and returns its id (from the address it opens at). */
export async function createRoom(page: Page, name: string, limit: number): Promise<string> {
  await page.getByLabel("Room name").fill(name);
  await page.getByLabel("Member limit").fill(String(limit));
  await page.getByRole("button", { name: "Create room" }).click();
  await page.getByRole("heading", { level: 1, name }).waitFor();
  const m = /\/r\/([A-Za-z0-9]+)$/.exec(new URL(page.url()).pathname);
  if (!m?.[1]) throw new Error(`expected a room address, got ${page.url()}`);
  return m[1];
}

export function composer(page: Page) {
  return page.getByRole("textbox", { name: "Message" });
}

/** Types a message and presses Enter. */
export async function send(page: Page, text: string): Promise<void> {
  const box = composer(page);
  await box.fill(text);
  await box.press("Enter");
}

/** Waits until a stored (not pending) message with exactly this text is shown. */
export async function waitForMessage(page: Page, text: string, timeout = 10_000): Promise<void> {
  await page.locator(".msg:not(.pending) .msg-text", { hasText: text }).first().waitFor({ timeout });
}

export async function messageTexts(page: Page): Promise<string[]> {
  return page.locator(".msg:not(.pending) .msg-text").allInnerTexts();
}

/** Visible errors a user would see: alerts and unsent messages. */
export async function visibleErrors(page: Page): Promise<string[]> {
  const alerts = await page.locator("[role=alert]:visible").allInnerTexts();
  const unsent = await page.locator(".msg.failed:visible").allInnerTexts();
  return [...alerts, ...unsent];
}

export async function connectionStatus(page: Page): Promise<string | null> {
  return page.getByTestId("connection-status").getAttribute("data-status");
}

// ---- room features (issue 7) ----

/** The room's members panel (open by default on a wide screen). */
export function membersPanel(page: Page) {
  return page.getByRole("complementary", { name: "Members" });
}

/** The logins listed as online (or offline) in the members panel, "(you)" left out. */
export async function membersShown(page: Page, which: "Online" | "Offline"): Promise<string[]> {
  const list = membersPanel(page).getByRole("list", { name: new RegExp(`^${which}`) });
  if ((await list.count()) === 0) return [];
  const names = await list.locator(".member-name").allInnerTexts();
  return names.map((n) => n.replace(/\s*\(you\)$/, "").trim()).sort();
}

/** A centred membership line ("alice joined", "bob was removed by alice", …). */
export function systemLine(page: Page, text: string) {
  return page.locator("li.sys", { hasText: text });
}

/** The stored chat message whose text contains this. */
export function messageItem(page: Page, text: string) {
  return page.locator("li.msg:not(.pending)", { has: page.locator(".msg-text", { hasText: text }) });
}

/** The typing line under the conversation ("" when no one is typing). */
export async function typingShown(page: Page): Promise<string> {
  return (await page.getByTestId("typing").innerText()).trim();
}

/** The room names in the room list, top to bottom. */
export function roomOrder(page: Page): Promise<string[]> {
  return page.locator(".room-list li .room-name").allInnerTexts();
}

/** The room list's entry for a room, by name. */
export function roomEntry(page: Page, name: string) {
  return page.locator(".room-list li", { has: page.locator(".room-name", { hasText: name }) });
}

/** The unread badge of a room ("" when it has none). */
export async function unreadShown(page: Page, name: string): Promise<string> {
  const badge = roomEntry(page, name).getByTestId("unread");
  return (await badge.count()) === 0 ? "" : (await badge.innerText()).replace(/\s*unread$/, "").trim();
}
