import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createLogger, loadConfig, startServer, type RunningServer } from "../../src/index.js";
import { startTestServer, TOPOLOGY, UNLIMITED_ENV, type TestServer } from "../harness.js";
import { startSplit, type SplitDeployment } from "../split-harness.js";
import { TEST_PRIVATE_KEY } from "./test-env.js";

/**
 * Every role this topology runs, each on its own port, for tests that send bad input to all of
 * them: the all-in-one server and a gateway in front of it (in this process, where onLog sees
 * their error lines), or the split deployment's gateway, auth and a chat replica (processes,
 * whose error lines are read from their output). The edge roles serve a small web client folder.
 */

export interface EdgeTarget {
  role: "all" | "gateway" | "auth" | "chat";
  port: number;
  url: string;
  wsUrl: string;
  /** Serves the web client (WEB_DIR): the roles at the edge. */
  servesStatic: boolean;
  /** Takes WebSocket upgrades (/trpc and the legacy socket). */
  servesSockets: boolean;
}

export interface EdgeTargets {
  targets: EdgeTarget[];
  /** The target clients normally talk to (all-in-one, or the split gateway). */
  front: EdgeTarget;
  /** Every error-level log line written so far, by any of the processes. */
  errorLines(): string[];
  stop(): Promise<void>;
}

const target = (role: EdgeTarget["role"], port: number): EdgeTarget => ({
  role,
  port,
  url: `http://127.0.0.1:${port}`,
  wsUrl: `ws://127.0.0.1:${port}`,
  servesStatic: role === "all" || role === "gateway",
  servesSockets: role !== "auth",
});

/** A web client folder: index.html, one hashed asset. */
export async function makeWebDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "anonchat-web-"));
  await mkdir(path.join(dir, "assets"));
  await writeFile(path.join(dir, "index.html"), "<!doctype html><title>AnonChat</title>");
  await writeFile(path.join(dir, "assets", "app-1234.js"), "console.log(1);");
  return dir;
}

export async function startEdgeTargets(env: Record<string, string> = {}): Promise<EdgeTargets> {
  const webDir = await makeWebDir();
  const cheap = { ARGON2_MEMORY_KIB: "1024", ARGON2_TIME_COST: "1", SHUTDOWN_TIMEOUT: "1", WEB_DIR: webDir, ...env };
  if (TOPOLOGY === "split") {
    const d: SplitDeployment = await startSplit({ env: cheap });
    const port = (name: string) => Number(new URL(d.procs.get(name)?.url ?? "http://x:0").port);
    const gateway = target("gateway", Number(new URL(d.url).port));
    return {
      targets: [gateway, target("auth", port("auth")), target("chat", port("chat1"))],
      front: gateway,
      errorLines: () => [...d.procs.values()].flatMap((p) => p.output().split("\n").filter((l) => l.includes('"level":"error"'))),
      async stop() {
        await d.stop();
        await rm(webDir, { recursive: true, force: true });
      },
    };
  }
  const errors: string[] = [];
  const onLog = (line: string) => {
    if (line.includes('"level":"error"')) errors.push(line.slice(0, 1500));
  };
  const srv: TestServer = await startTestServer({ env: { ...cheap, JWT_PRIVATE_KEY: TEST_PRIVATE_KEY }, onLog });
  const gatewayConfig = loadConfig({
    ...UNLIMITED_ENV,
    ...cheap,
    ROLE: "gateway",
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: srv.dataDir,
    AUTH_URL: srv.url,
    CHAT_URLS: srv.url,
    SERVICE_SECRET: randomBytes(32).toString("hex"),
    LOG_LEVEL: "debug",
  });
  const gateway: RunningServer = await startServer(gatewayConfig, createLogger("debug", {}, onLog));
  const front = target("all", srv.port);
  return {
    targets: [front, target("gateway", gateway.port)],
    front,
    errorLines: () => [...errors],
    async stop() {
      await gateway.close();
      await srv.stop();
      await rm(webDir, { recursive: true, force: true });
    },
  };
}
