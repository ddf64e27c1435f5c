import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createScratchDatabase } from "@anonchat/db";

/**
 * The split deployment as real processes, the way docker-compose.yml runs it: one auth, N chat
 * replicas and a gateway, all on one PostgreSQL. Tests talk only to the gateway.
 */

const REPO = fileURLToPath(new URL("../../..", import.meta.url));
const MAIN = path.join(REPO, "apps/server/src/main.ts");
const TSX_LOADER = new URL("../node_modules/tsx/dist/loader.mjs", import.meta.url).href;

export interface Proc {
  name: string;
  port: number;
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

export interface SplitDeployment {
  url: string;
  wsUrl: string;
  databaseUrl: string;
  procs: Map<string, Proc>;
  /** Kills one process (e.g. a chat replica) with the given signal and waits for its exit. */
  kill(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a killed process again on its old port. */
  restart(name: string): Promise<void>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(p: Proc, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited (${p.child.exitCode}):\n${p.output().slice(-2000)}`);
    try {
      const res = await fetch(`http://127.0.0.1:${p.port}/readyz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${p.name} not ready in time:\n${p.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startSplit(opts: { env?: Record<string, string>; chatReplicas?: number } = {}): Promise<SplitDeployment> {
  const admin = process.env.TEST_DATABASE_URL;
  if (!admin) throw new Error("the split deployment needs PostgreSQL (TEST_DATABASE_URL)");
  const scratch = await createScratchDatabase(admin);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "anonchat-split-"));
  const authPort = await freePort();
  const chatPorts = await Promise.all(Array.from({ length: opts.chatReplicas ?? 2 }, () => freePort()));
  const gatewayPort = await freePort();
  const common: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: os.tmpdir(),
    HOST: "127.0.0.1",
    DATABASE_URL: scratch.url,
    DATA_DIR: dataDir,
    TRUST_PROXY: "loopback",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
    RATE_LIMIT_PER_IP: "1000000",
    LOGIN_FAILS_PER_IP: "1000000",
    SEND_LIMIT: "1000000",
    ...opts.env,
  };
  const authUrl = `http://127.0.0.1:${authPort}`;
  const specs = new Map<string, { port: number; env: Record<string, string> }>();
  specs.set("auth", { port: authPort, env: { ROLE: "auth" } });
  chatPorts.forEach((port, i) => specs.set(`chat${i + 1}`, { port, env: { ROLE: "chat", AUTH_URL: authUrl } }));
  specs.set("gateway", {
    port: gatewayPort,
    env: { ROLE: "gateway", AUTH_URL: authUrl, CHAT_URLS: chatPorts.map((p) => `http://127.0.0.1:${p}`).join(",") },
  });

  const procs = new Map<string, Proc>();
  const launch = (name: string): Proc => {
    const spec = specs.get(name) as { port: number; env: Record<string, string> };
    const child = spawn(process.execPath, ["--import", TSX_LOADER, MAIN], {
      cwd: REPO,
      env: { ...common, ...spec.env, PORT: String(spec.port) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-200_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const p: Proc = { name, port: spec.port, child, output: () => out, exited };
    procs.set(name, p);
    return p;
  };

  const stopAll = async () => {
    await Promise.all(
      [...procs.values()].map(async (p) => {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
        const t = setTimeout(() => p.child.kill("SIGKILL"), 8000);
        await p.exited;
        clearTimeout(t);
      }),
    );
  };
  try {
    // auth first: the others fetch its public key at start.
    await waitReady(launch("auth"));
    await Promise.all(chatPorts.map((_, i) => waitReady(launch(`chat${i + 1}`))));
    await waitReady(launch("gateway"));
  } catch (err) {
    await stopAll();
    await scratch.drop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }

  return {
    url: `http://127.0.0.1:${gatewayPort}`,
    wsUrl: `ws://127.0.0.1:${gatewayPort}`,
    databaseUrl: scratch.url,
    procs,
    async kill(name, signal = "SIGKILL") {
      const p = procs.get(name);
      if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
      p.child.kill(signal);
      await p.exited;
    },
    async restart(name) {
      await waitReady(launch(name));
    },
    async stop() {
      await stopAll();
      await scratch.drop().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
