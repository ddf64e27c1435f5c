import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DB_KIND, liveClient, registerUser, startTestServer, waitFor, type TestServer } from "./harness.js";

/** The value of one sample line of a Prometheus exposition, or undefined. */
function sample(text: string, name: string, labels = ""): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `) || (labels === "" && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("operability: metrics and the OpenAPI document", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ env: { SEND_LIMIT: "5" } });
  });
  afterAll(async () => {
    await srv.stop();
  });
  const metrics = async () => {
    const res = await fetch(`${srv.url}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  it("counts requests by bounded route, messages in and out, delivery latency, sockets and subscriptions", async () => {
    const a = await registerUser(srv.url, "ma");
    const room = await a.client.room.create.mutate({ name: "metrics", maxMembers: 3 });
    const live = liveClient(srv.url, a.session);
    let got = 0;
    let started = false;
    const sub = live.client.room.onMessage.subscribe(
      { roomId: room.id, lastEventId: "0" },
      // Only messages: a subscription also carries presence (its first event).
      { onStarted: () => (started = true), onData: (e) => (e.data?.type === "message" ? got++ : undefined) },
    );
    await waitFor(() => started, 5000, "subscription");
    for (let i = 0; i < 3; i++) await a.client.room.send.mutate({ roomId: room.id, text: `m${i}` });
    await waitFor(() => got === 3, 5000, "delivery");
    await fetch(`${srv.url}/trpc/no.such,thing`);

    const text = await metrics();
    expect(sample(text, "anonchat_messages_in_total")).toBe(3);
    expect(sample(text, "anonchat_messages_out_total")).toBeGreaterThanOrEqual(3);
    expect(sample(text, "anonchat_delivery_latency_seconds_count")).toBeGreaterThanOrEqual(3);
    expect(sample(text, "anonchat_subscriptions")).toBe(1);
    expect(sample(text, "anonchat_websockets", '{protocol="trpc"}')).toBe(1);
    expect(sample(text, "anonchat_http_requests_total", '{method="POST",route="/trpc/room.send",status="200"}')).toBe(3);
    expect(text).toContain('route="/trpc/(unknown)"');
    expect(text).not.toContain("no.such");
    // prom-client writes a bucket's le first (label order carries no meaning in the format).
    expect(text).toMatch(/anonchat_http_request_duration_seconds_bucket\{le="\+Inf",route="\/trpc\/room\.send"\} 3/);

    for (let i = 0; i < 3; i++) await a.client.room.send.mutate({ roomId: room.id, text: `n${i}` }).catch(() => undefined);
    expect(sample(await metrics(), "anonchat_rate_limit_refusals_total", '{scope="/trpc/room.send"}')).toBe(1);
    sub.unsubscribe();
    live.close();
  });

  it("exposes the process's CPU, memory, event-loop lag and GC beside the server's own series, each once", async () => {
    const text = await metrics();
    for (const [name, type] of [
      ["process_cpu_seconds_total", "counter"],
      ["process_cpu_user_seconds_total", "counter"],
      ["process_resident_memory_bytes", "gauge"],
      ["nodejs_heap_size_used_bytes", "gauge"],
      ["nodejs_eventloop_lag_seconds", "gauge"],
      ["nodejs_eventloop_lag_p99_seconds", "gauge"],
      ["nodejs_active_handles_total", "gauge"],
    ] as const) {
      expect(text.split("\n").filter((l) => l === `# TYPE ${name} ${type}`)).toHaveLength(1);
      expect(sample(text, name)).toBeGreaterThanOrEqual(0);
    }
    expect(text).toContain("# TYPE nodejs_gc_duration_seconds histogram");
    expect(text).toContain("# TYPE anonchat_http_requests_total counter");
    // A second server in the same process keeps its own series and the one set of process metrics.
    const other = await startTestServer({});
    try {
      const otherText = await (await fetch(`${other.url}/metrics`)).text();
      expect(sample(otherText, "anonchat_messages_in_total")).toBe(0);
      expect(otherText.split("\n").filter((l) => l.startsWith("# TYPE process_cpu_seconds_total "))).toHaveLength(1);
    } finally {
      await other.stop();
    }
  });

  it("serves an OpenAPI 3.1 document of /api/v1 built from the shared schemas", async () => {
    const res = await fetch(`${srv.url}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, { pattern?: string; minimum?: number; maximum?: number }> } }> } }>>;
    };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/refresh",
        "/api/v1/auth/register",
        "/api/v1/auth/validate",
        "/api/v1/rooms/create",
        "/api/v1/rooms/remove",
        "/api/v1/rooms/kick",
        "/api/v1/rooms/ban",
        "/api/v1/rooms/unban",
        "/api/v1/rooms/transfer",
        "/api/v1/rooms/ws",
        "/api/v1/status",
      ].sort(),
    );
    const register = doc.paths["/api/v1/auth/register"]?.post?.requestBody?.content["application/json"]?.schema;
    expect(register?.properties.login?.pattern).toBe("^[A-Za-z0-9_-]{4,32}$");
    const create = doc.paths["/api/v1/rooms/create"]?.post?.requestBody?.content["application/json"]?.schema;
    expect(create?.properties.max_user).toMatchObject({ minimum: 1, maximum: 1000 });
  });
});

interface Cluster {
  url: string;
  stopServer(mode?: string): Promise<void>;
  startServer(): Promise<void>;
  stop(): Promise<void>;
}

// A dedicated cluster: stopping the shared one would break the tests running beside this one.
describe.runIf(DB_KIND === "postgres")("readiness follows the database", () => {
  it("answers 503 on /readyz while PostgreSQL is down and 200 again once it is back", async () => {
    const script = path.resolve(fileURLToPath(new URL("../../..", import.meta.url)), "scripts/pg-cluster.mjs");
    const { startCluster } = (await import(pathToFileURL(script).href)) as { startCluster: () => Promise<Cluster> };
    const cluster = await startCluster();
    const srv = await startTestServer({ databaseUrl: cluster.url });
    try {
      expect((await fetch(`${srv.url}/readyz`)).status).toBe(200);
      await cluster.stopServer("immediate");
      const down = await fetch(`${srv.url}/readyz`);
      expect(down.status).toBe(503);
      expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
      await cluster.startServer();
      let status = 0;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && status !== 200) {
        status = (await fetch(`${srv.url}/readyz`)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      expect(status).toBe(200);
    } finally {
      await srv.stop({ keepData: true });
      await cluster.stop();
    }
  });
});
