import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MESSAGES, type Message, type Room } from "@anonchat/shared";
import { registerUser, startTestServer, waitFor, type TestServer } from "./harness.js";
import { api } from "./helpers/legacy.js";
import { answerTo, legacySocket, RawSocket, subscriptionSeqs, trpcRequest, trpcSocket } from "./helpers/raw-ws.js";
import { QUICK_ENV } from "./helpers/test-env.js";
import { sleep, trpcCall } from "./helpers/wire.js";

/**
 * WebSocket attacks beyond gateway.test.ts (a foreign Origin refused before the upgrade),
 * legacy-ws.test.ts (a legacy frame over the message limit closes 1009) and subscription.test.ts
 * (a non-member's subscription is FORBIDDEN): sockets that never authenticate, oversized tRPC
 * frames, peers that stop answering pings, readers that stop reading under a flood, the per-user
 * connection cap (also when sockets race), and a non-member over the tRPC socket.
 */

const FAST_HASH = QUICK_ENV;

const sockets: RawSocket[] = [];
const track = <T extends RawSocket>(s: T): T => (sockets.push(s), s);
afterAll(() => {
  for (const s of sockets) s.close();
});

describe("limits of the socket itself (WS_AUTH_TIMEOUT=1, WS_PING_INTERVAL=1, MAX_WS_PAYLOAD_BYTES=4096, MAX_CONNECTIONS_PER_USER=3)", () => {
  let srv: TestServer;
  const errorLogs: string[] = [];
  beforeAll(async () => {
    srv = await startTestServer({
      env: { ...FAST_HASH, WS_AUTH_TIMEOUT: "1", WS_PING_INTERVAL: "1", MAX_WS_PAYLOAD_BYTES: "4096", MAX_CONNECTIONS_PER_USER: "3",
        // The busy-socket test keeps 300 calls in flight: answered, not refused.
        WS_MAX_IN_FLIGHT: "1000" },
      onLog: (l) => {
        if (l.includes('"level":"error"')) errorLogs.push(l.slice(0, 300));
      },
    });
  });
  afterAll(async () => {
    await srv.stop();
  });

  const healthy = async () => expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);

  it("a tRPC socket that never authenticates is closed 4401, however busy it keeps itself", async () => {
    const silent = track(new RawSocket(`${srv.wsUrl}/trpc`));
    const announcedOnly = track(trpcSocket(srv.wsUrl));
    const noToken = track(new RawSocket(`${srv.wsUrl}/trpc?connectionParams=1`));
    noToken.ws.once("open", () => noToken.send(JSON.stringify({ method: "connectionParams", data: {} })));
    const chatty = track(new RawSocket(`${srv.wsUrl}/trpc`));
    await Promise.all([silent, announcedOnly, noToken, chatty].map((s) => s.opened));
    // Keeps the connection busy with keep-alives and public calls, never with a token.
    const busy = setInterval(() => {
      chatty.send("PING");
      trpcRequest(chatty, "mutation", "auth.logout", { refreshToken: "not-a-token" });
    }, 150);
    try {
      // No bound on when (issue 14: a loaded machine decides wall times). The close itself is the
      // property: chatty sends something every 150 ms, so a timer that activity re-armed would
      // never fire and the wait below, which only ends a hang, fails.
      for (const s of [silent, announcedOnly, noToken, chatty]) {
        const c = await s.waitClose(30_000);
        expect(c.code).toBe(4401);
      }
    } finally {
      clearInterval(busy);
    }
    // The public calls were served while it lasted (it is the timer, not a failure, that closed it).
    expect(chatty.json().some((m) => (m.result as { data?: unknown } | undefined)?.data !== undefined)).toBe(true);
  });

  it("an oversized frame closes 1009 (tRPC, before and after authentication, and legacy); the process and other sockets stay up", async () => {
    const u = await registerUser(srv.url, "big");
    const room = await u.client.room.create.mutate({ name: "r", maxMembers: 5 });
    const bystander = track(trpcSocket(srv.wsUrl, u.session.accessToken));
    await bystander.opened;
    expect((await answerTo(bystander, trpcRequest(bystander, "query", "auth.me"))).result).toBeDefined();

    const authed = track(trpcSocket(srv.wsUrl, u.session.accessToken));
    await authed.opened;
    await answerTo(authed, trpcRequest(authed, "query", "auth.me"));
    authed.send(JSON.stringify({ id: 99, method: "mutation", params: { path: "room.send", input: { roomId: room.id, text: "x".repeat(5000) } } }));
    const anonymous = track(trpcSocket(srv.wsUrl));
    await anonymous.opened;
    anonymous.send(Buffer.alloc(1024 * 1024, 0x7b));
    const legacy = track(legacySocket(srv.wsUrl, room.id, u.session.accessToken));
    await legacy.opened;
    await sleep(200);
    legacy.send("y".repeat(20_000));

    for (const s of [authed, anonymous, legacy]) expect((await s.waitClose(5000)).code).toBe(1009);
    await healthy();
    expect(bystander.closed).toBeUndefined();
    expect((await answerTo(bystander, trpcRequest(bystander, "query", "auth.me"))).result).toBeDefined();
    // Nothing of the oversized frames was stored.
    expect((await u.client.room.history.query({ roomId: room.id })).messages).toEqual([]);
  });

  it("an oversized frame on a busy tRPC socket still closes 1009 (not 1006), and is not logged as a server error", async () => {
    const u = await registerUser(srv.url, "busy");
    const room = await u.client.room.create.mutate({ name: "r", maxMembers: 5 });
    await u.client.room.send.mutate({ roomId: room.id, text: "m".repeat(3000) });
    errorLogs.length = 0;
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = track(trpcSocket(srv.wsUrl, u.session.accessToken));
      await s.opened;
      await answerTo(s, trpcRequest(s, "query", "auth.me"));
      // The server is busy writing answers when the oversized frame arrives.
      for (let k = 0; k < 300; k++) trpcRequest(s, "query", "room.history", { roomId: room.id });
      await sleep(20);
      s.send("z".repeat(70_000));
      codes.push((await s.waitClose(5000)).code);
    }
    await healthy();
    expect.soft(codes).toEqual([1009, 1009, 1009, 1009, 1009]);
    // A client's oversized frame is the client's fault: no error-level line (alerts) for it.
    expect.soft(errorLogs).toEqual([]);
  });

  it(
    "a peer that stops answering pings is dropped after one unanswered ping (legacy and tRPC); one that answers stays",
    async () => {
      const u = await registerUser(srv.url, "ping");
      const v = await registerUser(srv.url, "ping"); // two users: four sockets would pass the cap of 3
      const room = await u.client.room.create.mutate({ name: "r", maxMembers: 5 });
      const deafLegacy = track(legacySocket(srv.wsUrl, room.id, u.session.accessToken, { autoPong: false }));
      const liveLegacy = track(legacySocket(srv.wsUrl, room.id, u.session.accessToken));
      // tRPC's keep-alive is the text frame PING; a well-behaved client answers PONG.
      const deafTrpc = track(trpcSocket(srv.wsUrl, v.session.accessToken));
      const liveTrpc = track(trpcSocket(srv.wsUrl, v.session.accessToken));
      liveTrpc.ws.on("message", (d) => {
        if (String(d) === "PING") liveTrpc.send("PONG");
      });
      // Counted, not timed (issue 14): how many keep-alives each socket got before the deaf ones
      // were dropped says "dropped for not answering" without a wall-time bound.
      const pings = (s: RawSocket) => {
        const n = { count: 0 };
        s.ws.on("ping", () => n.count++);
        s.ws.on("message", (d) => void (String(d) === "PING" && n.count++));
        return n;
      };
      const [deafLegacyPings, liveLegacyPings, deafTrpcPings, liveTrpcPings] = [deafLegacy, liveLegacy, deafTrpc, liveTrpc].map(pings) as [
        { count: number }, { count: number }, { count: number }, { count: number },
      ];
      await Promise.all([deafLegacy, liveLegacy, deafTrpc, liveTrpc].map((s) => s.opened));
      // The waits only end a hang: a deaf peer that is never dropped fails them.
      const legacyDrop = await deafLegacy.waitClose(60_000);
      expect(legacyDrop.code).toBe(1006);
      // Legacy: each tick pings; the next tick finds no pong and terminates. So exactly one ping
      // went unanswered; a server that tolerated missed pongs (or never checked) would send more.
      expect(deafLegacyPings.count).toBe(1);
      // The live legacy socket got the same ping and answered it: it is open after the deaf one's drop.
      expect(liveLegacyPings.count).toBeGreaterThanOrEqual(1);
      expect(liveLegacy.closed).toBeUndefined();
      const trpcDrop = await deafTrpc.waitClose(60_000);
      expect(trpcDrop.code).toBe(1006);
      // tRPC: one PING, then the pong wait runs out and the socket is terminated (no second PING).
      expect(deafTrpcPings.count).toBe(1);
      // The live tRPC socket answered every PING and got the next one each time: it outlived the
      // deaf one's pong wait by several pings, so the drop was for silence, not for age.
      expect(liveTrpcPings.count).toBeGreaterThan(deafTrpcPings.count);
      expect(liveLegacyPings.count).toBeGreaterThan(deafLegacyPings.count);
      expect(liveLegacy.closed).toBeUndefined();
      expect(liveTrpc.closed).toBeUndefined();
      expect((await answerTo(liveTrpc, trpcRequest(liveTrpc, "query", "auth.me"))).result).toBeDefined();
    },
    150_000,
  );

  it("the per-user connection cap holds across both protocols: the 4th socket is closed 4429; closing one frees a place", async () => {
    const u = await registerUser(srv.url, "cap");
    const other = await registerUser(srv.url, "cap");
    const room = await u.client.room.create.mutate({ name: "r", maxMembers: 5 });
    const a = track(trpcSocket(srv.wsUrl, u.session.accessToken));
    const b = track(trpcSocket(srv.wsUrl, u.session.accessToken));
    await Promise.all([a.opened, b.opened]);
    for (const s of [a, b]) await answerTo(s, trpcRequest(s, "query", "auth.me"));
    const c = track(legacySocket(srv.wsUrl, room.id, u.session.accessToken));
    await c.opened;
    await sleep(300);
    expect(c.closed).toBeUndefined();

    const fourthTrpc = track(trpcSocket(srv.wsUrl, u.session.accessToken));
    expect((await fourthTrpc.waitClose(3000)).code).toBe(4429);
    const fourthLegacy = track(legacySocket(srv.wsUrl, room.id, u.session.accessToken));
    expect((await fourthLegacy.waitClose(3000)).code).toBe(4429);
    // Another user is not affected.
    const theirs = track(trpcSocket(srv.wsUrl, other.session.accessToken));
    await theirs.opened;
    expect((await answerTo(theirs, trpcRequest(theirs, "query", "auth.me"))).result).toBeDefined();

    a.close();
    await a.waitClose(2000);
    // The server learns of the close a little after the client does; how long that takes is the
    // machine's business (issue 14), so the test does not guess it with a sleep. It retries: each
    // refusal closes its socket 4429 (so it takes no place), and a cap that never freed the place
    // refuses every try.
    let again: RawSocket | undefined;
    for (let i = 0; i < 50 && !again; i++) {
      const s = track(trpcSocket(srv.wsUrl, u.session.accessToken));
      await s.opened;
      const answer = await answerTo(s, trpcRequest(s, "query", "auth.me"), 15_000).catch(() => undefined);
      if (answer?.result !== undefined) again = s;
      else {
        expect((await s.waitClose(15_000)).code).toBe(4429);
        await sleep(50);
      }
    }
    expect(again, "closing one socket never freed a place under the cap").toBeDefined();
    expect(again?.closed).toBeUndefined();
  });

  it.each(["legacy", "tRPC"] as const)("the cap holds when ten %s sockets of one user connect at once", async (kind) => {
    const u = await registerUser(srv.url, "race");
    const room = await u.client.room.create.mutate({ name: "r", maxMembers: 5 });
    const burst = Array.from({ length: 10 }, () =>
      track(kind === "legacy" ? legacySocket(srv.wsUrl, room.id, u.session.accessToken) : trpcSocket(srv.wsUrl, u.session.accessToken)),
    );
    await Promise.allSettled(burst.map((s) => s.opened));
    // Not "after 1.5 s" (issue 14): wait for the refusals themselves. A cap that let a fourth in
    // never reaches 7 refusals and fails below once the wait (a hang bound only) gives up.
    for (let i = 0; i < 600 && burst.filter((s) => s.closed?.code === 4429).length < 7 && !burst.every((s) => s.closed); i++) await sleep(50);
    // Whatever else was going to be refused has had its turn: every upgrade above completed.
    const open = burst.filter((s) => s.closed === undefined);
    const refused = burst.filter((s) => s.closed?.code === 4429);
    console.log(`[attack-ws] ${kind} burst of 10 with a cap of 3: ${open.length} open, ${refused.length} refused with 4429`);
    expect(open.length).toBeLessThanOrEqual(3);
    expect(open.length + refused.length).toBe(10);
  });

  it("a non-member can neither send to nor read a room over the tRPC socket", async () => {
    const owner = await registerUser(srv.url, "own");
    const outsider = await registerUser(srv.url, "out");
    const room = await owner.client.room.create.mutate({ name: "private", maxMembers: 5 });
    const s = track(trpcSocket(srv.wsUrl, outsider.session.accessToken));
    await s.opened;
    const sub = trpcRequest(s, "subscription", "room.onMessage", { roomId: room.id, lastEventId: "0" });
    const send = trpcRequest(s, "mutation", "room.send", { roomId: room.id, text: "let me in" });
    const hist = trpcRequest(s, "query", "room.history", { roomId: room.id });
    const get = trpcRequest(s, "query", "room.get", { roomId: room.id });
    // A subscription answers "started" first, then fails.
    await s.until(() => s.json().some((m) => m.id === sub && m.error !== undefined), 5000, "the subscription's error");
    expect(s.json().filter((m) => m.id === sub && (m.result as { type?: string } | undefined)?.type === "data")).toEqual([]);
    for (const id of [sub, send, hist, get]) {
      const a = id === sub ? (s.json().find((m) => m.id === sub && m.error !== undefined) as Awaited<ReturnType<typeof answerTo>>) : await answerTo(s, id);
      expect(a.error?.data?.code, JSON.stringify(a)).toBe("FORBIDDEN");
      expect(a.error?.message).toBe(MESSAGES.notMember);
    }
    // Traffic in the room reaches nothing on the outsider's socket.
    for (let i = 0; i < 3; i++) await owner.client.room.send.mutate({ roomId: room.id, text: `secret ${i}` });
    await sleep(300);
    expect(s.frames.join("\n")).not.toContain("secret");
    expect((await owner.client.room.history.query({ roomId: room.id })).messages.map((m) => m.text)).toEqual(["secret 0", "secret 1", "secret 2"]);
    // /api/v1 neither: removing is for the owner only.
    const rm = await api(srv.url, "DELETE", "/api/v1/rooms/remove", { token: outsider.session.accessToken, body: { room_id: room.id } });
    expect(rm.status).toBe(403);
  });
});

describe("a reader that stops reading while its room is flooded (WS_SEND_BUFFER_MAX=16384, SUBSCRIBER_QUEUE_MAX=50)", () => {
  let srv: TestServer;
  const warnings: string[] = [];
  beforeAll(async () => {
    srv = await startTestServer({
      env: { ...FAST_HASH, WS_SEND_BUFFER_MAX: "16384", SUBSCRIBER_QUEUE_MAX: "50" },
      onLog: (l) => {
        if (l.includes('"level":"warn"') || l.includes('"level":"error"')) warnings.push(l.slice(0, 400));
      },
    });
  });
  afterAll(async () => {
    await srv.stop();
  });

  it(
    "is dropped (tRPC and legacy) once its buffer passes the bound; a reading subscriber gets everything; memory stays bounded",
    async () => {
      const owner = await registerUser(srv.url, "fld");
      const room: Room = await owner.client.room.create.mutate({ name: "flood", maxMembers: 5 });
      const hub = srv.server.services.hub;
      if (!hub) throw new Error("no hub");
      const before = hub.subscriberCount();

      const fast = track(trpcSocket(srv.wsUrl, owner.session.accessToken));
      const slow = track(trpcSocket(srv.wsUrl, owner.session.accessToken));
      const slowLegacy = track(legacySocket(srv.wsUrl, room.id, owner.session.accessToken));
      await Promise.all([fast.opened, slow.opened, slowLegacy.opened]);
      const fastSub = trpcRequest(fast, "subscription", "room.onMessage", { roomId: room.id, lastEventId: "0" });
      const slowSub = trpcRequest(slow, "subscription", "room.onMessage", { roomId: room.id, lastEventId: "0" });
      await Promise.all([answerTo(fast, fastSub), answerTo(slow, slowSub)]);
      await waitFor(() => hub.subscriberCount() === before + 3, 5000, "three subscribers");
      // Stop reading: the TCP window closes, then the server's send buffer grows.
      slow.ws.pause();
      slowLegacy.ws.pause();

      const text = "😀".repeat(4000); // 16 kB of UTF-8 per message
      const baseRss = process.memoryUsage().rss;
      let peakRss = baseRss;
      let sent = 0;
      let last = 0;
      const deadline = Date.now() + 60_000;
      const flood = async () => {
        while (hub.subscriberCount() > before + 1 && sent < 3000 && Date.now() < deadline) {
          sent++;
          const r = await trpcCall<Message>(srv.url, "room.send", { roomId: room.id, text }, { token: owner.session.accessToken });
          if (!r.ok) throw new Error(`send failed: ${r.status} ${r.error.code}`);
          last = Math.max(last, r.data.seq);
          peakRss = Math.max(peakRss, process.memoryUsage().rss);
        }
      };
      await Promise.all([flood(), flood(), flood(), flood()]);
      const grownMiB = (peakRss - baseRss) / 1024 / 1024;
      console.log(`[attack-ws] flood: ${last} messages of 16 kB until both slow readers were dropped; RSS grew ${grownMiB.toFixed(0)} MiB`);
      // Both slow readers were dropped by the server, the reading one was not.
      expect(hub.subscriberCount()).toBe(before + 1);
      expect(last).toBeLessThan(3000);
      expect(grownMiB).toBeLessThan(400);
      await fast.until(() => subscriptionSeqs(fast, fastSub).length >= last, 30_000, "the reading subscriber to get everything");
      expect(subscriptionSeqs(fast, fastSub)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
      expect(fast.closed).toBeUndefined();
      // Once they read again, the slow ones find their connection gone.
      slow.ws.resume();
      slowLegacy.ws.resume();
      await slow.waitClose(20_000);
      await slowLegacy.waitClose(20_000);
      expect(warnings.join("\n")).toMatch(/slow/);
      expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
    },
    120_000,
  );
});
