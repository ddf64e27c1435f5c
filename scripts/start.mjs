#!/usr/bin/env node
// `npm start`: installs what is needed and runs the server on the embedded database (PGlite in
// ./.data) at http://localhost:8080 (PORT, HOST, DATA_DIR, DATABASE_URL... as in the README).
//
// Needs only Node.js 20+ and npm: pnpm 12 comes from PATH when it is there, else from the npm
// registry through npx. The server runs as our direct child (node + the tsx loader, no pnpm or tsx
// CLI in between), so SIGTERM/SIGINT reach it; we exit with its code.
//
// test.mjs imports the setup helpers below; main() only runs when this file is executed.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const PNPM_VERSION = "12.4.2";
const PNPM_MAJOR = PNPM_VERSION.split(".")[0];

export function log(msg) {
  process.stderr.write(`[${path.basename(process.argv[1] ?? "script")}] ${msg}\n`);
}

/** The environment for pnpm and everything under it. */
export function toolEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  // argon2 may be built from source: node-gyp must use the installed headers, never download them.
  // pnpm ignores nodedir in .npmrc, so it goes through the environment.
  if (!env.npm_config_nodedir && existsSync("/usr/include/node")) env.npm_config_nodedir = "/usr";
  // No telemetry calls home from CI machines.
  env.TURBO_TELEMETRY_DISABLED ??= "1";
  env.DO_NOT_TRACK ??= "1";
  return env;
}

function pnpmVersionOnPath(env) {
  const r = spawnSync("pnpm", ["--version"], { encoding: "utf8", env, cwd: os.tmpdir() });
  return r.status === 0 ? r.stdout.trim() : null;
}

let pnpmReady;
/**
 * Makes pnpm 12 runnable as plain `pnpm` for us and every child (turbo runs tasks through
 * `pnpm run`): the one on PATH if its major is right, else pnpm@PNPM_VERSION fetched by npx,
 * whose bin folder is then put first on PATH. Returns the environment to use.
 */
export function ensurePnpm() {
  if (pnpmReady) return pnpmReady;
  const env = toolEnv();
  const onPath = pnpmVersionOnPath(env);
  if (onPath && onPath.split(".")[0] === PNPM_MAJOR) {
    pnpmReady = env;
    return env;
  }
  log(`pnpm ${onPath ? onPath + " is on PATH, need " + PNPM_MAJOR + ".x" : "is not on PATH"}: using npx --yes pnpm@${PNPM_VERSION}`);
  // `npx -c` runs a shell line with the package's bin folder on PATH: ask it where pnpm is.
  const r = spawnSync("npx", ["--yes", "-p", `pnpm@${PNPM_VERSION}`, "-c", "command -v pnpm"], {
    encoding: "utf8",
    env: { ...process.env, npm_config_update_notifier: "false" }, // npm itself warns about nodedir
    cwd: os.tmpdir(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  const bin = r.status === 0 ? r.stdout.trim().split("\n").pop() : "";
  if (!bin || !existsSync(bin)) {
    throw new Error(`could not get pnpm@${PNPM_VERSION} through npx (exit ${r.status}); install it with: npm i -g pnpm@${PNPM_VERSION}`);
  }
  env.PATH = `${path.dirname(bin)}${path.delimiter}${env.PATH ?? ""}`;
  const v = pnpmVersionOnPath(env);
  if (!v || v.split(".")[0] !== PNPM_MAJOR) throw new Error(`pnpm from npx reports version ${v}`);
  pnpmReady = env;
  return env;
}

const children = new Set();
/** Runs a command with inherited stdio; resolves to its exit code (signals as 128+n). */
export function run(cmd, args, { env, cwd = ROOT } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: "inherit" });
    children.add(child);
    child.on("error", (e) => {
      children.delete(child);
      log(`${cmd}: ${e.message}`);
      resolve(127);
    });
    child.on("close", (code, signal) => {
      children.delete(child);
      resolve(code ?? 128 + (os.constants.signals[signal] ?? 0));
    });
  });
}

/** Forwards a signal to every child run() started (used by the scripts' signal handlers). */
export function signalChildren(sig) {
  for (const c of children) c.kill(sig);
}

/**
 * Calls onOrphaned("SIGTERM") once if our parent goes away: `npm start` runs us under `sh -c`,
 * and when a shell in between dies from a signal without passing it on we would live on unseen.
 */
export function watchParent(onOrphaned) {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      log("parent process exited: stopping");
      onOrphaned("SIGTERM");
    }
  }, 500);
  timer.unref();
  return () => clearInterval(timer);
}

/** pnpm install --frozen-lockfile; throws when it fails. Returns the environment to use. */
export async function ensureInstalled() {
  const env = ensurePnpm();
  log("pnpm install --frozen-lockfile");
  const code = await run("pnpm", ["install", "--frozen-lockfile"], { env });
  if (code !== 0) throw new Error(`pnpm install --frozen-lockfile failed (exit ${code})`);
  return env;
}

function webPackage() {
  const pkgFile = path.join(ROOT, "apps/web/package.json");
  if (!existsSync(pkgFile)) return null;
  try {
    const pkg = JSON.parse(readFileSync(pkgFile, "utf8"));
    return pkg.name === "@anonchat/web" && pkg.scripts?.build ? pkg : null;
  } catch {
    return null;
  }
}

/** The tsx ESM loader (it handles the workspace's TypeScript sources) as a file URL for --import. */
function tsxLoaderUrl() {
  const pkgDir = path.join(ROOT, "apps/server/node_modules/tsx");
  const pkg = JSON.parse(readFileSync(path.join(pkgDir, "package.json"), "utf8"));
  const entry = typeof pkg.exports?.["."] === "string" ? pkg.exports["."] : "./dist/loader.mjs";
  return pathToFileURL(path.join(pkgDir, entry)).href;
}

async function main() {
  let stopping = false;
  let server;
  // Until the server runs, a signal stops the setup; afterwards it is forwarded to the server.
  const onSignal = (sig) => {
    if (server) {
      server.kill(sig);
      return;
    }
    stopping = true;
    signalChildren(sig);
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, onSignal);
  watchParent(onSignal);

  let env;
  try {
    env = await ensureInstalled();
  } catch (e) {
    if (stopping) return 130;
    throw e;
  }
  if (stopping) return 130;

  // The web client is optional for the server: a failed build is reported, the API still starts.
  let webBuilt = false;
  if (webPackage()) {
    log("building the web client (pnpm --filter @anonchat/web build)");
    const code = await run("pnpm", ["--filter", "@anonchat/web", "build"], { env });
    if (stopping) return 130;
    webBuilt = code === 0;
    if (!webBuilt) log(`WARNING: building @anonchat/web failed (exit ${code}): starting the server without the web client`);
  }
  const webDist = path.join(ROOT, "apps/web/dist");
  const serverEnv = { ...process.env };
  if (!serverEnv.WEB_DIR && webBuilt && existsSync(path.join(webDist, "index.html"))) serverEnv.WEB_DIR = webDist;
  serverEnv.TSX_TSCONFIG_PATH ??= path.join(ROOT, "apps/server/tsconfig.json");

  // cwd stays the repository root: DATA_DIR defaults to ./.data relative to it.
  const main = path.join(ROOT, "apps/server/src/main.ts");
  server = spawn(process.execPath, ["--import", tsxLoaderUrl(), main], { cwd: ROOT, env: serverEnv, stdio: "inherit" });
  return new Promise((resolve) => {
    server.on("error", (e) => {
      log(`could not start the server: ${e.message}`);
      resolve(1);
    });
    server.on("exit", (code, signal) => resolve(code ?? 128 + (os.constants.signals[signal] ?? 0)));
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      log(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}
