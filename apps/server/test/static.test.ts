import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { brotliCompressSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/index.js";
import { startTestServer, type TestServer } from "./harness.js";
import { rawRequest } from "./helpers/raw-http.js";

const INDEX = "<!doctype html><title>AnonChat</title>";
const APP = "console.log('the app');\n".repeat(50);

/** A built web client in a fresh folder: index.html and assets/app-1234.js, plus `extra` files. */
async function webClientDir(extra: Record<string, string | Buffer> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "anonchat-web-"));
  await mkdir(path.join(dir, "assets"));
  const files: Record<string, string | Buffer> = { "index.html": INDEX, "assets/app-1234.js": APP, ...extra };
  for (const [name, body] of Object.entries(files)) await writeFile(path.join(dir, name), body);
  return dir;
}

describe("static files (the web client)", () => {
  let srv: TestServer;
  let webDir: string;
  beforeAll(async () => {
    webDir = await webClientDir({
      "favicon.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
      "assets/app-1234.js.br": brotliCompressSync(APP),
      "assets/style-99.css": "body{}",
    });
    srv = await startTestServer({ env: { WEB_DIR: webDir } });
  });
  afterAll(async () => {
    await srv?.stop();
    await rm(webDir, { recursive: true, force: true });
  });

  it("hashed assets are immutable for a year, carry an ETag, and If-None-Match answers 304", async () => {
    const res = await fetch(`${srv.url}/assets/style-99.css`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("body{}");
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(res.headers.get("content-type")).toMatch(/^text\/css/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const etag = res.headers.get("etag");
    expect(etag).toMatch(/^W\/".+"$/);
    const again = await fetch(`${srv.url}/assets/style-99.css`, { headers: { "If-None-Match": etag ?? "" } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");
    expect(again.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
  });

  it("index.html and client routes (/r/<id>) are the page, revalidated every time (no-cache), 304 when unchanged", async () => {
    for (const p of ["/", "/index.html", "/r/AbCdEfGhIjKlMnOp", "/r/%41bc"]) {
      const res = await fetch(`${srv.url}${p}`);
      expect([p, res.status, await res.text()]).toEqual([p, 200, INDEX]);
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
      const etag = res.headers.get("etag") ?? "";
      expect(etag).not.toBe("");
      const again = await fetch(`${srv.url}${p}`, { headers: { "If-None-Match": etag } });
      expect([p, again.status]).toEqual([p, 304]);
    }
  });

  it("the favicon is cacheable (a day), not no-cache", async () => {
    const res = await fetch(`${srv.url}/favicon.svg`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^image\/svg\+xml/);
    expect(res.headers.get("cache-control")).toBe("public, max-age=86400");
  });

  it("a precompressed .br sibling is served to a client that accepts br, the plain file to one that does not", async () => {
    const br = await fetch(`${srv.url}/assets/app-1234.js`, { headers: { "Accept-Encoding": "br" } });
    expect(br.headers.get("content-encoding")).toBe("br");
    expect(br.headers.get("vary")).toMatch(/Accept-Encoding/i);
    expect(await br.text()).toBe(APP); // fetch decodes it
    const plain = await fetch(`${srv.url}/assets/app-1234.js`, { headers: { "Accept-Encoding": "identity" } });
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect(await plain.text()).toBe(APP);
  });

  it("a page asked for with a body longer than its Content-Length is answered whole; the bytes after it get no answer", async () => {
    // Found by the edge fuzzer through the gateway: the parser refuses the leftover while the
    // page's answer is under way, and the connection used to be cut before that answer went out.
    const port = Number(new URL(srv.url).port);
    const body = "0123456789abcdefghijklmnopqrstuvwxy"; // 35 bytes, 17 declared
    const head = ["GET / HTTP/1.1", `Host: 127.0.0.1:${port}`, "Content-Type: application/json", "Content-Length: 17", "", ""].join("\r\n");
    for (let i = 0; i < 5; i++) {
      const a = await rawRequest(port, head + body, { timeoutMs: 30_000 });
      expect(a.timedOut).toBe(false);
      expect(a.statuses).toEqual([200]);
      expect(a.body).toBe(INDEX);
    }
  });

  it("a missing file with an extension is a 404 that is not cached as an asset; a bad range gets the whole file", async () => {
    const res = await fetch(`${srv.url}/assets/gone-0000.js`);
    expect(res.status).toBe(404);
    expect(res.headers.get("cache-control") ?? "").not.toMatch(/immutable/);
    expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
    const ranged = await fetch(`${srv.url}/assets/style-99.css`, { headers: { Range: "bytes=5-2" } });
    expect([ranged.status, await ranged.text()]).toEqual([200, "body{}"]);
  });
});

describe("the per-IP budget (RATE_LIMIT_PER_IP=5) does not count static files or health polls", () => {
  let srv: TestServer;
  let webDir: string;
  beforeAll(async () => {
    webDir = await webClientDir();
    srv = await startTestServer({ env: { WEB_DIR: webDir, RATE_LIMIT_PER_IP: "5" } });
  });
  afterAll(async () => {
    await srv?.stop();
    await rm(webDir, { recursive: true, force: true });
  });

  it("the default budget is 600 requests a minute", () => {
    const d = loadConfig({});
    expect([d.rateLimit.points, d.rateLimit.window]).toEqual([600, 60]);
  });

  it("a static file, a client route, a missing file, /healthz, /readyz and /metrics, 50 times each: never 429; the API still is past 5", async () => {
    const statuses = new Map<string, number[]>();
    for (const p of ["/assets/app-1234.js", "/r/AbCdEfGhIjKlMnOp", "/", "/assets/gone.js", "/healthz", "/readyz", "/metrics"]) {
      const got: number[] = [];
      for (let i = 0; i < 50; i++) {
        const res = await fetch(`${srv.url}${p}`, { method: i % 2 ? "HEAD" : "GET" });
        await res.arrayBuffer();
        got.push(res.status);
      }
      statuses.set(p, [...new Set(got)]);
    }
    expect(Object.fromEntries(statuses)).toEqual({
      "/assets/app-1234.js": [200],
      "/r/AbCdEfGhIjKlMnOp": [200],
      "/": [200],
      "/assets/gone.js": [404],
      "/healthz": [200],
      "/readyz": [200],
      "/metrics": [200],
    });
    const api: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${srv.url}/api/v1/status`);
      await res.arrayBuffer();
      api.push(res.status);
    }
    expect(api).toEqual([200, 200, 200, 200, 200, 429]);
    // A POST to a page path is not the web client's: it is counted (and refused now).
    expect((await fetch(`${srv.url}/r/AbCdEfGhIjKlMnOp`, { method: "POST" })).status).toBe(429);
  });
});
