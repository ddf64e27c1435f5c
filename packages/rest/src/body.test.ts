import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { readJsonBody } from "./body.js";

/** A request stream with headers, fed `parts` and ended (unless `end` is false: then it is destroyed as aborted). */
function request(parts: string[], headers: Record<string, string> = {}, end = true): IncomingMessage {
  const s = new PassThrough();
  Object.assign(s, { headers });
  setImmediate(() => {
    for (const p of parts) s.write(p);
    if (end) s.end();
    else s.emit("aborted");
  });
  return s as unknown as IncomingMessage;
}

const status = (e: unknown) => ({ status: (e as { code?: string }).code === "PAYLOAD_TOO_LARGE" ? 413 : (e as { code?: string }).code === "BAD_REQUEST" ? 400 : 0, message: (e as Error).message });

describe("readJsonBody (raw-body)", () => {
  it("reads a JSON body within the limit", async () => {
    expect(await readJsonBody(request(['{"a":1}'], { "content-length": "7" }), 16)).toEqual({ a: 1 });
  });

  it("a declared Content-Length past the limit is a 413 before any byte is read", async () => {
    const err = await readJsonBody(request([], { "content-length": "100" }, false), 16).catch((e: unknown) => e);
    expect(status(err)).toEqual({ status: 413, message: "body must be at most 16 bytes" });
  });

  it("a body without a length that grows past the limit is a 413", async () => {
    const err = await readJsonBody(request(['{"a":"', "x".repeat(40), '"}']), 16).catch((e: unknown) => e);
    expect(status(err)).toEqual({ status: 413, message: "body must be at most 16 bytes" });
  });

  it("a body shorter than its Content-Length, empty, or not JSON is a 400 saying which", async () => {
    const short = await readJsonBody(request(['{"a":1}'], { "content-length": "9" }), 16).catch((e: unknown) => e);
    expect(status(short)).toEqual({ status: 400, message: "request body length does not match its Content-Length" });
    const empty = await readJsonBody(request([]), 16).catch((e: unknown) => e);
    expect(status(empty)).toEqual({ status: 400, message: "request body must be a JSON object" });
    const bad = await readJsonBody(request(["{nope"]), 16).catch((e: unknown) => e);
    expect(status(bad)).toEqual({ status: 400, message: "request body is not valid JSON" });
  });
});
