import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MESSAGES } from "@anonchat/shared";
import { httpClient, registerUser, startTestServer, type TestServer } from "./harness.js";
import { expectAnsweredOrBadRequest, expectTRPCError, fullHistory, range, unknownRoomId } from "./helpers/trpc.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.stop();
});

/**
 * A room owned by a fresh user, with `members` more users joined. Each join is a timeline item
 * with its own seq (1 to members), so the first chat message has seq members + 1.
 */
async function roomWith(members: number, maxMembers = 10) {
  const owner = await registerUser(srv.url, "own");
  const room = await owner.client.room.create.mutate({ name: "msgs", maxMembers });
  const others = await Promise.all(Array.from({ length: members }, () => registerUser(srv.url, "mem")));
  for (const u of others) await u.client.room.join.mutate({ roomId: room.id });
  return { owner, room, others };
}

describe("room.send", () => {
  it("returns the stored Message, with consecutive seqs after the join item and clientMsgId null when absent", async () => {
    const { owner, room, others } = await roomWith(1);
    const [b] = others;
    if (!b) throw new Error("no member");
    const m1 = await owner.client.room.send.mutate({ roomId: room.id, text: "one" });
    const m2 = await b.client.room.send.mutate({ roomId: room.id, text: "two", clientMsgId: "b-1" });
    const m3 = await owner.client.room.send.mutate({ roomId: room.id, text: "three" });
    // seq 1 is b's join.
    expect(m1).toEqual({
      roomId: room.id,
      seq: 2,
      senderId: owner.session.user.id,
      senderLogin: owner.session.user.login,
      text: "one",
      createdAt: expect.any(String),
      clientMsgId: null,
      kind: "text",
      editedAt: null,
      deletedAt: null,
      subjectId: null,
      subjectLogin: null,
    });
    expect(new Date(m1.createdAt).toISOString()).toBe(m1.createdAt);
    expect(m2).toMatchObject({ seq: 3, senderId: b.session.user.id, senderLogin: b.session.user.login, clientMsgId: "b-1" });
    expect(m3).toMatchObject({ seq: 4, clientMsgId: null });
    const history = await owner.client.room.history.query({ roomId: room.id });
    expect(history.hasMore).toBe(false);
    expect(history.messages[0]).toMatchObject({ seq: 1, kind: "join", senderId: b.session.user.id, text: "" });
    expect(history.messages.slice(1)).toEqual([m1, m2, m3]);
  });

  it("trims text; refuses empty, whitespace-only and over-4000-character text naming the field", async () => {
    const { owner, room } = await roomWith(0);
    expect((await owner.client.room.send.mutate({ roomId: room.id, text: "  hi there \n" })).text).toBe("hi there");
    for (const text of ["", "   ", " \n\t ", "x".repeat(4001)]) {
      const err = await expectTRPCError(owner.client.room.send.mutate({ roomId: room.id, text }), "BAD_REQUEST");
      expect(err.message).toContain("text");
    }
    const max = await owner.client.room.send.mutate({ roomId: room.id, text: "y".repeat(4000) });
    expect(max.text).toHaveLength(4000);
    // The bound applies after trimming.
    const padded = await owner.client.room.send.mutate({ roomId: room.id, text: ` ${"z".repeat(4000)} ` });
    expect(padded.text).toBe("z".repeat(4000));
    expect((await fullHistory(owner.client, room.id)).map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it("refuses a clientMsgId that is empty or longer than 64 characters", async () => {
    const { owner, room } = await roomWith(0);
    for (const clientMsgId of ["", "c".repeat(65)]) {
      const err = await expectTRPCError(owner.client.room.send.mutate({ roomId: room.id, text: "x", clientMsgId }), "BAD_REQUEST");
      expect(err.message).toContain("clientMsgId");
    }
    expect((await owner.client.room.send.mutate({ roomId: room.id, text: "x", clientMsgId: "c".repeat(64) })).seq).toBe(1);
  });

  it("returns the first message for a repeated clientMsgId from the same user in the same room", async () => {
    const { owner, room, others } = await roomWith(1);
    const [b] = others;
    if (!b) throw new Error("no member");
    const first = await owner.client.room.send.mutate({ roomId: room.id, text: "original", clientMsgId: "dup" });
    const again = await owner.client.room.send.mutate({ roomId: room.id, text: "retry with other text", clientMsgId: "dup" });
    expect(again).toEqual(first);
    // Another user's identical clientMsgId is another message.
    const fromB = await b.client.room.send.mutate({ roomId: room.id, text: "b's own", clientMsgId: "dup" });
    // seq 1 is b's join, 2 the original.
    expect(fromB).toMatchObject({ seq: 3, senderId: b.session.user.id, text: "b's own", clientMsgId: "dup" });
    // So is the same user's in another room.
    const other = await owner.client.room.create.mutate({ name: "other", maxMembers: 2 });
    expect((await owner.client.room.send.mutate({ roomId: other.id, text: "elsewhere", clientMsgId: "dup" })).seq).toBe(1);
    const next = await owner.client.room.send.mutate({ roomId: room.id, text: "next" });
    expect(next.seq).toBe(4);
    expect((await fullHistory(owner.client, room.id)).map((m) => m.text)).toEqual(["", "original", "b's own", "next"]);
  });

  it("stores one message for 20 concurrent sends with the same clientMsgId", async () => {
    const { owner, room } = await roomWith(0);
    const token = owner.session.accessToken;
    // Separate clients: 20 separate HTTP requests, not one batch.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        httpClient(srv.url, token).room.send.mutate({ roomId: room.id, text: `attempt ${i}`, clientMsgId: "once" }),
      ),
    );
    const history = await fullHistory(owner.client, room.id);
    expect(history).toHaveLength(1);
    for (const r of results) expect(r).toEqual(history[0]);
  });

  it("numbers concurrent sends from several users with consecutive seqs, no gap or duplicate", async () => {
    const { owner, room, others } = await roomWith(4);
    const joins = others.length;
    const senders = [owner, ...others];
    const perUser = 10;
    const sent = await Promise.all(
      senders.flatMap((u, ui) =>
        Array.from({ length: perUser }, (_, i) =>
          httpClient(srv.url, u.session.accessToken).room.send.mutate({ roomId: room.id, text: `u${ui}-m${i}` }),
        ),
      ),
    );
    const total = senders.length * perUser;
    // seqs 1 to joins are the members' joins.
    expect(sent.map((m) => m.seq).sort((x, y) => x - y)).toEqual(range(joins + 1, joins + total));
    const history = await fullHistory(owner.client, room.id);
    expect(history.map((m) => m.seq)).toEqual(range(1, joins + total));
    const chat = history.filter((m) => m.kind === "text");
    expect(chat.map((m) => m.text).sort()).toEqual(sent.map((m) => m.text).sort());
    for (const u of senders) expect(chat.filter((m) => m.senderId === u.session.user.id)).toHaveLength(perUser);
  });

  it("answers text or a clientMsgId holding a NUL character without a server error", async () => {
    const { owner, room } = await roomWith(0);
    const sent = [
      await expectAnsweredOrBadRequest(owner.client.room.send.mutate({ roomId: room.id, text: "a\u0000b" }), "text"),
      await expectAnsweredOrBadRequest(
        owner.client.room.send.mutate({ roomId: room.id, text: "ok", clientMsgId: "id\u0000" }),
        "clientMsgId",
      ),
    ].filter((m) => m !== undefined);
    // Whatever was accepted is stored as returned.
    expect(await fullHistory(owner.client, room.id)).toEqual(sent);
  });

  it("is for members only", async () => {
    const { room } = await roomWith(0);
    const c = await registerUser(srv.url, "out");
    await expectTRPCError(c.client.room.send.mutate({ roomId: room.id, text: "hi" }), "FORBIDDEN", MESSAGES.notMember);
    await expectTRPCError(c.client.room.send.mutate({ roomId: unknownRoomId(), text: "hi" }), "NOT_FOUND");
    await expectTRPCError(httpClient(srv.url).room.send.mutate({ roomId: room.id, text: "hi" }), "UNAUTHORIZED");
  });
});

describe("room.history", () => {
  const TOTAL = 120;
  let ctx: Awaited<ReturnType<typeof roomWith>>;
  beforeAll(async () => {
    ctx = await roomWith(0);
    for (let i = 1; i <= TOTAL; i++) await ctx.owner.client.room.send.mutate({ roomId: ctx.room.id, text: `m${i}` });
  });

  it("returns the newest 50, oldest first, with hasMore, by default", async () => {
    const page = await ctx.owner.client.room.history.query({ roomId: ctx.room.id });
    expect(page.messages.map((m) => m.seq)).toEqual(range(TOTAL - 49, TOTAL));
    expect(page.messages.map((m) => m.text)).toEqual(range(TOTAL - 49, TOTAL).map((i) => `m${i}`));
    expect(page.hasMore).toBe(true);
  });

  it("pages backwards with beforeSeq through every message exactly once", async () => {
    const seen: number[][] = [];
    let beforeSeq: number | undefined;
    for (let guard = 0; guard < 50; guard++) {
      const page = await ctx.owner.client.room.history.query({ roomId: ctx.room.id, limit: 7, ...(beforeSeq ? { beforeSeq } : {}) });
      const seqs = page.messages.map((m) => m.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      seen.unshift(seqs);
      const first = seqs[0];
      expect(page.hasMore).toBe(first !== undefined && first > 1);
      if (!page.hasMore || first === undefined) break;
      beforeSeq = first;
    }
    expect(seen.flat()).toEqual(range(1, TOTAL));
    expect(seen).toHaveLength(Math.ceil(TOTAL / 7));
    expect(seen[0]).toEqual(range(1, TOTAL % 7));
  });

  it("honours beforeSeq and limit at the edges", async () => {
    const q = (input: { beforeSeq?: number; limit?: number }) => ctx.owner.client.room.history.query({ roomId: ctx.room.id, ...input });
    const oldest = await q({ beforeSeq: 21, limit: 100 });
    expect(oldest.messages.map((m) => m.seq)).toEqual(range(1, 20));
    expect(oldest.hasMore).toBe(false);
    const exact = await q({ beforeSeq: 21, limit: 20 });
    expect(exact.messages.map((m) => m.seq)).toEqual(range(1, 20));
    expect(exact.hasMore).toBe(false);
    const short = await q({ beforeSeq: 21, limit: 19 });
    expect(short.messages.map((m) => m.seq)).toEqual(range(2, 20));
    expect(short.hasMore).toBe(true);
    expect(await q({ beforeSeq: 1 })).toEqual({ messages: [], hasMore: false });
    const past = await q({ beforeSeq: TOTAL + 1000, limit: 3 });
    expect(past.messages.map((m) => m.seq)).toEqual(range(TOTAL - 2, TOTAL));
    expect(past.hasMore).toBe(true);
    const hundred = await q({ limit: 100 });
    expect(hundred.messages.map((m) => m.seq)).toEqual(range(TOTAL - 99, TOTAL));
    expect(hundred.hasMore).toBe(true);
    const one = await q({ limit: 1 });
    expect(one.messages.map((m) => m.seq)).toEqual([TOTAL]);
  });

  it.each([0, 101, 2.5, -1])("refuses limit %s with BAD_REQUEST naming it", async (limit) => {
    const err = await expectTRPCError(ctx.owner.client.room.history.query({ roomId: ctx.room.id, limit }), "BAD_REQUEST");
    expect(err.message).toContain("limit");
  });

  it("refuses a bad beforeSeq with BAD_REQUEST naming it", async () => {
    for (const beforeSeq of [0, -3, 1.5]) {
      const err = await expectTRPCError(ctx.owner.client.room.history.query({ roomId: ctx.room.id, beforeSeq }), "BAD_REQUEST");
      expect(err.message).toContain("beforeSeq");
    }
  });

  it("answers a beforeSeq past the largest stored seq without a server error", async () => {
    for (const beforeSeq of [2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
      const page = await expectAnsweredOrBadRequest(
        ctx.owner.client.room.history.query({ roomId: ctx.room.id, beforeSeq, limit: 5 }),
        "beforeSeq",
      );
      if (page) expect(page).toEqual({ messages: (await fullHistory(ctx.owner.client, ctx.room.id)).slice(-5), hasMore: true });
    }
  });

  it("is empty for a new room and for members only", async () => {
    const { owner, room } = await roomWith(0);
    expect(await owner.client.room.history.query({ roomId: room.id })).toEqual({ messages: [], hasMore: false });
    const c = await registerUser(srv.url, "out");
    await expectTRPCError(c.client.room.history.query({ roomId: ctx.room.id }), "FORBIDDEN", MESSAGES.notMember);
    await expectTRPCError(c.client.room.history.query({ roomId: unknownRoomId() }), "NOT_FOUND");
  });
});

describe("per-user send limit", () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({ env: { SEND_LIMIT: "5", SEND_LIMIT_WINDOW: "10" } });
  });
  afterAll(async () => {
    await limited.stop();
  });

  it("refuses the 6th send in the window with TOO_MANY_REQUESTS and a retry time; other users are unaffected", async () => {
    const a = await registerUser(limited.url, "flood");
    const b = await registerUser(limited.url, "calm");
    const room = await a.client.room.create.mutate({ name: "r", maxMembers: 2 });
    await b.client.room.join.mutate({ roomId: room.id });
    // seq 1 is b's join.
    for (let i = 1; i <= 5; i++) expect((await a.client.room.send.mutate({ roomId: room.id, text: `m${i}` })).seq).toBe(i + 1);
    const err = await expectTRPCError(a.client.room.send.mutate({ roomId: room.id, text: "m6" }), "TOO_MANY_REQUESTS");
    expect(err.data?.httpStatus).toBe(429);
    const retryAfter = err.data?.retryAfter;
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);

    // Over plain HTTP the refusal is a 429 with Retry-After.
    const res = await fetch(`${limited.url}/trpc/room.send`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${a.session.accessToken}` },
      body: JSON.stringify({ roomId: room.id, text: "m7" }),
    });
    expect(res.status).toBe(429);
    const header = Number(res.headers.get("retry-after"));
    expect(header).toBeGreaterThanOrEqual(1);
    expect(header).toBeLessThanOrEqual(10);

    expect((await b.client.room.send.mutate({ roomId: room.id, text: "b is fine" })).seq).toBe(7);
    expect((await fullHistory(b.client, room.id)).map((m) => m.seq)).toEqual(range(1, 7));
  });

  it("lets 100 messages through in a burst with the default limit", async () => {
    // An empty value means "the default" (the harness otherwise lifts the limit for other tests).
    const byDefault = await startTestServer({ env: { SEND_LIMIT: "", SEND_LIMIT_WINDOW: "" } });
    try {
      const a = await registerUser(byDefault.url, "typist");
      const room = await a.client.room.create.mutate({ name: "r", maxMembers: 2 });
      for (let i = 1; i <= 100; i++) await a.client.room.send.mutate({ roomId: room.id, text: `m${i}` });
      expect((await fullHistory(a.client, room.id)).map((m) => m.seq)).toEqual(range(1, 100));
    } finally {
      await byDefault.stop();
    }
  });
});
