import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LIMITS, type RoomSummary } from "@anonchat/shared";
import { httpClient, registerUser, startTestServer, waitFor, type TestServer } from "./harness.js";
import { connectLegacy } from "./helpers/legacy.js";
import { expectTRPCError, sleep } from "./helpers/trpc.js";
import { attachedActivity, Cleanups, idOf, ISO, nth, roomWith, users, type User } from "./helpers/room-features.js";

/**
 * Issue 7, read markers and the room list: room.markRead, room.list's RoomSummary (lastMessage,
 * lastSeq, lastReadSeq, unreadCount, lastActivityAt, newest activity first) and room.onActivity.
 */

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.stop();
});
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

async function summary(u: User, roomId: string): Promise<RoomSummary> {
  const item = (await u.client.room.list.query()).find((r) => r.id === roomId);
  if (!item) throw new Error(`room ${roomId} is not in the list`);
  return item;
}

describe("room.list summaries", () => {
  it("carry the room, lastMessage, lastSeq, lastReadSeq and unreadCount", async () => {
    const a = await registerUser(srv.url, "ls");
    const room = await a.client.room.create.mutate({ name: "summary", maxMembers: 5 });
    const roomId = room.id;
    expect(await a.client.room.list.query()).toEqual([
      { ...room, lastMessage: null, lastSeq: 0, lastReadSeq: 0, unreadCount: 0, lastActivityAt: room.createdAt },
    ]);

    const b = await registerUser(srv.url, "ls");
    await b.client.room.join.mutate({ roomId }); // 1
    // A joiner's marker starts at the room's last seq; a join is not a chat message.
    expect(await summary(b, roomId)).toMatchObject({ id: roomId, memberCount: 2, lastMessage: null, lastSeq: 1, lastReadSeq: 1, unreadCount: 0 });
    expect(await summary(a, roomId)).toMatchObject({ lastMessage: null, lastSeq: 1, unreadCount: 0, lastActivityAt: room.createdAt });

    const sent = [];
    for (const text of ["one", "two", "three"]) sent.push(await a.client.room.send.mutate({ roomId, text })); // 2..4
    const m4 = nth(sent, 2);
    expect(await summary(b, roomId)).toMatchObject({ lastMessage: m4, lastSeq: 4, lastReadSeq: 1, unreadCount: 3, lastActivityAt: m4.createdAt });
    // Own messages are never unread.
    expect(await summary(a, roomId)).toMatchObject({ lastMessage: m4, lastSeq: 4, unreadCount: 0 });

    const m5 = await b.client.room.send.mutate({ roomId, text: "b's" }); // 5
    expect(await summary(a, roomId)).toMatchObject({ lastMessage: m5, lastSeq: 5, unreadCount: 1 });
    expect(await summary(b, roomId)).toMatchObject({ lastMessage: m5, lastSeq: 5, unreadCount: 3 });
  });

  it("room.markRead moves forward only, clamps to the room's last seq and returns the unread count", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const roomId = room.id;
    for (const text of ["2", "3", "4"]) await owner.client.room.send.mutate({ roomId, text });
    await b.client.room.send.mutate({ roomId, text: "5, b's own" });
    expect(await b.client.room.markRead.mutate({ roomId, seq: 3 })).toMatchObject({ roomId, lastReadSeq: 3, unreadCount: 1 });
    expect(await b.client.room.markRead.mutate({ roomId, seq: 2 })).toMatchObject({ roomId, lastReadSeq: 3, unreadCount: 1 });
    expect(await b.client.room.markRead.mutate({ roomId, seq: 3 })).toMatchObject({ roomId, lastReadSeq: 3, unreadCount: 1 });
    expect(await b.client.room.markRead.mutate({ roomId, seq: 1_000_000 })).toMatchObject({ roomId, lastReadSeq: 5, unreadCount: 0 });
    expect(await summary(b, roomId)).toMatchObject({ lastSeq: 5, lastReadSeq: 5, unreadCount: 0 });
    const members = await owner.client.member.list.query({ roomId });
    expect(members.find((m) => m.userId === idOf(b))?.lastReadSeq).toBe(5);
    // A later message is unread again; the clamp did not run ahead of it.
    const m6 = await owner.client.room.send.mutate({ roomId, text: "6" });
    expect(await summary(b, roomId)).toMatchObject({ lastSeq: 6, lastReadSeq: 5, unreadCount: 1 });
    expect(await b.client.room.markRead.mutate({ roomId, seq: m6.seq })).toMatchObject({ lastReadSeq: 6, unreadCount: 0 });
    for (const seq of [0, -1, 2.5]) {
      await expectTRPCError(b.client.room.markRead.mutate({ roomId, seq }), "BAD_REQUEST", /seq/);
    }
  });

  it("deleted messages are not unread and not lastMessage; an edit shows in lastMessage", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const roomId = room.id;
    const m2 = await owner.client.room.send.mutate({ roomId, text: "two" });
    const m3 = await owner.client.room.send.mutate({ roomId, text: "three" });
    const m4 = await owner.client.room.send.mutate({ roomId, text: "four" });
    expect(await summary(b, roomId)).toMatchObject({ unreadCount: 3, lastMessage: m4 });
    await owner.client.message.delete.mutate({ roomId, seq: m3.seq });
    expect(await summary(b, roomId)).toMatchObject({ unreadCount: 2, lastMessage: m4 });
    await owner.client.message.delete.mutate({ roomId, seq: m4.seq });
    const s = await summary(b, roomId);
    expect(s).toMatchObject({ unreadCount: 1, lastMessage: m2 });
    expect(s.lastSeq).toBe(m4.seq + 2);
    const edited = await owner.client.message.edit.mutate({ roomId, seq: m2.seq, text: "two, edited" });
    expect((await summary(b, roomId)).lastMessage).toEqual(edited);
    // Marking everything read counts nothing, whatever was deleted.
    expect(await b.client.room.markRead.mutate({ roomId, seq: 1_000_000 })).toMatchObject({ unreadCount: 0 });
  });

  it("is ordered by lastActivityAt, newest first; joins do not count as activity", async () => {
    const [u, v] = (await users(srv.url, 2, "ord")) as [User, User];
    const rooms = [];
    for (const name of ["r1", "r2", "r3"]) {
      rooms.push(await u.client.room.create.mutate({ name, maxMembers: 5 }));
      await sleep(15);
    }
    const [r1, r2, r3] = rooms as [(typeof rooms)[0], (typeof rooms)[0], (typeof rooms)[0]];
    const order = async () => (await u.client.room.list.query()).map((r) => r.name);
    expect(await order()).toEqual(["r3", "r2", "r1"]);
    await v.client.room.join.mutate({ roomId: r1.id });
    expect(await order()).toEqual(["r3", "r2", "r1"]);
    const m = await v.client.room.send.mutate({ roomId: r1.id, text: "bump" });
    expect(await order()).toEqual(["r1", "r3", "r2"]);
    expect((await summary(u, r1.id)).lastActivityAt).toBe(m.createdAt);
    await sleep(15);
    await u.client.room.send.mutate({ roomId: r2.id, text: "bump" });
    expect(await order()).toEqual(["r2", "r1", "r3"]);
    const list = await u.client.room.list.query();
    const times = list.map((r) => Date.parse(r.lastActivityAt));
    expect(times).toEqual([...times].sort((x, y) => y - x));
    for (const r of list) expect(r.lastActivityAt).toMatch(ISO);
    expect((await summary(u, r3.id)).lastActivityAt).toBe(r3.createdAt);
  });

  it(`caps unreadCount at LIMITS.unreadCountMax (${LIMITS.unreadCountMax})`, async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const total = LIMITS.unreadCountMax + 2;
    for (let i = 0; i < total; i += 50) {
      await Promise.all(
        // One client each: separate requests, not one batch.
        Array.from({ length: Math.min(50, total - i) }, (_, j) =>
          httpClient(srv.url, owner.session.accessToken).room.send.mutate({ roomId: room.id, text: `m${i + j}` }),
        ),
      );
    }
    expect(await summary(b, room.id)).toMatchObject({ unreadCount: LIMITS.unreadCountMax, lastSeq: total + 1 });
    expect(await b.client.room.markRead.mutate({ roomId: room.id, seq: 2 })).toMatchObject({ unreadCount: LIMITS.unreadCountMax });
    expect(await b.client.room.markRead.mutate({ roomId: room.id, seq: total + 1 - 10 })).toMatchObject({ unreadCount: 10 });
  }, 120_000);
});

describe("read markers, more", () => {
  it("concurrent markRead calls leave the largest seq", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    for (let i = 0; i < 10; i++) await owner.client.room.send.mutate({ roomId: room.id, text: `m${i}` });
    const seqs = [5, 11, 2, 9, 3, 7, 10, 4, 8, 6];
    await Promise.all(seqs.map((seq) => httpClient(srv.url, b.session.accessToken).room.markRead.mutate({ roomId: room.id, seq })));
    expect(await summary(b, room.id)).toMatchObject({ lastReadSeq: 11, unreadCount: 0 });
  });

  it("in a room with no event yet, markRead clamps to 0", async () => {
    const a = await registerUser(srv.url, "ls");
    const room = await a.client.room.create.mutate({ name: "quiet", maxMembers: 2 });
    expect(await a.client.room.markRead.mutate({ roomId: room.id, seq: 1 })).toMatchObject({ roomId: room.id, lastReadSeq: 0, unreadCount: 0 });
    expect(await summary(a, room.id)).toMatchObject({ lastSeq: 0, lastReadSeq: 0, unreadCount: 0 });
  });

  it("an edit does not make a read message unread again, nor count as one", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const m = await owner.client.room.send.mutate({ roomId: room.id, text: "v1" });
    expect(await b.client.room.markRead.mutate({ roomId: room.id, seq: m.seq })).toMatchObject({ unreadCount: 0 });
    await owner.client.message.edit.mutate({ roomId: room.id, seq: m.seq, text: "v2" });
    const s = await summary(b, room.id);
    expect(s).toMatchObject({ unreadCount: 0, lastReadSeq: m.seq, lastSeq: m.seq + 1 });
    expect(s.lastMessage).toMatchObject({ seq: m.seq, text: "v2" });
  });

  it("membership items after the marker are not unread; a rejoin starts the marker at the room's last seq", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const roomId = room.id;
    await owner.client.room.send.mutate({ roomId, text: "one" });
    const c = await registerUser(srv.url, "ls");
    await c.client.room.join.mutate({ roomId });
    await c.client.room.leave.mutate({ roomId });
    expect(await summary(b, roomId)).toMatchObject({ unreadCount: 1 });
    await b.client.room.leave.mutate({ roomId });
    for (let i = 0; i < 3; i++) await owner.client.room.send.mutate({ roomId, text: `while away ${i}` });
    await b.client.room.join.mutate({ roomId });
    const s = await summary(b, roomId);
    expect(s.lastReadSeq).toBe(s.lastSeq);
    expect(s.unreadCount).toBe(0);
  });

  it("messages from a legacy socket count as unread and reach onActivity", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const home = await owner.client.room.create.mutate({ name: "home", maxMembers: 2 });
    const activity = await attachedActivity(cleanups, srv.url, owner, home.id);
    const sock = connectLegacy(srv.wsUrl, room.id, b.session.accessToken);
    cleanups.add(() => sock.close());
    await sock.opened;
    sock.send("from the old client");
    await waitFor(() => activity.ofType("message").some((e) => e.roomId === room.id), 10_000, "the legacy message");
    expect(nth(activity.ofType("message"), 0).message).toMatchObject({ text: "from the old client", senderId: idOf(b) });
    expect(await summary(owner, room.id)).toMatchObject({ unreadCount: 1, lastMessage: { text: "from the old client" } });
  });
});

describe("room.onActivity", () => {
  it("delivers message, read, joined, left and changed events for the caller's rooms only", async () => {
    const [a, b, c, d] = (await users(srv.url, 4, "act")) as [User, User, User, User];
    const shared = await a.client.room.create.mutate({ name: "shared", maxMembers: 5 });
    await b.client.room.join.mutate({ roomId: shared.id });
    const home = await a.client.room.create.mutate({ name: "home", maxMembers: 5 });
    const elsewhere = await d.client.room.create.mutate({ name: "not a's", maxMembers: 5 });
    const activity = await attachedActivity(cleanups, srv.url, a, home.id);

    // A new chat message in any of a's rooms, from anyone (a's own included).
    const fromB = await b.client.room.send.mutate({ roomId: shared.id, text: "hi a" });
    const fromA = await a.client.room.send.mutate({ roomId: home.id, text: "note to self" });
    await d.client.room.send.mutate({ roomId: elsewhere.id, text: "not for a" });
    await waitFor(() => activity.ofType("message").length >= 2, 10_000, "two message events");
    expect(activity.ofType("message")).toEqual([
      { type: "message", roomId: shared.id, message: fromB },
      { type: "message", roomId: home.id, message: fromA },
    ]);

    // The marker moving, from another client of a's (HTTP here, the activity stream is on a WebSocket).
    const marker = await a.client.room.markRead.mutate({ roomId: shared.id, seq: fromB.seq });
    // (Only the shared room's: whether sending moves the sender's own marker is the server's choice.)
    const sharedReads = () => activity.ofType("read").filter((e) => e.marker.roomId === shared.id);
    await waitFor(() => sharedReads().length === 1, 10_000, "read event");
    expect(sharedReads()).toEqual([{ type: "read", marker }]);
    // Someone else's marker is not a's business, and a mark that moves nothing tells no one.
    await b.client.room.markRead.mutate({ roomId: shared.id, seq: fromB.seq });
    expect(await a.client.room.markRead.mutate({ roomId: shared.id, seq: fromB.seq })).toEqual(marker);

    // Edits and deletions: the summary should be read again.
    await b.client.message.edit.mutate({ roomId: shared.id, seq: fromB.seq, text: "hi a!" });
    await waitFor(() => activity.ofType("changed").length >= 1, 10_000, "changed after an edit");
    expect(nth(activity.ofType("changed"), 0)).toEqual({ type: "changed", roomId: shared.id });
    expect(sharedReads()).toHaveLength(1);
    const changedBefore = activity.ofType("changed").length;
    await b.client.message.delete.mutate({ roomId: shared.id, seq: fromB.seq });
    await waitFor(() => activity.ofType("changed").length > changedBefore, 10_000, "changed after a delete");

    // Joining and leaving.
    const cRoom = await c.client.room.create.mutate({ name: "c's", maxMembers: 5 });
    const joinedRoom = await a.client.room.join.mutate({ roomId: cRoom.id });
    await waitFor(() => activity.ofType("joined").length === 1, 10_000, "joined");
    const joined = nth(activity.ofType("joined"), 0);
    expect(joined.room).toMatchObject({ ...joinedRoom, lastReadSeq: joined.room.lastSeq, unreadCount: 0 });
    await a.client.room.leave.mutate({ roomId: cRoom.id });
    await waitFor(() => activity.ofType("left").length === 1, 10_000, "left");
    expect(activity.ofType("left")).toEqual([{ type: "left", roomId: cRoom.id, reason: "left" }]);
    const cRoom2 = await c.client.room.create.mutate({ name: "c's second", maxMembers: 5 });
    await a.client.room.join.mutate({ roomId: cRoom2.id });
    await c.client.room.remove.mutate({ roomId: cRoom2.id });
    await waitFor(() => activity.ofType("left").length === 2, 10_000, "left on removal");
    expect(nth(activity.ofType("left"), 1)).toEqual({ type: "left", roomId: cRoom2.id, reason: "removed" });

    // Only chat messages are "message" events, only a's own marker moves are "read" events,
    // and nothing about a room a is not in arrives.
    const last = await a.client.room.send.mutate({ roomId: home.id, text: "the end" });
    await waitFor(() => activity.ofType("message").some((e) => e.message.seq === last.seq && e.roomId === home.id), 10_000, "the end");
    expect(activity.ofType("message").every((e) => e.message.kind === "text")).toBe(true);
    expect(sharedReads()).toHaveLength(1);
    expect(JSON.stringify(activity.events)).not.toContain(elsewhere.id);
    expect(activity.error).toBeUndefined();
  });

  it("reaches every open activity stream of the user", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const home = await owner.client.room.create.mutate({ name: "home", maxMembers: 2 });
    const first = await attachedActivity(cleanups, srv.url, owner, home.id);
    const second = await attachedActivity(cleanups, srv.url, owner, home.id);
    first.events.splice(0);
    const m = await b.client.room.send.mutate({ roomId: room.id, text: "to both devices" });
    await waitFor(() => [first, second].every((l) => l.ofType("message").some((e) => e.message.seq === m.seq && e.roomId === room.id)), 10_000, "both");
    const marker = await owner.client.room.markRead.mutate({ roomId: room.id, seq: m.seq });
    const reads = (l: typeof first) => l.ofType("read").filter((e) => e.marker.roomId === room.id);
    await waitFor(() => [first, second].every((l) => reads(l).length === 1), 10_000, "read on both");
    for (const l of [first, second]) expect(reads(l)).toEqual([{ type: "read", marker }]);
  });
});
