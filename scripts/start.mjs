#!/usr/bin/env node
// `npm start`: installs and builds what changed, then runs the built server on the embedded
// database (PGlite in ./.data) at http://localhost:8080 (PORT, HOST, DATA_DIR, DATABASE_URL... as in
// the README).
//
// Needs only Node.js 20+ and npm: pnpm 12 comes from PATH when it is there, else from the npm
// registry through npx. Each step is skipped when its inputs are unchanged since it last
// succeeded (a hash of them, kept in node_modules/.cache/anonchat/):
//   - pnpm install --frozen-lockfile: the lockfile, pnpm-workspace.yaml and the package.json files;
//   - tsc -b tsconfig.build.json (the server and its packages to dist/; tsc is incremental too):
//     their sources, package.json and tsconfig files, the lockfile;
//   - the web client's vite build (apps/web/dist): its sources, config, the shared package it
//     bundles, the lockfile.
// The server runs as our direct child (`node apps/server/dist/main.js`, no pnpm or tsx in between),
// so SIGTERM/SIGINT reach it; we exit with its code.
//
// test.mjs imports the setup helpers below; main() only runs when this file is executed.

import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

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

const STAMP_DIR = path.join(ROOT, "node_modules/.cache/anonchat");

/**
 * A hash of the inputs: files, and every file under folders (node_modules, dist and dot-folders
 * left out), by path and content. Missing inputs count as missing, so they change it too.
 */
export function fingerprint(inputs) {
  const hash = createHash("sha256");
  const add = (rel) => {
    const abs = path.join(ROOT, rel);
    let st;
    try {
      st = statSync(abs);
    } catch {
      hash.update(`missing ${rel}\0`);
      return;
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(abs).sort()) {
        if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
        add(path.posix.join(rel, name));
      }
    } else {
      hash.update(`file ${rel}\0`);
      hash.update(readFileSync(abs));
      hash.update("\0");
    }
  };
  for (const rel of inputs) add(rel);
  return hash.digest("hex");
}

function readStamp(name) {
  try {
    return readFileSync(path.join(STAMP_DIR, name), "utf8").trim();
  } catch {
    return null;
  }
}

function writeStamp(name, value) {
  mkdirSync(STAMP_DIR, { recursive: true });
  writeFileSync(path.join(STAMP_DIR, name), `${value}\n`);
}

/** The workspace's package.json files (the install's inputs besides the lockfile). */
function packageJsonFiles() {
  const out = ["package.json"];
  for (const group of ["apps", "packages", "tooling"]) {
    const dir = path.join(ROOT, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      if (existsSync(path.join(dir, name, "package.json"))) out.push(`${group}/${name}/package.json`);
    }
  }
  if (existsSync(path.join(ROOT, "bench/package.json"))) out.push("bench/package.json");
  return out;
}

/**
 * pnpm install --frozen-lockfile, unless the lockfile, pnpm-workspace.yaml, .npmrc and the
 * package.json files are what the last successful install saw (and node_modules is there); throws
 * when it fails. ANONCHAT_FORCE_INSTALL=1 installs anyway. Returns the environment to use, with
 * pnpm 12 runnable unless { pnpm: false } and the install was skipped (finding pnpm costs a few
 * hundred milliseconds that a start with nothing to do can spare).
 */
export async function ensureInstalled({ pnpm = true } = {}) {
  const inputs = fingerprint(["pnpm-lock.yaml", "pnpm-workspace.yaml", ".npmrc", ...packageJsonFiles()]);
  const installed = existsSync(path.join(ROOT, "node_modules/.modules.yaml"));
  if (installed && process.env.ANONCHAT_FORCE_INSTALL !== "1" && readStamp("install") === inputs) {
    log("dependencies unchanged since the last install: skipping pnpm install");
    return pnpm ? ensurePnpm() : toolEnv();
  }
  const env = ensurePnpm();
  log("pnpm install --frozen-lockfile");
  const code = await run("pnpm", ["install", "--frozen-lockfile"], { env });
  if (code !== 0) throw new Error(`pnpm install --frozen-lockfile failed (exit ${code})`);
  writeStamp("install", inputs);
  return env;
}

/** What the server's build reads: its packages' sources and configs, and the dependencies' types. */
const SERVER_PACKAGES = ["packages/shared", "packages/db", "packages/core", "packages/api", "packages/rest", "apps/server"];
const SERVER_BUILD_INPUTS = [
  "pnpm-lock.yaml",
  "tsconfig.build.json",
  "tooling/typescript",
  ...SERVER_PACKAGES.flatMap((p) => [`${p}/src`, `${p}/package.json`, `${p}/tsconfig.build.json`]),
];
export const SERVER_MAIN = path.join(ROOT, "apps/server/dist/main.js");

/**
 * Compiles the server and its packages to dist/ (tsc -b tsconfig.build.json) unless their inputs
 * are unchanged since the last successful build and the output is there. Returns tsc's exit code.
 */
export async function buildServer(env) {
  const inputs = fingerprint(SERVER_BUILD_INPUTS);
  const outputs = SERVER_PACKAGES.every((p) => existsSync(path.join(ROOT, p, "dist/index.js"))) && existsSync(SERVER_MAIN);
  if (outputs && readStamp("server-build") === inputs) {
    log("server sources unchanged since the last build: skipping tsc -b");
    return 0;
  }
  log("building the server (tsc -b tsconfig.build.json)");
  const tsc = path.join(ROOT, "node_modules/typescript/bin/tsc");
  const code = await run(process.execPath, [tsc, "-b", "tsconfig.build.json"], { env });
  if (code === 0) writeStamp("server-build", inputs);
  return code;
}

/**
 * Builds the web client (pnpm --filter @anonchat/web build) unless its inputs are unchanged since
 * the last successful build and apps/web/dist/index.html is there. Returns the exit code.
 */
export async function buildWeb(env) {
  const inputs = fingerprint([
    "pnpm-lock.yaml",
    "tooling/typescript",
    "apps/web/src",
    "apps/web/public",
    "apps/web/index.html",
    "apps/web/package.json",
    "apps/web/vite.config.ts",
    "apps/web/tsconfig.json",
    // Bundled into the client from its sources.
    "packages/shared/src",
    "packages/shared/package.json",
  ]);
  if (existsSync(path.join(ROOT, "apps/web/dist/index.html")) && readStamp("web-build") === inputs) {
    log("web client unchanged since the last build: skipping vite build");
    return 0;
  }
  log("building the web client (pnpm --filter @anonchat/web build)");
  const code = await run("pnpm", ["--filter", "@anonchat/web", "build"], { env: { ...env, ...ensurePnpm() } });
  if (code === 0) writeStamp("web-build", inputs);
  else rmSync(path.join(STAMP_DIR, "web-build"), { force: true });
  return code;
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

async function main() {
  const started = Date.now();
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
    env = await ensureInstalled({ pnpm: false });
  } catch (e) {
    if (stopping) return 130;
    throw e;
  }
  if (stopping) return 130;

  const built = await buildServer(env);
  if (stopping) return 130;
  if (built !== 0) throw new Error(`building the server failed (tsc -b exit ${built})`);

  // The web client is optional for the server: a failed build is reported, the API still starts.
  let webBuilt = false;
  if (webPackage()) {
    const code = await buildWeb(env);
    if (stopping) return 130;
    webBuilt = code === 0;
    if (!webBuilt) log(`WARNING: building @anonchat/web failed (exit ${code}): starting the server without the web client`);
  }
  const webDist = path.join(ROOT, "apps/web/dist");
  const serverEnv = { ...process.env };
  if (!serverEnv.WEB_DIR && webBuilt && existsSync(path.join(webDist, "index.html"))) serverEnv.WEB_DIR = webDist;

  // cwd stays the repository root: DATA_DIR defaults to ./.data relative to it.
  log(`starting node ${path.relative(ROOT, SERVER_MAIN)} (setup took ${((Date.now() - started) / 1000).toFixed(1)}s)`);
  server = spawn(process.execPath, [SERVER_MAIN], { cwd: ROOT, env: serverEnv, stdio: "inherit" });
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
