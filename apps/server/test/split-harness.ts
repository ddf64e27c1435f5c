import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createScratchDatabase } from "@anonchat/db";
import { freePort, spawnServerProcess, type ServerProcess } from "./helpers/wire.js";

/**
 * The split deployment as real processes, the way docker-compose.yml runs it: one auth, N chat
 * replicas and a gateway, all on one PostgreSQL. Tests talk only to the gateway. With
 * TEST_REDIS_URL set (scripts/test.mjs's split-redis phase), the replicas use the Redis bus and
 * the Redis rate-limit store instead of PostgreSQL's.
 */

/** The environment that puts a deployment on the Redis bus and store at url. */
export function redisEnv(url: string): Record<string, string> {
  // One Redis serves every deployment of a test run: each gets its own namespace, as separate
  // deployments sharing a Redis in production would (user ids restart at 1 in each scratch
  // database, so shared send-limit counters would refuse one test's user for another's sends).
  return { BUS: "redis", REDIS_URL: url, RATE_LIMIT_STORE: "redis", REDIS_KEY_PREFIX: `test-${randomBytes(6).toString("hex")}:` };
}

export interface SplitDeployment {
  url: string;
  wsUrl: string;
  databaseUrl: string;
  /** The SERVICE_SECRET the processes share (to call auth's internal routes as a service would). */
  serviceSecret: string;
  procs: Map<string, ServerProcess>;
  /** Kills one process (e.g. a chat replica) with the given signal and waits for its exit. */
  kill(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a killed process again on its old port. */
  restart(name: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startSplit(opts: { env?: Record<string, string>; chatReplicas?: number } = {}): Promise<SplitDeployment> {
  const admin = process.env.TEST_DATABASE_URL;
  if (!admin) throw new Error("the split deployment needs PostgreSQL (TEST_DATABASE_URL)");
  const scratch = await createScratchDatabase(admin);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "anonchat-split-"));
  const authPort = await freePort();
  const chatPorts = await Promise.all(Array.from({ length: opts.chatReplicas ?? 2 }, () => freePort()));
  const gatewayPort = await freePort();
  const serviceSecret = randomBytes(32).toString("hex");
  const common: Record<string, string> = {
    DATABASE_URL: scratch.url,
    DATA_DIR: dataDir,
    TRUST_PROXY: "loopback",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
    RATE_LIMIT_PER_IP: "1000000",
    RATE_LIMIT_PER_USER: "1000000",
    CALL_QUEUE_PER_USER: "100000",
    LOGIN_FAILS_PER_IP: "1000000",
    REGISTRATIONS_PER_IP: "1000000",
    SEND_LIMIT: "1000000",
    SERVICE_SECRET: serviceSecret,
    ...(process.env.TEST_REDIS_URL ? redisEnv(process.env.TEST_REDIS_URL) : {}),
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

  const procs = new Map<string, ServerProcess>();
  const launch = (name: string): ServerProcess => {
    const spec = specs.get(name) as { port: number; env: Record<string, string> };
    const p = spawnServerProcess(spec.port, { ...common, ...spec.env });
    procs.set(name, p);
    return p;
  };
  const stopAll = () => Promise.all([...procs.values()].map((p) => p.stop("SIGTERM")));
  try {
    // auth first: the others fetch its public key at start.
    await launch("auth").ready();
    await Promise.all(chatPorts.map((_, i) => launch(`chat${i + 1}`).ready()));
    await launch("gateway").ready();
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
    serviceSecret,
    procs,
    async kill(name, signal = "SIGKILL") {
      await procs.get(name)?.stop(signal);
    },
    async restart(name) {
      await launch(name).ready();
    },
    async stop() {
      await stopAll();
      await scratch.drop().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
