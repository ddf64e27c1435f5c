import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MESSAGES, type Message } from "@anonchat/shared";
import { registerUser, startTestServer, waitFor, type TestServer } from "./harness.js";
import { expectTRPCError, fullHistory, range, unknownRoomId } from "./helpers/trpc.js";
import {
  attached,
  Cleanups,
  idOf,
  ISO,
  loginOf,
  nth,
  openLegacyWatched,
  roomWith,
  settle,
  users,
  waitSeq,
} from "./helpers/room-features.js";

/**
 * Issue 7, the timeline: membership events are stored in the room's ordered stream with their own
 * seq, and edits and deletions are tracked events of their own (docs/api.md "Room features").
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

/** seq, kind, who acted, whom it is about: the part of a timeline item these tests compare. */
const shape = (m: Message) => [m.seq, m.kind, m.senderId, m.subjectId];

describe("membership events", () => {
  it("a new room's history is empty: creating it is not an event", async () => {
    const a = await registerUser(srv.url, "tl");
    const room = await a.client.room.create.mutate({ name: "empty", maxMembers: 5 });
    expect(await a.client.room.history.query({ roomId: room.id })).toEqual({ messages: [], hasMore: false });
    expect((await a.client.room.send.mutate({ roomId: room.id, text: "first" })).seq).toBe(1);
  });

  it("join, leave, kick, ban and owner items have their own seq and kind; history and live subscribers agree", async () => {
    const a = await registerUser(srv.url, "tl");
    const room = await a.client.room.create.mutate({ name: "timeline", maxMembers: 10 });
    const [b, c, d, e] = (await users(srv.url, 4, "tl")) as [typeof a, typeof a, typeof a, typeof a];
    const roomId = room.id;
    // One subscriber replaying from the start, one at the live edge: both attached before anything happens.
    const replay = await attached(cleanups, srv.url, a, roomId, "0");
    const edge = await attached(cleanups, srv.url, a, roomId);

    await b.client.room.join.mutate({ roomId }); // 1
    const hello = await a.client.room.send.mutate({ roomId, text: "hello" }); // 2
    await c.client.room.join.mutate({ roomId }); // 3
    await c.client.room.leave.mutate({ roomId }); // 4
    await d.client.room.join.mutate({ roomId }); // 5
    expect(await a.client.member.kick.mutate({ roomId, userId: idOf(d) })).toEqual({ ok: true }); // 6
    await e.client.room.join.mutate({ roomId }); // 7
    expect(await a.client.member.ban.mutate({ roomId, userId: idOf(e) })).toEqual({ ok: true }); // 8
    const transferred = await a.client.room.transfer.mutate({ roomId, userId: idOf(b) }); // 9
    const after = await b.client.room.send.mutate({ roomId, text: "after" }); // 10
    expect(hello.seq).toBe(2);
    expect(hello.kind).toBe("text");
    expect(transferred.ownerId).toBe(idOf(b));
    expect(after.seq).toBe(10);

    const history = await fullHistory(b.client, roomId);
    expect(history.map(shape)).toEqual([
      [1, "join", idOf(b), null],
      [2, "text", idOf(a), null],
      [3, "join", idOf(c), null],
      [4, "leave", idOf(c), null],
      [5, "join", idOf(d), null],
      [6, "kick", idOf(a), idOf(d)],
      [7, "join", idOf(e), null],
      [8, "ban", idOf(a), idOf(e)],
      [9, "owner", idOf(a), idOf(b)],
      [10, "text", idOf(b), null],
    ]);
    const byLogin = new Map([a, b, c, d, e].map((u) => [idOf(u), loginOf(u)]));
    for (const m of history) {
      expect(m.roomId).toBe(roomId);
      expect(m.senderLogin).toBe(byLogin.get(m.senderId));
      expect(m.subjectLogin).toBe(m.subjectId === null ? null : byLogin.get(m.subjectId));
      expect(m.createdAt).toMatch(ISO);
      expect(m.clientMsgId).toBeNull();
      expect(m.editedAt).toBeNull();
      expect(m.deletedAt).toBeNull();
      if (m.kind !== "text") expect(m.text).toBe("");
    }
    expect(history[1]).toEqual(hello);
    expect(history[9]).toEqual(after);

    await waitSeq([replay, edge], 10);
    for (const log of [replay, edge]) {
      // Delivered as {type:"message"}, tracked with the seq, in seq order, nothing else tracked.
      expect(log.tracked().map((t) => t.data.type)).toEqual(range(1, 10).map(() => "message"));
      expect(log.trackedIds()).toEqual(range(1, 10).map(String));
      expect(log.messages()).toEqual(history);
      expect(log.error).toBeUndefined();
    }
  });

  it("joining a room one already belongs to adds no item", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    await b.client.room.join.mutate({ roomId: room.id });
    await owner.client.room.join.mutate({ roomId: room.id });
    const history = await fullHistory(owner.client, room.id);
    expect(history.map(shape)).toEqual([[1, "join", idOf(b), null]]);
    expect((await owner.client.room.send.mutate({ roomId: room.id, text: "x" })).seq).toBe(2);
  });

  it("a subscriber resuming from lastEventId receives the membership items it missed", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const c = await registerUser(srv.url, "tl");
    const first = await owner.client.room.send.mutate({ roomId: room.id, text: "seen" }); // 2
    await c.client.room.join.mutate({ roomId: room.id }); // 3
    await nth(others, 0).client.room.leave.mutate({ roomId: room.id }); // 4
    const log = await attached(cleanups, srv.url, owner, room.id, String(first.seq));
    const last = await settle(owner.client, room.id, [log]);
    expect(log.messages().map(shape)).toEqual([
      [3, "join", idOf(c), null],
      [4, "leave", idOf(nth(others, 0)), null],
      [5, "text", idOf(owner), null],
    ]);
    expect(last.seq).toBe(5);
  });

  it("a legacy socket's join and its leave on close are timeline items too", async () => {
    const { owner, room } = await roomWith(srv.url, 0);
    const guest = await registerUser(srv.url, "lg");
    const watcher = await attached(cleanups, srv.url, owner, room.id, "0");
    const sock = await openLegacyWatched(srv.wsUrl, room.id, guest, watcher);
    cleanups.add(() => sock.close());
    await sock.close();
    await waitSeq([watcher], 2);
    expect(watcher.messages().map(shape)).toEqual([
      [1, "join", idOf(guest), null],
      [2, "leave", idOf(guest), null],
    ]);
    expect((await fullHistory(owner.client, room.id)).map(shape)).toEqual(watcher.messages().map(shape));
  });
});

describe("the ordered stream as a whole", () => {
  it("a member kicked earlier and back again replays their old kick item without the stream ending", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const roomId = room.id;
    await owner.client.member.kick.mutate({ roomId, userId: idOf(b) }); // 2
    await b.client.room.join.mutate({ roomId }); // 3
    const log = await attached(cleanups, srv.url, b, roomId, "0");
    const m = await settle(owner.client, roomId, [log]); // 4
    expect(log.messages().map(shape)).toEqual([
      [1, "join", idOf(b), null],
      [2, "kick", idOf(owner), idOf(b)],
      [3, "join", idOf(b), null],
      [4, "text", idOf(owner), null],
    ]);
    expect(m.seq).toBe(4);
    expect(log.completed || log.stopped).toBe(false);
    expect(log.error).toBeUndefined();
  });

  it("history pages count the items they list: edit and delete events take seqs but no place on a page", async () => {
    const { owner, room } = await roomWith(srv.url, 0);
    const roomId = room.id;
    const sent: Message[] = [];
    for (let i = 1; i <= 6; i++) {
      const m = await owner.client.room.send.mutate({ roomId, text: `m${i}` });
      sent.push(m);
      await owner.client.message.edit.mutate({ roomId, seq: m.seq, text: `m${i}'` });
    }
    await owner.client.message.delete.mutate({ roomId, seq: nth(sent, 5).seq });
    // seqs: 1,3,5,7,9,11 messages; 2,4,...,12 edits; 13 the delete.
    const newest = await owner.client.room.history.query({ roomId, limit: 4 });
    expect(newest.messages.map((m) => m.seq)).toEqual([5, 7, 9, 11]);
    expect(newest.hasMore).toBe(true);
    const older = await owner.client.room.history.query({ roomId, limit: 4, beforeSeq: 5 });
    expect(older.messages.map((m) => m.seq)).toEqual([1, 3]);
    expect(older.hasMore).toBe(false);
    const exact = await owner.client.room.history.query({ roomId, limit: 2, beforeSeq: 5 });
    expect(exact.messages.map((m) => m.seq)).toEqual([1, 3]);
    expect(exact.hasMore).toBe(false);
    expect((await fullHistory(owner.client, roomId)).map((m) => m.text)).toEqual(["m1'", "m2'", "m3'", "m4'", "m5'", ""]);
  });

  it("under concurrent sends, edits, deletions, joins and leaves every seq up to lastSeq is one tracked event", async () => {
    const { owner, room, others } = await roomWith(srv.url, 3);
    const roomId = room.id;
    const writers = [owner, ...others];
    const early = await attached(cleanups, srv.url, nth(others, 0), roomId, "0");
    const guests = await users(srv.url, 4, "g");
    const mine = await Promise.all(writers.map((u) => u.client.room.send.mutate({ roomId, text: "base" })));
    const doomed = await owner.client.room.send.mutate({ roomId, text: "to delete" });
    await Promise.all([
      ...writers.flatMap((u, i) =>
        Array.from({ length: 5 }, (_, j) => u.client.room.send.mutate({ roomId, text: `w${i}-${j}` })),
      ),
      ...writers.map((u, i) => u.client.message.edit.mutate({ roomId, seq: nth(mine, i).seq, text: `edited ${i}` })),
      owner.client.message.delete.mutate({ roomId, seq: doomed.seq }),
      ...guests.map(async (g) => {
        await g.client.room.join.mutate({ roomId });
        await g.client.room.leave.mutate({ roomId });
      }),
    ]);
    const last = await settle(owner.client, roomId, [early]);
    const lastSeq = (await owner.client.room.list.query()).find((r) => r.id === roomId)?.lastSeq;
    expect(lastSeq).toBe(last.seq);
    const replay = await attached(cleanups, srv.url, owner, roomId, "0");
    await waitSeq([replay], last.seq);
    for (const log of [early, replay]) expect(log.trackedIds()).toEqual(range(1, last.seq).map(String));
    expect(replay.tracked().map((t) => t.data.type)).toEqual(early.tracked().map((t) => t.data.type));
    expect(replay.edits()).toEqual(early.edits());
    expect(replay.deletes()).toEqual(early.deletes());
    // History plus the edit and delete events partition 1..lastSeq.
    const history = await fullHistory(owner.client, roomId);
    const side = [...replay.edits().map((e) => e.seq), ...replay.deletes().map((d) => d.seq)];
    expect([...history.map((m) => m.seq), ...side].sort((x, y) => x - y)).toEqual(range(1, last.seq));
    expect(history.filter((m) => m.kind === "join")).toHaveLength(3 + guests.length);
    expect(history.filter((m) => m.kind === "leave")).toHaveLength(guests.length);
  });
});

describe("message.edit", () => {
  it("is a tracked edit event with its own seq; history shows the latest text and editedAt", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const roomId = room.id;
    const live = await attached(cleanups, srv.url, b, roomId);
    const original = await owner.client.room.send.mutate({ roomId, text: "frist", clientMsgId: "c-1" }); // 2
    const before = Date.now();
    const edited = await owner.client.message.edit.mutate({ roomId, seq: original.seq, text: "  first  " }); // 3
    expect(edited).toEqual({ ...original, text: "first", editedAt: expect.stringMatching(ISO) });
    expect(Date.parse(edited.editedAt as string)).toBeGreaterThanOrEqual(before - 60_000);
    const next = await b.client.room.send.mutate({ roomId, text: "next" });
    expect(next.seq).toBe(4);
    await waitSeq([live], 4);

    expect(live.trackedIds()).toEqual(["2", "3", "4"]);
    expect(live.tracked().map((t) => t.data.type)).toEqual(["message", "edit", "message"]);
    expect(live.edits()).toEqual([
      { roomId, seq: 3, targetSeq: 2, text: "first", editedAt: edited.editedAt, senderId: idOf(owner) },
    ]);

    // History lists messages as they are now; the edit itself is not an item.
    const history = await fullHistory(owner.client, roomId);
    expect(history.map((m) => m.seq)).toEqual([1, 2, 4]);
    expect(history[1]).toEqual(edited);

    // A second edit: another event, a later (or equal) editedAt.
    const again = await owner.client.message.edit.mutate({ roomId, seq: 2, text: "first!" });
    expect(again.text).toBe("first!");
    expect(Date.parse(again.editedAt as string)).toBeGreaterThanOrEqual(Date.parse(edited.editedAt as string));
    await waitFor(() => live.edits().length === 2);
    expect(nth(live.edits(), 1)).toMatchObject({ seq: 5, targetSeq: 2, text: "first!" });
    expect((await fullHistory(owner.client, roomId))[1]).toEqual(again);
  });

  it("a subscriber resuming with a lastEventId before the edit receives the edit event", async () => {
    const { owner, room } = await roomWith(srv.url, 0);
    const roomId = room.id;
    const m1 = await owner.client.room.send.mutate({ roomId, text: "one" }); // 1
    const m2 = await owner.client.room.send.mutate({ roomId, text: "two" }); // 2
    await owner.client.message.edit.mutate({ roomId, seq: m1.seq, text: "one, edited" }); // 3
    const resumed = await attached(cleanups, srv.url, owner, roomId, String(m2.seq));
    const last = await settle(owner.client, roomId, [resumed]); // 4
    expect(resumed.trackedIds()).toEqual(["3", String(last.seq)]);
    expect(resumed.edits()).toEqual([
      { roomId, seq: 3, targetSeq: 1, text: "one, edited", editedAt: expect.stringMatching(ISO), senderId: idOf(owner) },
    ]);
    // From the very start: every tracked event once, in order.
    const all = await attached(cleanups, srv.url, owner, roomId, "0");
    await waitSeq([all], last.seq);
    expect(all.trackedIds()).toEqual(["1", "2", "3", "4"]);
    expect(all.tracked().map((t) => t.data.type)).toEqual(["message", "message", "edit", "message"]);
  });

  it("refuses someone else's message (FORBIDDEN), the owner included", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const mine = await owner.client.room.send.mutate({ roomId: room.id, text: "owner's" });
    const theirs = await b.client.room.send.mutate({ roomId: room.id, text: "b's" });
    await expectTRPCError(b.client.message.edit.mutate({ roomId: room.id, seq: mine.seq, text: "hijack" }), "FORBIDDEN");
    await expectTRPCError(owner.client.message.edit.mutate({ roomId: room.id, seq: theirs.seq, text: "hijack" }), "FORBIDDEN");
    const history = await fullHistory(owner.client, room.id);
    expect(history.slice(-2)).toEqual([mine, theirs]);
  });

  it("answers NOT_FOUND for a seq that names no chat message: unknown, a membership item, an edit event", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const roomId = room.id;
    const m = await owner.client.room.send.mutate({ roomId, text: "x" }); // 2 (1 is b's join)
    await owner.client.message.edit.mutate({ roomId, seq: m.seq, text: "y" }); // 3
    for (const seq of [1, 3, 4, 9999]) {
      await expectTRPCError(owner.client.message.edit.mutate({ roomId, seq, text: "z" }), "NOT_FOUND");
      await expectTRPCError(owner.client.message.delete.mutate({ roomId, seq }), "NOT_FOUND");
    }
    // b's own join item is not editable by b either.
    await expectTRPCError(nth(others, 0).client.message.edit.mutate({ roomId, seq: 1, text: "z" }), "NOT_FOUND");
    expect((await fullHistory(owner.client, roomId)).map((m) => [m.seq, m.text])).toEqual([
      [1, ""],
      [2, "y"],
    ]);
  });

  it("refuses bad input with BAD_REQUEST naming the field, and non-members with FORBIDDEN", async () => {
    const { owner, room } = await roomWith(srv.url, 0);
    const m = await owner.client.room.send.mutate({ roomId: room.id, text: "x" });
    for (const text of ["", "   ", "t".repeat(4001)]) {
      await expectTRPCError(owner.client.message.edit.mutate({ roomId: room.id, seq: m.seq, text }), "BAD_REQUEST", /text/);
    }
    for (const seq of [0, -1, 1.5]) {
      await expectTRPCError(owner.client.message.edit.mutate({ roomId: room.id, seq, text: "ok" }), "BAD_REQUEST", /seq/);
      await expectTRPCError(owner.client.message.delete.mutate({ roomId: room.id, seq }), "BAD_REQUEST", /seq/);
    }
    await expectTRPCError(owner.client.message.edit.mutate({ roomId: "bad", seq: 1, text: "ok" }), "BAD_REQUEST", /roomId/);
    const outsider = await registerUser(srv.url, "out");
    await expectTRPCError(outsider.client.message.edit.mutate({ roomId: room.id, seq: m.seq, text: "ok" }), "FORBIDDEN", MESSAGES.notMember);
    await expectTRPCError(outsider.client.message.delete.mutate({ roomId: room.id, seq: m.seq }), "FORBIDDEN", MESSAGES.notMember);
    await expectTRPCError(outsider.client.message.edit.mutate({ roomId: unknownRoomId(), seq: 1, text: "ok" }), "NOT_FOUND");
    await expectTRPCError(outsider.client.message.delete.mutate({ roomId: unknownRoomId(), seq: 1 }), "NOT_FOUND");
    expect((await fullHistory(owner.client, room.id))[0]).toEqual(m);
  });
});

describe("message.delete", () => {
  it("is a tracked delete event; history keeps a tombstone with empty text and deletedAt", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const roomId = room.id;
    const live = await attached(cleanups, srv.url, b, roomId);
    const doomed = await owner.client.room.send.mutate({ roomId, text: "oops" }); // 2
    const kept = await owner.client.room.send.mutate({ roomId, text: "kept" }); // 3
    const tomb = await owner.client.message.delete.mutate({ roomId, seq: doomed.seq }); // 4
    expect(tomb).toMatchObject({ roomId, seq: doomed.seq, kind: "text", senderId: idOf(owner), text: "", deletedAt: expect.stringMatching(ISO) });
    await waitFor(() => live.deletes().length === 1);
    expect(live.deletes()).toEqual([{ roomId, seq: 4, targetSeq: doomed.seq, deletedAt: tomb.deletedAt, senderId: idOf(owner) }]);
    expect(live.trackedIds()).toEqual(["2", "3", "4"]);
    expect(live.tracked().map((t) => t.data.type)).toEqual(["message", "message", "delete"]);

    const history = await fullHistory(b.client, roomId);
    expect(history.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(history[1]).toEqual(tomb);
    expect(history[2]).toEqual(kept);

    // A deleted message cannot be edited.
    await expectTRPCError(owner.client.message.edit.mutate({ roomId, seq: doomed.seq, text: "revive" }), "CONFLICT", MESSAGES.messageDeleted);
    expect((await fullHistory(b.client, roomId))[1]).toEqual(tomb);
  });

  it("the room owner may delete another member's message; another member may not", async () => {
    const { owner, room, others } = await roomWith(srv.url, 2);
    const [b, c] = [nth(others, 0), nth(others, 1)];
    const roomId = room.id;
    const live = await attached(cleanups, srv.url, c, roomId);
    const fromB = await b.client.room.send.mutate({ roomId, text: "b says" });
    const fromOwner = await owner.client.room.send.mutate({ roomId, text: "owner says" });
    await expectTRPCError(c.client.message.delete.mutate({ roomId, seq: fromB.seq }), "FORBIDDEN");
    await expectTRPCError(b.client.message.delete.mutate({ roomId, seq: fromOwner.seq }), "FORBIDDEN");
    const tomb = await owner.client.message.delete.mutate({ roomId, seq: fromB.seq });
    expect(tomb).toMatchObject({ seq: fromB.seq, senderId: idOf(b), text: "", deletedAt: expect.stringMatching(ISO) });
    await waitFor(() => live.deletes().length === 1);
    // senderId of the deletion is who deleted it: the owner acting as moderator.
    expect(nth(live.deletes(), 0)).toMatchObject({ targetSeq: fromB.seq, senderId: idOf(owner) });
    const history = await fullHistory(c.client, roomId);
    expect(history.find((m) => m.seq === fromOwner.seq)).toEqual(fromOwner);
    expect(history.find((m) => m.seq === fromB.seq)).toEqual(tomb);
  });

  it("the author may delete their own message", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const m = await b.client.room.send.mutate({ roomId: room.id, text: "mine" });
    const tomb = await b.client.message.delete.mutate({ roomId: room.id, seq: m.seq });
    expect(tomb).toMatchObject({ seq: m.seq, text: "", senderId: idOf(b) });
    expect((await fullHistory(owner.client, room.id)).find((x) => x.seq === m.seq)?.deletedAt).toBe(tomb.deletedAt);
  });

  it("erases a deleted message's earlier texts: a replay from the start does not carry them", async () => {
    const { owner, room } = await roomWith(srv.url, 0);
    const roomId = room.id;
    const m = await owner.client.room.send.mutate({ roomId, text: "secret-original" });
    await owner.client.message.edit.mutate({ roomId, seq: m.seq, text: "secret-edited" });
    await owner.client.message.delete.mutate({ roomId, seq: m.seq });
    const replay = await attached(cleanups, srv.url, owner, roomId, "0");
    const last = await settle(owner.client, roomId, [replay]);
    expect(replay.trackedIds()).toEqual(["1", "2", "3", String(last.seq)]);
    expect(JSON.stringify(replay.events)).not.toContain("secret");
    expect(JSON.stringify(await fullHistory(owner.client, roomId))).not.toContain("secret");
  });
});

describe("room.transfer", () => {
  it("hands ownership to a member; the old owner loses moderation rights, the new owner has them", async () => {
    const { owner, room, others } = await roomWith(srv.url, 2);
    const [b, c] = [nth(others, 0), nth(others, 1)];
    const roomId = room.id;
    const fromC = await c.client.room.send.mutate({ roomId, text: "c's" });
    const moved = await owner.client.room.transfer.mutate({ roomId, userId: idOf(b) });
    expect(moved).toMatchObject({ id: roomId, ownerId: idOf(b), memberCount: 3 });
    expect((await c.client.room.get.query({ roomId })).ownerId).toBe(idOf(b));
    const roles = (await c.client.member.list.query({ roomId })).map((m) => [m.userId, m.role]);
    expect(roles.sort((x, y) => Number(x[0]) - Number(y[0]))).toEqual(
      [
        [idOf(owner), "member"],
        [idOf(b), "owner"],
        [idOf(c), "member"],
      ].sort((x, y) => Number(x[0]) - Number(y[0])),
    );
    await expectTRPCError(owner.client.member.kick.mutate({ roomId, userId: idOf(c) }), "FORBIDDEN");
    await expectTRPCError(owner.client.member.ban.mutate({ roomId, userId: idOf(c) }), "FORBIDDEN");
    await expectTRPCError(owner.client.room.transfer.mutate({ roomId, userId: idOf(c) }), "FORBIDDEN");
    await expectTRPCError(owner.client.message.delete.mutate({ roomId, seq: fromC.seq }), "FORBIDDEN");
    await expectTRPCError(owner.client.room.remove.mutate({ roomId }), "FORBIDDEN");
    // The new owner moderates.
    expect((await b.client.message.delete.mutate({ roomId, seq: fromC.seq })).deletedAt).toMatch(ISO);
    expect(await b.client.member.kick.mutate({ roomId, userId: idOf(owner) })).toEqual({ ok: true });
    const items = (await fullHistory(b.client, roomId)).filter((m) => m.kind === "owner" || m.kind === "kick");
    expect(items.map((m) => [m.kind, m.senderId, m.subjectId, m.subjectLogin])).toEqual([
      ["owner", idOf(owner), idOf(b), loginOf(b)],
      ["kick", idOf(b), idOf(owner), loginOf(owner)],
    ]);
  });
});
