import { createTRPCClient, createWSClient, wsLink } from "@trpc/client";
import WebSocket from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AppRouter } from "@anonchat/api";
import { MESSAGES } from "@anonchat/shared";
import { liveClient, registerUser, startTestServer, waitFor, type Client, type TestServer } from "./harness.js";
import {
  expectSeqs,
  fullHistory,
  range,
  recordRoom,
  sleep,
  startTcpProxy,
  unknownRoomId,
  type SubscriptionLog,
} from "./helpers/trpc.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.stop();
});

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type User = Awaited<ReturnType<typeof registerUser>>;

/**
 * A room with `members` users joined after the owner. Each join is a timeline item with its own
 * seq, so the room's first message has seq `members + 1`.
 */
async function roomWith(members: number) {
  const owner = await registerUser(srv.url, "own");
  const room = await owner.client.room.create.mutate({ name: "live", maxMembers: 10 });
  const others: User[] = [];
  for (let i = 0; i < members; i++) {
    const u = await registerUser(srv.url, "sub");
    await u.client.room.join.mutate({ roomId: room.id });
    others.push(u);
  }
  return { owner, room, others, joins: members };
}

/** The stored events a log received (messages and "removed"), without presence and typing. */
const storedEvents = (log: SubscriptionLog) => log.events.filter((e) => e.data.type === "message" || e.data.type === "removed");

/** Subscribes through the README recipe and records what arrives. */
function subscribe(user: User, roomId: string, lastEventId?: string, url = srv.url): SubscriptionLog {
  const live = liveClient(url, user.session);
  const log = recordRoom(live.client, { roomId, ...(lastEventId !== undefined ? { lastEventId } : {}) });
  cleanups.push(() => live.close(), () => log.unsubscribe());
  return log;
}

async function send(client: Client, roomId: string, n: number, label = "m") {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) seqs.push((await client.room.send.mutate({ roomId, text: `${label}${i}` })).seq);
  return seqs;
}

/**
 * Sends a sentinel and waits for it: every message before it has then arrived too (delivery is in
 * seq order), so a duplicate or a gap shows up in the recorded list.
 */
async function settle(client: Client, roomId: string, logs: SubscriptionLog[]) {
  const { seq } = await client.room.send.mutate({ roomId, text: "sentinel" });
  await waitFor(() => logs.every((l) => l.seqs().includes(seq)), 10_000, `sentinel ${seq}`);
  return seq;
}

const u0 = (list: User[]): User => {
  const u = list[0];
  if (!u) throw new Error("no member");
  return u;
};

describe("room.onMessage", () => {
  it("without lastEventId starts at the live edge: nothing earlier is replayed", async () => {
    const { owner, room, others } = await roomWith(1);
    await send(owner.client, room.id, 3, "old");
    const log = subscribe(u0(others), room.id);
    await waitFor(() => log.started, 5000, "started");
    // Probe until the stream is attached: the first probe that arrives marks the live edge.
    let first: number | undefined;
    for (let i = 0; i < 25 && first === undefined; i++) {
      const { seq } = await owner.client.room.send.mutate({ roomId: room.id, text: `probe${i}` });
      await waitFor(() => log.seqs().includes(seq), 400, "probe").then(
        () => (first = seq),
        () => undefined,
      );
    }
    if (first === undefined) throw new Error("no probe arrived");
    // seq 1 is the member's join, 2 to 4 the old messages.
    expect(first).toBeGreaterThanOrEqual(5);
    await send(owner.client, room.id, 3, "new");
    const last = await settle(owner.client, room.id, [log]);
    expectSeqs(log, range(first, last));
    expect(log.error).toBeUndefined();
  });

  it("with lastEventId from history delivers every later message exactly once, in order", async () => {
    const { owner, room, others, joins } = await roomWith(1);
    const b = u0(others);
    await send(owner.client, room.id, 3, "seen");
    const history = await b.client.room.history.query({ roomId: room.id });
    const lastRead = history.messages.at(-1)?.seq;
    expect(lastRead).toBe(joins + 3);
    // Sent between the history read and the subscribe: must not be lost.
    await send(owner.client, room.id, 2, "between");
    const log = subscribe(b, room.id, String(lastRead));
    await send(owner.client, room.id, 4, "after");
    const last = await settle(owner.client, room.id, [log]);
    expect(last).toBe(joins + 10);
    expectSeqs(log, range(joins + 4, joins + 10));
    expect(log.messages().map((m) => m.text)).toEqual(["between0", "between1", "after0", "after1", "after2", "after3", "sentinel"]);
    expect(log.messages()).toEqual((await fullHistory(b.client, room.id)).slice(joins + 3));
  });

  it("delivers every message to two subscribers of the same room", async () => {
    const { owner, room, others, joins } = await roomWith(2);
    const [b, c] = others as [User, User];
    const logs = [subscribe(b, room.id, "0"), subscribe(c, room.id, "0"), subscribe(owner, room.id, "0")];
    const sent = await Promise.all([send(owner.client, room.id, 5, "o"), send(b.client, room.id, 5, "b")]);
    expect(sent.flat().sort((x, y) => x - y)).toEqual(range(joins + 1, joins + 10));
    const last = await settle(c.client, room.id, logs);
    for (const log of logs) expectSeqs(log, range(1, last));
    const [first, ...rest] = logs.map((l) => l.messages());
    for (const r of rest) expect(r).toEqual(first);
  });

  it("resumes after the socket drops: every message arrives exactly once, in order", async () => {
    const { owner, room, others, joins } = await roomWith(1);
    const proxy = await startTcpProxy(srv.port);
    cleanups.push(() => proxy.close());
    const log = subscribe(u0(others), room.id, "0", proxy.url);
    await waitFor(() => log.started, 5000, "started");

    const TOTAL = 60;
    const sending = (async () => {
      for (let i = 0; i < TOTAL; i++) {
        await owner.client.room.send.mutate({ roomId: room.id, text: `m${i}` });
        await sleep(15);
      }
    })();
    await waitFor(() => log.seqs().length >= 5, 10_000, "first messages");
    proxy.dropAll();
    await waitFor(() => log.seqs().length >= 25, 10_000, "messages after the first drop");
    proxy.dropAll();
    await sending;
    const last = await settle(owner.client, room.id, [log]);
    expect(last).toBe(joins + TOTAL + 1);
    expectSeqs(log, range(1, last));
    // The socket really went away twice and the client came back through new connections.
    expect(log.reconnects).toBeGreaterThanOrEqual(2);
    expect(proxy.accepted()).toBeGreaterThanOrEqual(3);
    expect(log.error).toBeUndefined();
    expect(log.completed).toBe(false);
  });

  it("refuses a non-member (FORBIDDEN), an unknown room (NOT_FOUND) and bad input (BAD_REQUEST)", async () => {
    const { room } = await roomWith(0);
    const c = await registerUser(srv.url, "out");
    const cases: Array<[string, { roomId: string; lastEventId?: string }, string, string | RegExp]> = [
      ["FORBIDDEN", { roomId: room.id }, "FORBIDDEN", MESSAGES.notMember],
      ["NOT_FOUND", { roomId: unknownRoomId() }, "NOT_FOUND", MESSAGES.roomNotFound],
      ["malformed roomId", { roomId: "nope" }, "BAD_REQUEST", /roomId/],
      ["malformed lastEventId", { roomId: room.id, lastEventId: "abc" }, "BAD_REQUEST", /lastEventId/],
    ];
    for (const [label, input, code, message] of cases) {
      const live = liveClient(srv.url, c.session);
      cleanups.push(() => live.close());
      const log = recordRoom(live.client, input);
      cleanups.push(() => log.unsubscribe());
      await waitFor(() => log.error !== undefined, 5000, `${label} error`);
      expect(log.error?.data?.code, label).toBe(code);
      expect(log.error?.message, label).toMatch(message);
      expect(log.events).toEqual([]);
    }
  });

  it("answers a lastEventId past the largest stored seq without a server error", async () => {
    const { owner, room } = await roomWith(0);
    await send(owner.client, room.id, 2);
    for (const lastEventId of ["2147483648", "999999999999999"]) {
      const log = subscribe(owner, room.id, lastEventId);
      // Either refused as a bad input, or a quiet stream; a server error is neither.
      await waitFor(() => log.error !== undefined, 1500, "error").catch(() => undefined);
      if (log.error) {
        expect(log.error.data?.code, log.error.message).toBe("BAD_REQUEST");
        expect(log.error.message).toContain("lastEventId");
      }
      // Quiet: no stored event (a live stream would still start with its presence snapshot).
      expect(storedEvents(log)).toEqual([]);
    }
  });

  it("serves queries and mutations over the same WebSocket as the subscription", async () => {
    const { owner, room } = await roomWith(0);
    const ws = createWSClient({
      url: `${srv.wsUrl}/trpc`,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      connectionParams: { token: owner.session.accessToken },
    });
    cleanups.push(() => ws.close());
    const client = createTRPCClient<AppRouter>({ links: [wsLink({ client: ws })] });
    expect(await client.auth.me.query()).toEqual(owner.session.user);
    const log = recordRoom(client, { roomId: room.id, lastEventId: "0" });
    cleanups.push(() => log.unsubscribe());
    const sent = await client.room.send.mutate({ roomId: room.id, text: "over ws", clientMsgId: "ws-1" });
    expect(sent).toMatchObject({ seq: 1, text: "over ws", clientMsgId: "ws-1" });
    await waitFor(() => log.seqs().length === 1, 5000, "delivery");
    expect(log.messages()).toEqual([sent]);
    expect(await client.room.history.query({ roomId: room.id })).toEqual({ messages: [sent], hasMore: false });
  });

  it("sends {type:'removed'} and completes every subscription when the room is removed", async () => {
    const { owner, room, others } = await roomWith(1);
    const logs = [subscribe(u0(others), room.id, "0"), subscribe(owner, room.id, "0")];
    await send(owner.client, room.id, 2);
    // seq 1 is the member's join.
    await waitFor(() => logs.every((l) => l.seqs().length === 3), 5000, "messages");
    await owner.client.room.remove.mutate({ roomId: room.id });
    await waitFor(() => logs.every((l) => l.completed || l.stopped), 5000, "completion");
    for (const log of logs) {
      expectSeqs(log, [1, 2, 3]);
      const end = log.events.at(-1);
      expect(end?.data).toEqual({ type: "removed" });
      // Tracked with the room's last seq, or untracked.
      expect([undefined, "3"]).toContain(end?.id);
      expect(storedEvents(log)).toHaveLength(4);
      expect(log.error).toBeUndefined();
    }
  });

  it("completes the leaver's subscription on room.leave; the others keep streaming", async () => {
    const { owner, room, others, joins } = await roomWith(2);
    const [b, c] = others as [User, User];
    const leaver = subscribe(b, room.id, "0");
    const stayer = subscribe(c, room.id, "0");
    await send(owner.client, room.id, 2);
    const sent = joins + 2;
    await waitFor(() => leaver.seqs().length === sent && stayer.seqs().length === sent, 5000, "messages");
    expect(await b.client.room.leave.mutate({ roomId: room.id })).toEqual({ ok: true });
    await waitFor(() => leaver.completed || leaver.stopped, 5000, "leaver's subscription to complete");
    await send(owner.client, room.id, 2);
    const last = await settle(owner.client, room.id, [stayer]);
    expectSeqs(stayer, range(1, last));
    // The leave is an item (seq sent + 1); the leaver's stream may end with it or just before it.
    const leaverSeqs = leaver.seqs();
    expect([range(1, sent), range(1, sent + 1)]).toContainEqual(leaverSeqs);
    if (leaverSeqs.length > sent) expect(leaver.messages().at(-1)).toMatchObject({ kind: "leave", senderId: b.session.user.id });
    expect(storedEvents(leaver)).toHaveLength(leaverSeqs.length);
    expect(leaver.error).toBeUndefined();
    expect(stayer.completed).toBe(false);
  });
});
