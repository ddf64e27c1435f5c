import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MESSAGES, ROOM_ID_PATTERN, type Room } from "@anonchat/shared";
import { httpClient, registerUser, startTestServer, type TestServer } from "./harness.js";
import { expectAnsweredOrBadRequest, expectTRPCError, unknownRoomId } from "./helpers/trpc.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.stop();
});

const ids = (rooms: Room[]) => rooms.map((r) => r.id).sort();

describe("room.create", () => {
  it("makes the creator the owner and only member", async () => {
    const a = await registerUser(srv.url, "own");
    const before = Date.now();
    const room = await a.client.room.create.mutate({ name: "  General  ", maxMembers: 5 });
    expect(room).toEqual({
      id: expect.stringMatching(/^[A-Za-z0-9]{16,20}$/),
      name: "General",
      ownerId: a.session.user.id,
      maxMembers: 5,
      memberCount: 1,
      createdAt: expect.any(String),
    });
    expect(ROOM_ID_PATTERN.test(room.id)).toBe(true);
    expect(new Date(room.createdAt).toISOString()).toBe(room.createdAt);
    expect(Date.parse(room.createdAt)).toBeGreaterThan(before - 60_000);
    expect(await a.client.room.get.query({ roomId: room.id })).toEqual(room);
    // room.list items are RoomSummary: the room plus what the caller has (not) read.
    expect(await a.client.room.list.query()).toEqual([
      { ...room, lastMessage: null, lastSeq: 0, lastReadSeq: 0, unreadCount: 0, lastActivityAt: room.createdAt },
    ]);
  });

  it("gives every room a distinct id", async () => {
    const a = await registerUser(srv.url, "own");
    const rooms = await Promise.all(Array.from({ length: 10 }, () => a.client.room.create.mutate({ name: "r", maxMembers: 2 })));
    expect(new Set(rooms.map((r) => r.id)).size).toBe(10);
  });

  it.each([0, 1001, 1.5, -1])("refuses maxMembers %s with BAD_REQUEST naming it", async (maxMembers) => {
    const a = await registerUser(srv.url, "max");
    const err = await expectTRPCError(a.client.room.create.mutate({ name: "r", maxMembers }), "BAD_REQUEST");
    expect(err.message).toContain("maxMembers");
  });

  it.each([1, 1000])("accepts maxMembers %s", async (maxMembers) => {
    const a = await registerUser(srv.url, "max");
    expect((await a.client.room.create.mutate({ name: "r", maxMembers })).maxMembers).toBe(maxMembers);
  });

  it.each(["", "   ", "n".repeat(65)])("refuses the name %j with BAD_REQUEST naming it", async (name) => {
    const a = await registerUser(srv.url, "name");
    const err = await expectTRPCError(a.client.room.create.mutate({ name, maxMembers: 2 }), "BAD_REQUEST");
    expect(err.message).toContain("name");
  });

  it("answers a name holding a NUL character without a server error", async () => {
    const a = await registerUser(srv.url, "name");
    const room = await expectAnsweredOrBadRequest(a.client.room.create.mutate({ name: "a\u0000b", maxMembers: 2 }), "name");
    expect(await a.client.room.list.query()).toEqual(room ? [room] : []);
  });

  it("accepts a 64-character name", async () => {
    const a = await registerUser(srv.url, "name");
    expect((await a.client.room.create.mutate({ name: "n".repeat(64), maxMembers: 2 })).name).toBe("n".repeat(64));
  });

  it("needs an access token", async () => {
    await expectTRPCError(httpClient(srv.url).room.create.mutate({ name: "r", maxMembers: 2 }), "UNAUTHORIZED");
    await expectTRPCError(httpClient(srv.url).room.list.query(), "UNAUTHORIZED");
  });
});

describe("room.join", () => {
  it("adds a member; joining again changes nothing", async () => {
    const a = await registerUser(srv.url, "j");
    const b = await registerUser(srv.url, "j");
    const room = await a.client.room.create.mutate({ name: "r", maxMembers: 3 });
    const joined = await b.client.room.join.mutate({ roomId: room.id });
    expect(joined).toEqual({ ...room, memberCount: 2 });
    expect(await b.client.room.join.mutate({ roomId: room.id })).toEqual({ ...room, memberCount: 2 });
    expect(await a.client.room.join.mutate({ roomId: room.id })).toEqual({ ...room, memberCount: 2 });
    expect((await a.client.room.get.query({ roomId: room.id })).memberCount).toBe(2);
    expect(ids(await b.client.room.list.query())).toEqual([room.id]);
  });

  it("answers NOT_FOUND for a well-formed unknown id and BAD_REQUEST for a malformed one", async () => {
    const a = await registerUser(srv.url, "j");
    await expectTRPCError(a.client.room.join.mutate({ roomId: unknownRoomId() }), "NOT_FOUND");
    for (const roomId of ["short", "a".repeat(21), "has-dash-1234567890", "", "ünïcödé1234567890"]) {
      const err = await expectTRPCError(a.client.room.join.mutate({ roomId }), "BAD_REQUEST");
      expect(err.message).toContain("roomId");
    }
  });

  it("refuses a full room with FORBIDDEN 'room is full'", async () => {
    const a = await registerUser(srv.url, "full");
    const b = await registerUser(srv.url, "full");
    const solo = await a.client.room.create.mutate({ name: "solo", maxMembers: 1 });
    await expectTRPCError(b.client.room.join.mutate({ roomId: solo.id }), "FORBIDDEN", MESSAGES.roomFull);
    expect((await a.client.room.get.query({ roomId: solo.id })).memberCount).toBe(1);
    expect(await b.client.room.list.query()).toEqual([]);
  });

  it("lets exactly maxMembers in when 50 users join at once", async () => {
    const owner = await registerUser(srv.url, "crowd");
    const room = await owner.client.room.create.mutate({ name: "crowd", maxMembers: 10 });
    const users = await Promise.all(Array.from({ length: 50 }, () => registerUser(srv.url, "crowd")));
    const results = await Promise.allSettled(users.map((u) => u.client.room.join.mutate({ roomId: room.id })));
    const ok = results.flatMap((r, i) => (r.status === "fulfilled" ? [{ room: r.value, user: users[i] }] : []));
    const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    expect(ok).toHaveLength(9);
    expect(refused).toHaveLength(41);
    for (const reason of refused) await expectTRPCError(Promise.reject(reason), "FORBIDDEN", MESSAGES.roomFull);
    for (const { room: r } of ok) expect(r.memberCount).toBeLessThanOrEqual(10);
    expect(new Set(ok.map((o) => o.room.memberCount)).size).toBe(9);
    expect((await owner.client.room.get.query({ roomId: room.id })).memberCount).toBe(10);
    // Exactly the nine that got in are members.
    const memberships = await Promise.all(users.map((u) => u.client.room.list.query()));
    expect(memberships.filter((l) => l.some((r) => r.id === room.id))).toHaveLength(9);
  });
});

describe("room.leave", () => {
  it("ends membership: the room leaves room.list and get/history/send become FORBIDDEN", async () => {
    const a = await registerUser(srv.url, "lv");
    const b = await registerUser(srv.url, "lv");
    const room = await a.client.room.create.mutate({ name: "r", maxMembers: 2 });
    await b.client.room.join.mutate({ roomId: room.id });
    expect(await b.client.room.leave.mutate({ roomId: room.id })).toEqual({ ok: true });
    expect(await b.client.room.list.query()).toEqual([]);
    await expectTRPCError(b.client.room.get.query({ roomId: room.id }), "FORBIDDEN", MESSAGES.notMember);
    await expectTRPCError(b.client.room.history.query({ roomId: room.id }), "FORBIDDEN", MESSAGES.notMember);
    await expectTRPCError(b.client.room.send.mutate({ roomId: room.id, text: "hi" }), "FORBIDDEN", MESSAGES.notMember);
    expect((await a.client.room.get.query({ roomId: room.id })).memberCount).toBe(1);
    // The freed seat can be taken again.
    expect((await b.client.room.join.mutate({ roomId: room.id })).memberCount).toBe(2);
  });

  it("answers NOT_FOUND for an unknown room", async () => {
    const a = await registerUser(srv.url, "lv");
    await expectTRPCError(a.client.room.leave.mutate({ roomId: unknownRoomId() }), "NOT_FOUND");
  });
});

describe("room.remove", () => {
  it("is for the owner only; afterwards the room is gone for everyone", async () => {
    const a = await registerUser(srv.url, "rm");
    const b = await registerUser(srv.url, "rm");
    const room = await a.client.room.create.mutate({ name: "r", maxMembers: 3 });
    await b.client.room.join.mutate({ roomId: room.id });
    await a.client.room.send.mutate({ roomId: room.id, text: "before removal" });
    await expectTRPCError(b.client.room.remove.mutate({ roomId: room.id }), "FORBIDDEN", MESSAGES.notOwner);
    expect((await b.client.room.get.query({ roomId: room.id })).memberCount).toBe(2);

    expect(await a.client.room.remove.mutate({ roomId: room.id })).toEqual({ ok: true });
    for (const c of [a.client, b.client]) {
      await expectTRPCError(c.room.get.query({ roomId: room.id }), "NOT_FOUND");
      await expectTRPCError(c.room.history.query({ roomId: room.id }), "NOT_FOUND");
      await expectTRPCError(c.room.send.mutate({ roomId: room.id, text: "x" }), "NOT_FOUND");
      await expectTRPCError(c.room.join.mutate({ roomId: room.id }), "NOT_FOUND");
      expect(await c.room.list.query()).toEqual([]);
    }
    await expectTRPCError(a.client.room.remove.mutate({ roomId: room.id }), "NOT_FOUND");
  });

  it("of removes racing, one succeeds and the rest are told the room is gone; a non-owner's racing remove is refused", async () => {
    const a = await registerUser(srv.url, "rm");
    const b = await registerUser(srv.url, "rm");
    const room = await a.client.room.create.mutate({ name: "r", maxMembers: 3 });
    await b.client.room.join.mutate({ roomId: room.id });
    const settle = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: { data?: { code?: string } }) => e.data?.code ?? String(e),
      );
    const answers = await Promise.all([
      ...Array.from({ length: 8 }, () => settle(a.client.room.remove.mutate({ roomId: room.id }))),
      ...Array.from({ length: 4 }, () => settle(b.client.room.remove.mutate({ roomId: room.id }))),
    ]);
    const owners = answers.slice(0, 8).sort();
    const others = answers.slice(8);
    expect(owners).toEqual(["NOT_FOUND", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND", "ok"]);
    // Before the removal it is someone else's room, after it there is none: never "ok".
    for (const x of others) expect(["FORBIDDEN", "NOT_FOUND"]).toContain(x);
    await expectTRPCError(a.client.room.get.query({ roomId: room.id }), "NOT_FOUND");
  });

  it("refuses a non-member too", async () => {
    const a = await registerUser(srv.url, "rm");
    const c = await registerUser(srv.url, "rm");
    const room = await a.client.room.create.mutate({ name: "r", maxMembers: 3 });
    await expectTRPCError(c.client.room.remove.mutate({ roomId: room.id }), "FORBIDDEN");
    expect((await a.client.room.get.query({ roomId: room.id })).id).toBe(room.id);
  });
});

describe("room.list and room.get", () => {
  it("list returns exactly the caller's rooms", async () => {
    const a = await registerUser(srv.url, "ls");
    const b = await registerUser(srv.url, "ls");
    const c = await registerUser(srv.url, "ls");
    const r1 = await a.client.room.create.mutate({ name: "r1", maxMembers: 5 });
    const r2 = await a.client.room.create.mutate({ name: "r2", maxMembers: 5 });
    const r3 = await b.client.room.create.mutate({ name: "r3", maxMembers: 5 });
    await b.client.room.join.mutate({ roomId: r1.id });
    expect(ids(await a.client.room.list.query())).toEqual([r1.id, r2.id].sort());
    expect(ids(await b.client.room.list.query())).toEqual([r1.id, r3.id].sort());
    expect(await c.client.room.list.query()).toEqual([]);
    const listed = (await b.client.room.list.query()).find((r) => r.id === r1.id);
    // A RoomSummary: the room's fields, and more.
    expect(listed).toMatchObject({ ...r1, memberCount: 2 });
  });

  it("get is for members only", async () => {
    const a = await registerUser(srv.url, "get");
    const c = await registerUser(srv.url, "get");
    const room = await a.client.room.create.mutate({ name: "r", maxMembers: 5 });
    await expectTRPCError(c.client.room.get.query({ roomId: room.id }), "FORBIDDEN", MESSAGES.notMember);
    await expectTRPCError(c.client.room.get.query({ roomId: unknownRoomId() }), "NOT_FOUND");
    await expectTRPCError(c.client.room.get.query({ roomId: "bad" }), "BAD_REQUEST", /roomId/);
  });
});
