/**
 * The production build: `tsc -b tsconfig.build.json` compiles the server and its packages to dist/,
 * and plain `node apps/server/dist/main.js` (no tsx, no source condition: what the Docker image and
 * `npm start` run) serves the API. Every other test runs the TypeScript sources; this one makes
 * sure the built output works too, on a fresh clone as well (it builds first; tsc is incremental).
 */
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { builtinModules } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Message } from "@anonchat/shared";
import { createScratchDatabase } from "@anonchat/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DB_KIND } from "./harness.js";
import { api, createRoomLegacy, expectEnvelope, registerLegacy } from "./helpers/legacy.js";
import { BUILT_MAIN, freePort, must, spawnServerProcess, trpcCall, type ServerProcess } from "./helpers/wire.js";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));
/** The workspace packages the server runs, each built to its dist/ and imported from there. */
const BUILT_PACKAGES = ["packages/shared", "packages/db", "packages/core", "packages/api", "packages/rest", "apps/server"];

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

function runTscBuild(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const tsc = path.join(REPO, "node_modules/typescript/bin/tsc");
    const child = spawn(process.execPath, [tsc, "-b", "tsconfig.build.json"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, output }));
  });
}

async function builtFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await builtFiles(p)));
    else if (e.name.endsWith(".js")) out.push(p);
  }
  return out;
}

/** The module specifiers of a compiled ES module's static and dynamic imports and re-exports. */
function specifiers(js: string): string[] {
  return [...js.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1] as string);
}

describe("the build", () => {
  beforeAll(async () => {
    const r = await runTscBuild();
    expect(r.code, r.output).toBe(0);
  }, 600_000);

  it("imports only declared dependencies and emitted .js files", async () => {
    const problems: string[] = [];
    for (const pkgDir of BUILT_PACKAGES) {
      const pkg = JSON.parse(await readFile(path.join(REPO, pkgDir, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
      const deps = new Set(Object.keys(pkg.dependencies ?? {}));
      const files = await builtFiles(path.join(REPO, pkgDir, "dist"));
      expect(files.length, `${pkgDir}/dist has no .js files`).toBeGreaterThan(0);
      for (const file of files) {
        for (const spec of specifiers(await readFile(file, "utf8"))) {
          const where = `${path.relative(REPO, file)}: ${spec}`;
          if (spec.startsWith(".")) {
            // Node's ESM loader resolves the exact file: a relative import must name the emitted .js.
            if (!spec.endsWith(".js")) problems.push(`${where} (relative import without .js)`);
            continue;
          }
          if (spec.startsWith("node:") || builtinModules.includes(spec)) continue;
          const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] as string);
          // A devDependency is present in development but not in the production install.
          if (!deps.has(name)) problems.push(`${where} (not in ${pkgDir}/package.json dependencies)`);
          if (name === "tsx" || name === "typescript") problems.push(`${where} (a build tool at runtime)`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("runs with plain node: register, send and read back, then SIGTERM exits 0", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "anonchat-build-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const env: Record<string, string> = { DATA_DIR: dataDir, LOG_LEVEL: "info" };
    if (DB_KIND === "postgres") {
      const db = await createScratchDatabase(process.env.TEST_DATABASE_URL as string);
      cleanups.push(() => db.drop());
      env.DATABASE_URL = db.url;
    }
    // No NODE_OPTIONS and no --conditions: the workspace packages resolve to their dist/.
    const proc: ServerProcess = spawnServerProcess(await freePort(), env, [BUILT_MAIN]);
    cleanups.push(() => proc.stop("SIGKILL"));
    await proc.ready();

    const user = await registerLegacy(proc.url, "build");
    const roomId = await createRoomLegacy(proc.url, user.access_token);
    const sent = must(await trpcCall<Message>(proc.url, "room.send", { roomId, text: "from the build" }, { token: user.access_token }), "send");
    expect(sent.seq).toBe(1);
    const history = must(
      await trpcCall<{ messages: Message[] }>(proc.url, "room.history", { roomId }, { token: user.access_token, kind: "query" }),
      "history",
    );
    expect(history.messages.map((m) => m.text)).toEqual(["from the build"]);
    expectEnvelope(await api(proc.url, "GET", "/api/v1/status"), 200, "success");

    await proc.stop("SIGTERM");
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(proc.output()).not.toMatch(/"level":"error"/);
  }, 300_000);
});
