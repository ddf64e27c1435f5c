import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../server/test/harness";

/**
 * What the server sends with the built client: a Content-Security-Policy and a Referrer-Policy on
 * every file and on the SPA fallback, and no source maps in a production build. The client is
 * built here, from vite.config.ts, into a folder of its own.
 */

const WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** What `pnpm --filter @anonchat/web build` makes (NODE_ENV as vitest leaves it would make a development bundle). */
async function buildClient(extraEnv: Record<string, string | undefined> = {}): Promise<string> {
  const env = { NODE_ENV: "production", ...extraEnv };
  const outDir = await mkdtemp(path.join(os.tmpdir(), "anonchat-web-"));
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    await build({
      root: WEB_ROOT,
      configFile: path.join(WEB_ROOT, "vite.config.ts"),
      mode: "production",
      logLevel: "silent",
      build: { outDir, emptyOutDir: true },
    });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return outDir;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/** The directives of a Content-Security-Policy header, by name. */
function directives(csp: string | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of (csp ?? "").split(";")) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out.set(name, values);
  }
  return out;
}

describe("the production build, as the server serves it", () => {
  let dist: string;
  let srv: TestServer;
  let files: string[];
  beforeAll(async () => {
    dist = await buildClient({ ANONCHAT_SOURCEMAP: undefined });
    files = await filesUnder(dist);
    srv = await startTestServer({ env: { WEB_DIR: dist } });
  }, 120_000);
  afterAll(async () => {
    await srv?.stop();
    if (dist) await rm(dist, { recursive: true, force: true });
  });

  it("has no source map, nor a pointer to one", async () => {
    expect(files.filter((f) => f.endsWith(".map"))).toEqual([]);
    for (const f of files.filter((f) => /\.(js|css)$/.test(f))) {
      expect(await readFile(path.join(dist, f), "utf8"), f).not.toMatch(/sourceMappingURL/);
    }
    const script = files.find((f) => /^assets\/.+\.js$/.test(f));
    expect(script).toBeDefined();
    expect((await fetch(`${srv.url}/${script}.map`)).status).toBe(404);
  });

  it("sends the client's CSP and Referrer-Policy with the page, its hashed assets and the SPA fallback", async () => {
    const assets = files.filter((f) => /^assets\/.+\.(js|css)$/.test(f));
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const p of ["/", "/index.html", "/r/AbCdEfGhIjKlMnOp", "/favicon.svg", ...assets.map((a) => `/${a}`)]) {
      const res = await fetch(`${srv.url}${p}`);
      expect(res.status, p).toBe(200);
      expect(res.headers.get("referrer-policy"), p).toBe("no-referrer");
      const csp = directives(res.headers.get("content-security-policy"));
      expect(csp.get("default-src"), p).toEqual(["'self'"]);
      expect(csp.get("script-src"), p).toBeUndefined(); // default-src: no inline script, no eval
      expect(csp.get("style-src"), p).toBeUndefined(); // default-src: no inline style
      expect(csp.get("frame-ancestors"), p).toEqual(["'none'"]);
      expect(csp.get("object-src"), p).toEqual(["'none'"]);
      expect(csp.get("base-uri"), p).toEqual(["'none'"]);
      // The API and its WebSocket on the loopback origins of the port actually bound.
      expect(csp.get("connect-src"), p).toEqual(["'self'", `ws://localhost:${srv.port}`, `ws://127.0.0.1:${srv.port}`]);
    }
    const page = await (await fetch(`${srv.url}/r/AbCdEfGhIjKlMnOp`)).text();
    expect(page).toContain('<div id="root">');
    // Nothing inline that the policy would refuse.
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page).not.toMatch(/<style|\sstyle=/);
  });

  it("sends the API's JSON a policy that loads nothing, and the same Referrer-Policy", async () => {
    for (const p of ["/api/v1/status", "/trpc/auth.me", "/healthz", "/api/v1/nothing-here"]) {
      const res = await fetch(`${srv.url}${p}`);
      expect(res.headers.get("content-security-policy"), p).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers.get("referrer-policy"), p).toBe("no-referrer");
    }
  });
});

describe("source maps on request", () => {
  it("ANONCHAT_SOURCEMAP=1 builds them, for debugging a build", async () => {
    const dist = await buildClient({ ANONCHAT_SOURCEMAP: "1" });
    try {
      expect((await filesUnder(dist)).some((f) => f.endsWith(".js.map"))).toBe(true);
    } finally {
      await rm(dist, { recursive: true, force: true });
    }
  });
});
