import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../server/test/harness";

/**
 * What the server sends with the built client: no source maps in a production build. The client
 * is built here, from vite.config.ts, into a folder of its own.
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
