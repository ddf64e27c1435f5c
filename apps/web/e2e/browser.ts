import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { onTestFailed } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));
export const WEB_DIST = path.resolve(here, "../dist");
export const SCREENSHOT_DIR = path.resolve(here, "../../../artifacts/screenshots");

/** Debian's chromium (installed by .ci/run); never a downloaded browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Fails with a clear message when the client has not been built or the browser is missing. */
export function assertPrerequisites(): void {
  if (!existsSync(path.join(WEB_DIST, "index.html"))) {
    throw new Error(
      `The web client is not built: ${WEB_DIST}/index.html is missing. Run \`pnpm --filter @anonchat/web build\` first.`,
    );
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`No browser at ${CHROMIUM}. Install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH.`);
  }
}

export async function launchBrowser(): Promise<Browser> {
  assertPrerequisites();
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 780 };

/**
 * A browser context that may only talk to the test server: any request elsewhere (a CDN font,
 * a script, an image) is recorded and aborted, so a test can assert there were none.
 */
export async function newContext(browser: Browser, baseUrl: string, viewport = DESKTOP) {
  const context = await browser.newContext({
    viewport,
    baseURL: baseUrl,
    deviceScaleFactor: 1,
    isMobile: viewport.width < 600,
    hasTouch: viewport.width < 600,
  });
  const foreign: string[] = [];
  const origin = new URL(baseUrl).origin;
  await context.route(
    (url) => url.origin !== origin && url.protocol !== "data:" && url.protocol !== "blob:",
    (route) => {
      foreign.push(route.request().url());
      return route.abort();
    },
  );
  const pageErrors: string[] = [];
  context.on("weberror", (e) => pageErrors.push(String(e.error())));
  // Everything the Content-Security-Policy refused, as the page's event and as the browser's
  // console line (which also covers refusals no event is fired for), on every page and reload.
  const cspViolations: string[] = [];
  await context.exposeBinding("__cspViolation", (_source, text: string) => void cspViolations.push(text));
  context.on("console", (msg) => {
    if (/Content[ -]Security[ -]Policy/i.test(msg.text())) cspViolations.push(`console ${msg.type()}: ${msg.text()}`);
  });
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      const report = (window as unknown as { __cspViolation: (text: string) => void }).__cspViolation;
      void report(`${e.effectiveDirective} refused ${e.blockedURI || "(inline)"} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  // Every connection state the page shows, in order (a MutationObserver sees even brief ones).
  await context.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __connectionStates: string[] }).__connectionStates = seen;
    const watch = () => {
      const el = document.querySelector("[data-testid=connection-status]");
      if (!el) return void requestAnimationFrame(watch);
      seen.push(el.getAttribute("data-status") ?? "");
      new MutationObserver(() => seen.push(el.getAttribute("data-status") ?? "")).observe(el, { attributes: true });
    };
    watch();
    // When each stored message appeared on screen (pending ones are not counted).
    const arrivals: { text: string; at: number }[] = [];
    (window as unknown as { __arrivals: typeof arrivals }).__arrivals = arrivals;
    new MutationObserver((records) => {
      const at = Date.now();
      for (const r of records) {
        for (const node of r.addedNodes) {
          if (node instanceof HTMLElement && node.matches("li.msg:not(.pending)")) {
            arrivals.push({ text: node.querySelector(".msg-text")?.textContent ?? "", at });
          }
        }
      }
    }).observe(document, { childList: true, subtree: true });
  });
  return { context, foreign, pageErrors, cspViolations };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/**
 * When the current test fails, screenshots every page (artifacts/screenshots/FAILED-…) and prints
 * what each one showed, so a red run explains itself.
 */
export function explainFailure(pages: Record<string, Page>): void {
  onTestFailed(async ({ task }) => {
    const slug = task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 40);
    for (const [name, page] of Object.entries(pages)) {
      if (page.isClosed()) continue;
      try {
        await screenshot(page, `FAILED-${slug}-${name}`);
        const text = (await page.locator("body").innerText({ timeout: 2000 })).replace(/\s+/g, " ").slice(0, 600);
        const states = await shownConnectionStates(page).catch(() => []);
        console.error(`[${name}] ${page.url()} states=${states.join(",")}\n  ${text}`);
      } catch (e) {
        console.error(`[${name}] could not be captured: ${String(e)}`);
      }
    }
  });
}

/** The connection states the page has shown since it loaded. */
export function shownConnectionStates(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __connectionStates: string[] }).__connectionStates);
}

/** When a stored message with this text first appeared on the page (epoch ms), if it has. */
export function arrivalTime(page: Page, text: string): Promise<number | undefined> {
  return page.evaluate(
    (t) => (window as unknown as { __arrivals: { text: string; at: number }[] }).__arrivals.find((a) => a.text === t)?.at,
    text,
  );
}

export type { Browser, BrowserContext, Page };

/**
 * Resolves when the server has confirmed `count` tRPC subscriptions on the page's WebSockets
 * (its "started" answers), so a test can act knowing the page listens. Call before the page
 * connects.
 */
export function subscriptionsStarted(page: Page, count = 1): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    page.on("websocket", (ws) => {
      ws.on("framereceived", ({ payload }) => {
        if (typeof payload === "string" && payload.includes('"type":"started"') && ++seen === count) resolve();
      });
    });
  });
}
