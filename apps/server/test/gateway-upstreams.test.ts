import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeFrame, FrameBoundaries, serverFrame, textFrame } from "../src/gateway/tunnel.js";
import { DB_KIND, registerUser } from "./harness.js";
import { legacySocket, trpcRequest, trpcSocket, answerTo, subscriptionSeqs } from "./helpers/raw-ws.js";
import { freePort, sleep, spawnServerProcess, type ServerProcess } from "./helpers/wire.js";
import { startSplit, type SplitDeployment } from "./split-harness.js";

/**
 * The gateway in front of real auth and chat processes on PostgreSQL, with replicas that die,
 * freeze, do not resolve or never answer: requests keep being answered (by a healthy replica, or
 * a 502/504 within the timeouts), readiness follows the upstreams, and SIGTERM says goodbye on
 * every piped socket the way a chat replica does.
 */

// Short enough for a test; the defaults are in config.ts and the README.
const UPSTREAM_ENV = {
  UPSTREAM_RESOLVE_SECONDS: "1",
  UPSTREAM_HEALTH_INTERVAL_SECONDS: "1",
  UPSTREAM_HEALTH_TIMEOUT_MS: "500",
  UPSTREAM_CONNECT_TIMEOUT_MS: "500",
  UPSTREAM_TIMEOUT_MS: "5000",
  UPSTREAM_EJECT_SECONDS: "30",
};
/** Longer than any answer may take through the gateway (a timeout, then another replica). */
const CLIENT_DEADLINE_MS = 20_000;

describe.runIf(DB_KIND === "postgres")("gateway upstreams (real processes)", () => {
  let d: SplitDeployment;
  const extra: ServerProcess[] = [];
  let frozen: net.Server;
  let frozenUrl = "";
  let token = "";
  const held: net.Socket[] = [];

  beforeAll(async () => {
    d = await startSplit({ env: UPSTREAM_ENV });
    const alice = await registerUser(d.url, "gu").catch((err: unknown) => {
      throw new Error(`${String(err)}\n${(d.procs.get("gateway") as ServerProcess).output().slice(-3000)}`);
    });
    token = alice.session.accessToken;
    // Accepts connections, reads them, never answers: a replica hung in its event loop.
    frozen = net.createServer((s) => {
      held.push(s);
      s.on("error", () => undefined);
      s.resume();
    });
    await new Promise<void>((r) => frozen.listen(0, "127.0.0.1", () => r()));
    frozenUrl = `http://127.0.0.1:${(frozen.address() as net.AddressInfo).port}`;
  }, 180_000);

  afterAll(async () => {
    for (const p of extra) await p.stop("SIGKILL");
    for (const s of held) s.destroy();
    frozen?.close();
    for (const name of ["chat1", "chat2"]) d?.procs.get(name)?.child.kill("SIGCONT");
    await d?.stop();
  });

  const url = (name: string) => (d.procs.get(name) as ServerProcess).url;

  /** Another gateway process, on the deployment's auth, with its own CHAT_URLS. */
  async function gateway(chatUrls: string[]): Promise<ServerProcess> {
    const p = spawnServerProcess(await freePort(), {
      ROLE: "gateway",
      AUTH_URL: url("auth"),
      CHAT_URLS: chatUrls.join(","),
      SERVICE_SECRET: d.serviceSecret,
      DATABASE_URL: d.databaseUrl,
      TRUST_PROXY: "loopback",
      RATE_LIMIT_PER_IP: "1000000",
      REGISTRATIONS_PER_IP: "1000000",
      LOG_LEVEL: "info",
      ...UPSTREAM_ENV,
    });
    extra.push(p);
    await p.ready();
    return p;
  }

  /** One authenticated chat query (GET: safe to retry) or mutation (POST: never sent twice). */
  async function call(base: string, kind: "query" | "mutation"): Promise<number> {
    try {
      const res =
        kind === "query"
          ? await fetch(`${base}/trpc/room.list`, {
              headers: { Authorization: `Bearer ${token}` },
              signal: AbortSignal.timeout(CLIENT_DEADLINE_MS),
            })
          : await fetch(`${base}/trpc/room.create`, {
              method: "POST",
              headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
              body: JSON.stringify({ name: "gw", maxMembers: 2 }),
              signal: AbortSignal.timeout(CLIENT_DEADLINE_MS),
            });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0; // no answer within the deadline: a hang
    }
  }

  async function calls(base: string, kind: "query" | "mutation", n: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(await call(base, kind));
    return out;
  }

  async function readyz(base: string): Promise<number> {
    return (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(CLIENT_DEADLINE_MS) })).status;
  }

  async function until(cond: () => Promise<boolean>, label: string, timeoutMs = 15_000) {
    const start = Date.now();
    while (!(await cond())) {
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${label}`);
      await sleep(100);
    }
  }

  it("an unresolvable host in CHAT_URLS costs nothing while another replica is healthy", async () => {
    const g = await gateway(["http://no-such-replica.invalid:8080", url("chat1")]);
    expect(await calls(g.url, "query", 12)).toEqual(Array(12).fill(200));
    expect(await calls(g.url, "mutation", 6)).toEqual(Array(6).fill(200));
    expect(await readyz(g.url)).toBe(200);
    expect(g.output()).toContain("upstream host does not resolve");
  }, 60_000);

  it("a replica that accepts connections but never answers is never in rotation", async () => {
    const g = await gateway([frozenUrl, url("chat1")]);
    expect(await calls(g.url, "query", 8)).toEqual(Array(8).fill(200));
    expect(await calls(g.url, "mutation", 8)).toEqual(Array(8).fill(200));
  }, 60_000);

  it("a replica killed: every request, mutations included, is answered by the other", async () => {
    expect(await calls(d.url, "mutation", 4)).toEqual(Array(4).fill(200));
    await d.kill("chat2", "SIGKILL");
    expect(await calls(d.url, "mutation", 10)).toEqual(Array(10).fill(200));
    expect(await calls(d.url, "query", 10)).toEqual(Array(10).fill(200));
    expect(await readyz(d.url)).toBe(200);
    await d.restart("chat2");
  }, 120_000);

  it("a replica frozen (SIGSTOP): no request hangs, queries go to the other, and the frozen one is ejected", async () => {
    // Both replicas healthy in the gateway's view again (its checks run every second).
    await sleep(2500);
    const chat2 = d.procs.get("chat2") as ServerProcess;
    chat2.child.kill("SIGSTOP");
    try {
      // A query that meets the frozen replica times out there and is sent to the other one.
      expect(await calls(d.url, "query", 6)).toEqual(Array(6).fill(200));
      // Mutations: each is answered, 200 or (had it reached the frozen replica) 504; never sent twice.
      const first = await calls(d.url, "mutation", 6);
      for (const s of first) expect([200, 504]).toContain(s);
      // Ejected and unhealthy by now: everything goes to the healthy replica.
      await sleep(1500);
      expect(await calls(d.url, "mutation", 8)).toEqual(Array(8).fill(200));
      expect(await readyz(d.url)).toBe(200);
      const gatewayLog = (d.procs.get("gateway") as ServerProcess).output();
      expect(gatewayLog).toMatch(/upstream (ejected|unhealthy)/);
    } finally {
      chat2.child.kill("SIGCONT");
    }
  }, 120_000);

  it("a replica frozen (SIGSTOP): its piped sockets are closed with 1012, the others stay; a client resumes on the live one with nothing lost", async () => {
    // A gateway of its own: the one of the tests before still has chat2 ejected.
    const g = await gateway([url("chat1"), url("chat2")]);
    const alice = await registerUser(g.url, "gf");
    const room = await alice.client.room.create.mutate({ name: "frozen", maxMembers: 5 });
    const wsUrl = g.url.replace("http", "ws");
    const onChat2 = async () => {
      const text = await (await fetch(`${url("chat2")}/metrics`)).text();
      return text.split("\n").filter((l) => l.startsWith("anonchat_websockets{")).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    };
    const before = await onChat2();
    // Upgrades go to the replicas in turn: six sockets reach both.
    const socks: { s: ReturnType<typeof trpcSocket>; id: number }[] = [];
    for (let i = 0; i < 6; i++) {
      const s = trpcSocket(wsUrl, alice.session.accessToken);
      await s.opened;
      const id = trpcRequest(s, "subscription", "room.onMessage", { roomId: room.id, lastEventId: "0" });
      expect((await answerTo(s, id, 30_000)).result?.type).toBe("started");
      socks.push({ s, id });
    }
    const frozenOnes = (await onChat2()) - before;
    expect(frozenOnes).toBeGreaterThan(0);
    expect(frozenOnes).toBeLessThan(6);
    const first = await alice.client.room.send.mutate({ roomId: room.id, text: "before the freeze" });
    for (const { s, id } of socks) await s.until(() => subscriptionSeqs(s, id).includes(first.seq), 30_000, "the first message");

    const chat2 = d.procs.get("chat2") as ServerProcess;
    chat2.child.kill("SIGSTOP");
    try {
      // Failing checks (1 s apart, 500 ms each) take chat2 out; after 2 in a row its sockets are
      // closed at a frame boundary. Generous bounds: a hang, not a pace.
      await until(async () => socks.filter(({ s }) => s.closed).length >= frozenOnes, "the frozen replica's sockets to close", 60_000);
      const closed = socks.filter(({ s }) => s.closed);
      expect(closed).toHaveLength(frozenOnes);
      for (const { s } of closed) expect(s.closed?.code).toBe(1012);
      // Meanwhile the chat goes on, on the live replica.
      const during = await alice.client.room.send.mutate({ roomId: room.id, text: "during the freeze" });
      for (const { s, id } of socks.filter(({ s }) => !s.closed)) {
        await s.until(() => subscriptionSeqs(s, id).includes(during.seq), 30_000, "the message on a live socket");
      }
      // A moved client reconnects through the gateway and resumes from the last seq it saw.
      const moved = closed[0] as (typeof socks)[number];
      const last = Math.max(...subscriptionSeqs(moved.s, moved.id));
      const again = trpcSocket(wsUrl, alice.session.accessToken);
      await again.opened;
      const id = trpcRequest(again, "subscription", "room.onMessage", { roomId: room.id, lastEventId: String(last) });
      expect((await answerTo(again, id, 30_000)).result?.type).toBe("started");
      await again.until(() => subscriptionSeqs(again, id).includes(during.seq), 30_000, "the missed message after resuming");
      const seqs = [...subscriptionSeqs(moved.s, moved.id), ...subscriptionSeqs(again, id)];
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(seqs).toContain(during.seq);
      again.ws.close();
      expect(g.output()).toMatch(/upstream down: moving its sockets/);
    } finally {
      chat2.child.kill("SIGCONT");
      for (const { s } of socks) s.ws.close();
    }
  }, 180_000);

  it("/readyz answers 503 while no chat replica is healthy, and 200 again once one is", async () => {
    const g = await gateway([url("chat1")]);
    expect(await readyz(g.url)).toBe(200);
    const chat1 = d.procs.get("chat1") as ServerProcess;
    chat1.child.kill("SIGSTOP");
    try {
      await until(async () => (await readyz(g.url)) === 503, "readyz 503");
      // Liveness is not readiness: the process runs.
      expect((await fetch(`${g.url}/healthz`)).status).toBe(200);
      // A request meanwhile is answered by the gateway within its timeouts (504 or 502), not held.
      expect([502, 504]).toContain(await call(g.url, "query"));
    } finally {
      chat1.child.kill("SIGCONT");
    }
    await until(async () => (await readyz(g.url)) === 200, "readyz 200 again");
    expect(await calls(g.url, "query", 4)).toEqual(Array(4).fill(200));
  }, 90_000);

  it("SIGTERM: piped tRPC sockets get the reconnect notice and 1012, legacy sockets 1012; the process exits 0", async () => {
    const g = await gateway([url("chat1"), url("chat2")]);
    const alice = await registerUser(g.url, "gd");
    const room = await alice.client.room.create.mutate({ name: "drain", maxMembers: 5 });
    const wsUrl = g.url.replace("http", "ws");
    const trpc = trpcSocket(wsUrl, alice.session.accessToken);
    await trpc.opened;
    const sub = trpcRequest(trpc, "subscription", "room.onMessage", { roomId: room.id, lastEventId: "0" });
    expect((await answerTo(trpc, sub)).result?.type).toBe("started");
    const legacy = legacySocket(wsUrl, room.id, alice.session.accessToken);
    await legacy.opened;
    // Traffic on both sockets right up to the signal, so the notice meets frames in flight. The
    // legacy socket streams from the live edge once it has joined, after the 101: a message sent
    // through the API at once could precede its stream. Its own frame is read only once the stream
    // listens, so its echo shows the socket is live (bounds for a hang, not paces).
    legacy.send("before");
    // (Legacy frames carry the text in base64, as the original server sent it.)
    const b64 = (text: string) => Buffer.from(text).toString("base64");
    await legacy.until(() => legacy.frames.some((f) => f.includes(b64("before"))), 30_000, "the echo on the legacy socket");
    await trpc.until(() => trpc.frames.some((f) => f.includes("before")), 30_000, "the message on the tRPC socket");
    await alice.client.room.send.mutate({ roomId: room.id, text: "just before" });
    await legacy.until(() => legacy.frames.some((f) => f.includes(b64("just before"))), 30_000, "a message on the legacy socket");

    await g.stop("SIGTERM");
    const exit = await g.exited;
    expect(exit.code).toBe(0);
    const [trpcClosed, legacyClosed] = await Promise.all([trpc.waitClose(), legacy.waitClose()]);
    expect(trpc.json()).toContainEqual({ id: null, method: "reconnect" });
    expect(trpcClosed.code).toBe(1012);
    expect(legacyClosed.code).toBe(1012);
    // Every frame the client got is whole (the ws client closes with 1002 on a torn frame).
    for (const f of trpc.frames.filter((x) => x.startsWith("{"))) expect(() => JSON.parse(f)).not.toThrow();
  }, 90_000);
});

describe("frame boundaries of a piped WebSocket", () => {
  const stream = Buffer.concat([
    textFrame("hello"),
    serverFrame(0x2, Buffer.alloc(300, 7)), // 16-bit length
    Buffer.from([0x01, 0x03, 0x61, 0x62, 0x63]), // text, FIN clear: a fragmented message starts
    serverFrame(0x9, Buffer.from("ping")), // a control frame in between
    Buffer.from([0x80, 0x02, 0x64, 0x65]), // continuation with FIN: the message ends
    closeFrame(1000, "bye"),
  ]);
  // Where a frame of the gateway's own may go: after each frame, but not inside the fragmented
  // message (after its first fragment or the ping inside it).
  const first = 7;
  const second = first + 4 + 300;
  const fragmentEnd = second + 5 + 6 + 4;
  const expected = [first, second, fragmentEnd, stream.length];

  it("finds every boundary, whatever the chunking", () => {
    for (let size = 1; size <= stream.length; size += size < 20 ? 1 : 37) {
      const fb = new FrameBoundaries();
      const found: number[] = [];
      for (let at = 0; at < stream.length; at += size) {
        const chunk = stream.subarray(at, Math.min(at + size, stream.length));
        let pos = 0;
        while (pos < chunk.length) {
          pos = fb.advance(chunk, pos);
          if (fb.atBoundary() && (found.length === 0 || found[found.length - 1] !== at + pos)) found.push(at + pos);
        }
      }
      expect(found, `chunks of ${size}`).toEqual(expected);
    }
  });
});
