/**
 * Delivery latency, cross-replica vs one process, measured in the same run on one PostgreSQL:
 *   node scripts/pg-cluster.mjs node --import ./apps/server/node_modules/tsx/dist/loader.mjs apps/server/test/measure-latency.ts
 * A subscriber on chat replica 1 receives messages sent through chat replica 2 (LISTEN/NOTIFY
 * path); then the same against an all-in-one server on the same cluster. Prints p50/p99/max.
 * Not a test: it prints figures and asserts nothing about speed.
 */
import { createTRPCClient, createWSClient, httpLink, wsLink } from "@trpc/client";
import WebSocket from "ws";
import type { AppRouter } from "@anonchat/api";
import { registerUser, startTestServer } from "./harness.js";
import { startSplit } from "./split-harness.js";

const COUNT = Number(process.env.LATENCY_MESSAGES ?? 400);
const RATE = Number(process.env.LATENCY_RATE ?? 100); // messages per second, paced

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function measure(label: string, sendUrl: string, subscribeUrl: string, authUrl: string) {
  const a = await registerUser(authUrl, "lat");
  const sender = createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${sendUrl}/trpc`, headers: { Authorization: `Bearer ${a.session.accessToken}` } })],
  });
  const room = await sender.room.create.mutate({ name: label.slice(0, 60), maxMembers: 2 });
  const ws = createWSClient({
    url: `${subscribeUrl.replace(/^http/, "ws")}/trpc`,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    connectionParams: { token: a.session.accessToken },
  });
  const sub = createTRPCClient<AppRouter>({ links: [wsLink({ client: ws })] });
  const latencies: number[] = [];
  let started = false;
  const s = sub.room.onMessage.subscribe(
    { roomId: room.id },
    {
      onStarted: () => (started = true),
      onData: ({ data }) => {
        if (data.type === "message") latencies.push(performance.timeOrigin + performance.now() - Number(data.message.text));
      },
    },
  );
  while (!started) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 300));
  const t0 = performance.now();
  for (let i = 0; i < COUNT; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await sender.room.send.mutate({ roomId: room.id, text: String(performance.timeOrigin + performance.now()) });
  }
  const deadline = Date.now() + 10_000;
  while (latencies.length < COUNT && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  s.unsubscribe();
  ws.close();
  const sorted = [...latencies].sort((x, y) => x - y);
  const f = (n: number) => `${n.toFixed(2)} ms`;
  return {
    label,
    delivered: `${latencies.length}/${COUNT}`,
    p50: f(percentile(sorted, 50)),
    p99: f(percentile(sorted, 99)),
    max: f(sorted.at(-1) ?? NaN),
  };
}

async function main() {
  if (!process.env.TEST_DATABASE_URL) throw new Error("run under scripts/pg-cluster.mjs (needs TEST_DATABASE_URL)");
  const split = await startSplit({ env: { LOG_LEVEL: "warn", ARGON2_MEMORY_KIB: "4096" } });
  const single = await startTestServer({ env: { ARGON2_MEMORY_KIB: "4096" } });
  try {
    const chat1 = `http://127.0.0.1:${split.procs.get("chat1")?.port}`;
    const chat2 = `http://127.0.0.1:${split.procs.get("chat2")?.port}`;
    const rows = [
      await measure("cross-replica (send via chat2, subscriber on chat1)", chat2, chat1, split.url),
      await measure("same replica in the split deployment (chat1 to chat1)", chat1, chat1, split.url),
      await measure("all-in-one process on the same PostgreSQL", single.url, single.url, single.url),
    ];
    console.table(rows);
    console.log(`${COUNT} messages at ${RATE}/s each; latency = receive time - send time (one clock).`);
  } finally {
    await split.stop();
    await single.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
