import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../server/test/harness";
import { axeViolations } from "./a11y";
import { DESKTOP, PHONE, WEB_DIST, launchBrowser, newContext, screenshot, type Browser, type Page } from "./browser";
import { createRoom, newUser, register, send, waitForMessage } from "./ui";

/** The element that has focus, described by its accessible role and name. */
function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el) return "";
    const label = el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : null;
    return `${el.tagName.toLowerCase()}:${(label ?? el.getAttribute("aria-label") ?? el.textContent ?? "").trim()}`;
  });
}

/** Presses Tab until the focused element matches, failing after a sensible number of stops. */
async function tabTo(page: Page, target: string, maxStops = 15): Promise<void> {
  const seen: string[] = [];
  for (let i = 0; i < maxStops; i++) {
    await page.keyboard.press("Tab");
    const now = await focused(page);
    seen.push(now);
    if (now === target) return;
  }
  throw new Error(`Tab never reached ${target}; focus went ${seen.join(" → ")}`);
}

describe("accessibility", () => {
  let browser: Browser;
  let server: TestServer;

  beforeAll(async () => {
    [browser, server] = await Promise.all([launchBrowser(), startTestServer({ env: { WEB_DIR: WEB_DIST } })]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("works from the keyboard alone, in a sensible focus order", async () => {
    const { context } = await newContext(browser, server.url, DESKTOP);
    const page = await context.newPage();
    const user = newUser("keys");
    await page.goto("/");
    await page.getByRole("heading", { name: "Log in" }).waitFor();

    await tabTo(page, "a:Skip to content");
    await tabTo(page, "button:Create account");
    await page.keyboard.press("Enter");
    await tabTo(page, "input:Login (shown to others)");
    await page.keyboard.type(user.login);
    await page.keyboard.press("Tab");
    expect(await focused(page)).toBe("input:Email");
    await page.keyboard.type(user.email);
    await page.keyboard.press("Tab");
    expect(await focused(page)).toBe("input:Password");
    await page.keyboard.type(user.password);
    await page.keyboard.press("Enter");
    await page.getByText(`Signed in as ${user.login}`).waitFor();

    await tabTo(page, "input:Room name");
    await page.keyboard.type("Keyboard room");
    await page.keyboard.press("Tab");
    expect(await focused(page)).toBe("input:Member limit");
    await page.keyboard.press("Control+A");
    await page.keyboard.type("3");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Keyboard room" }).waitFor();

    // The composer has focus on a wide screen; Enter sends.
    expect(await focused(page)).toBe("textarea:Message");
    await page.keyboard.type("typed without a mouse");
    await page.keyboard.press("Enter");
    await waitForMessage(page, "typed without a mouse");

    // The leave confirmation opens on Cancel, Escape closes it, and focus goes back.
    await page.getByRole("button", { name: "Leave" }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("dialog", { name: "Leave “Keyboard room”?" }).waitFor();
    expect(await focused(page)).toBe("button:Cancel");
    await page.keyboard.press("Escape");
    await page.getByRole("dialog").waitFor({ state: "hidden" });
    expect(await focused(page)).toBe("button:Leave");
    await context.close();
  });

  for (const scheme of ["light", "dark"] as const) {
    it(`passes axe-core's WCAG 2.1 AA checks on every main screen (${scheme} scheme)`, async () => {
      const { context } = await newContext(browser, server.url, DESKTOP);
      const phone = await newContext(browser, server.url, PHONE);
      const page = await context.newPage();
      const small = await phone.context.newPage();
      await page.emulateMedia({ colorScheme: scheme });
      await small.emulateMedia({ colorScheme: scheme });
      const found: Record<string, unknown> = {};
      const audit = async (name: string, p: Page) => {
        const v = await axeViolations(p);
        if (v.length) found[name] = v;
      };

      await page.goto("/");
      await page.getByRole("heading", { name: "Log in" }).waitFor();
      await audit("login", page);
      await register(page, newUser("axe"));
      await audit("lobby", page);
      const roomId = await createRoom(page, "Contrast check", 4);
      await small.goto(`/r/${roomId}`);
      await register(small, newUser("axephone"));
      await small.getByRole("heading", { level: 1, name: "Contrast check" }).waitFor();
      await send(page, "A message of mine");
      await send(small, "A message from someone else");
      await waitForMessage(page, "A message from someone else");
      await waitForMessage(small, "A message of mine");
      await audit("room", page);
      await audit("room on a phone", small);
      if (scheme === "dark") {
        await screenshot(page, "11-room-dark");
        await screenshot(small, "12-room-dark-phone");
      }
      await page.getByRole("button", { name: "Delete room" }).click();
      await page.getByRole("dialog").waitFor();
      await audit("delete confirmation", page);
      await page.getByRole("dialog").getByRole("button", { name: "Delete room" }).click();
      await small.getByText("This room was removed by its owner").waitFor();
      await audit("room removed", small);
      expect(found).toEqual({});
      await context.close();
      await phone.context.close();
    });
  }
});
