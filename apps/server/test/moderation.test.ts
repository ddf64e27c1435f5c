import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MESSAGES } from "@anonchat/shared";
import { httpClient, registerUser, startTestServer, waitFor, type TestServer } from "./harness.js";
import { connectLegacy, frameText } from "./helpers/legacy.js";
import { expectTRPCError, fullHistory, sleep, unknownRoomId } from "./helpers/trpc.js";
import {
  attached,
  attachedActivity,
  Cleanups,
  idOf,
  loginOf,
  nth,
  openLegacyWatched,
  roomWith,
  settle,
  subscribeRoom,
  users,
  waitEnded,
  type RoomLog,
  type User,
} from "./helpers/room-features.js";

/** Issue 7, moderation: member.kick, member.ban, member.unban and room.transfer (docs/api.md). */

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.stop();
});
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** The last event of a log, which must be the kick or ban item about `userId`. */
function expectEndedWith(log: RoomLog, kind: "kick" | "ban", actorId: number, userId: number) {
  const last = log.events.at(-1);
  expect(last?.data.type).toBe("message");
  if (last?.data.type !== "message") return;
  expect(last.data.message).toMatchObject({ kind, senderId: actorId, subjectId: userId, text: "" });
  expect(last.id).toBe(String(last.data.message.seq));
  expect(log.completed || log.stopped).toBe(true);
  expect(log.error).toBeUndefined();
}

describe("member.kick", () => {
  it("ends the kicked member's live subscription with the kick item about them; others keep streaming", async () => {
    const { owner, room, others } = await roomWith(srv.url, 2);
    const [b, c] = [nth(others, 0), nth(others, 1)];
    const roomId = room.id;
    const kicked = await attached(cleanups, srv.url, b, roomId);
    const kickedReplay = await attached(cleanups, srv.url, b, roomId, "0");
    const stayer = await attached(cleanups, srv.url, c, roomId);
    await owner.client.room.send.mutate({ roomId, text: "before" });
    expect(await owner.client.member.kick.mutate({ roomId, userId: idOf(b) })).toEqual({ ok: true });
    await waitEnded(kicked);
    await waitEnded(kickedReplay);
    for (const log of [kicked, kickedReplay]) expectEndedWith(log, "kick", idOf(owner), idOf(b));
    expect(nth(kicked.messages(), kicked.messages().length - 1).subjectLogin).toBe(loginOf(b));

    const after = await settle(owner.client, roomId, [stayer]);
    expect(stayer.messages().map((m) => m.kind)).toEqual(["text", "kick", "text"]);
    expect(stayer.completed).toBe(false);
    expect(kicked.trackedIds()).not.toContain(String(after.seq));

    // No longer a member...
    expect((await b.client.room.list.query()).map((r) => r.id)).not.toContain(roomId);
    await expectTRPCError(b.client.room.history.query({ roomId }), "FORBIDDEN", MESSAGES.notMember);
    await expectTRPCError(b.client.room.send.mutate({ roomId, text: "still here?" }), "FORBIDDEN", MESSAGES.notMember);
    expect((await owner.client.room.get.query({ roomId })).memberCount).toBe(2);
    // ...but may come back.
    expect((await b.client.room.join.mutate({ roomId })).memberCount).toBe(3);
    const back = await attached(cleanups, srv.url, b, roomId);
    const m = await settle(b.client, roomId, [back, stayer], "I'm back");
    expect(m.senderId).toBe(idOf(b));
    expect((await fullHistory(owner.client, roomId)).map((x) => x.kind)).toEqual(["join", "join", "text", "kick", "text", "join", "text"]);
  });

  it("refuses a non-owner (FORBIDDEN), the owner themselves (BAD_REQUEST) and a non-member target (NOT_FOUND)", async () => {
    const { owner, room, others } = await roomWith(srv.url, 2);
    const [b, c] = [nth(others, 0), nth(others, 1)];
    const outsider = await registerUser(srv.url, "out");
    const roomId = room.id;
    await expectTRPCError(b.client.member.kick.mutate({ roomId, userId: idOf(c) }), "FORBIDDEN", MESSAGES.notOwner);
    await expectTRPCError(b.client.member.kick.mutate({ roomId, userId: idOf(owner) }), "FORBIDDEN", MESSAGES.notOwner);
    await expectTRPCError(owner.client.member.kick.mutate({ roomId, userId: idOf(owner) }), "BAD_REQUEST");
    await expectTRPCError(owner.client.member.kick.mutate({ roomId, userId: idOf(outsider) }), "NOT_FOUND");
    await expectTRPCError(owner.client.member.kick.mutate({ roomId, userId: 2_000_000_000 }), "NOT_FOUND");
    await expectTRPCError(outsider.client.member.kick.mutate({ roomId, userId: idOf(b) }), "FORBIDDEN");
    await expectTRPCError(owner.client.member.kick.mutate({ roomId: unknownRoomId(), userId: idOf(b) }), "NOT_FOUND");
    for (const userId of [0, -1, 1.5]) {
      await expectTRPCError(owner.client.member.kick.mutate({ roomId, userId }), "BAD_REQUEST", /userId/);
    }
    await expectTRPCError(owner.client.member.kick.mutate({ roomId: "bad", userId: idOf(b) }), "BAD_REQUEST", /roomId/);
    // Nothing happened.
    expect((await owner.client.room.get.query({ roomId })).memberCount).toBe(3);
    expect((await fullHistory(owner.client, roomId)).map((m) => m.kind)).toEqual(["join", "join"]);
  });

  it("closes the kicked user's legacy socket with a notice frame and 4403; others' sockets stay", async () => {
    const { owner, room } = await roomWith(srv.url, 0);
    const [guest, other] = (await users(srv.url, 2, "lg")) as [User, User];
    const watcher = await attached(cleanups, srv.url, owner, room.id);
    const sock = await openLegacyWatched(srv.wsUrl, room.id, guest, watcher);
    const otherSock = await openLegacyWatched(srv.wsUrl, room.id, other, watcher);
    cleanups.add(() => sock.close());
    cleanups.add(() => otherSock.close());
    const framesBefore = sock.frames.length;
    expect(await owner.client.member.kick.mutate({ roomId: room.id, userId: idOf(guest) })).toEqual({ ok: true });
    const closed = await sock.waitClose(5000);
    expect(closed.code).toBe(4403);
    // The last frame before the close is the server's notice (client_id 0, "AnonChat").
    expect(sock.frames.length).toBeGreaterThan(framesBefore);
    const notice = JSON.parse(sock.frames.at(-1) as string) as { client_id: number; client_name: string; room_id: string };
    expect(notice).toMatchObject({ client_id: 0, client_name: "AnonChat", room_id: room.id });
    expect(frameText(sock.frames.at(-1) as string).length).toBeGreaterThan(0);
    // The other legacy member still gets messages.
    await owner.client.room.send.mutate({ roomId: room.id, text: "still on" });
    await waitFor(() => otherSock.frames.some((f) => frameText(f) === "still on"), 5000, "the other socket's frame");
    expect(otherSock.closed).toBeUndefined();
    // A kicked user may connect again (connecting is joining).
    const again = await openLegacyWatched(srv.wsUrl, room.id, guest, watcher);
    cleanups.add(() => again.close());
    expect(again.closed).toBeUndefined();
  });
});

describe("kick and ban reach every connection of the member, and only to that room", () => {
  it("ends both devices' subscriptions and the legacy socket; the member's other rooms keep streaming", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const roomId = room.id;
    const elsewhere = await owner.client.room.create.mutate({ name: "elsewhere", maxMembers: 5 });
    await b.client.room.join.mutate({ roomId: elsewhere.id });
    const watcher = await attached(cleanups, srv.url, owner, roomId);
    const sock = await openLegacyWatched(srv.wsUrl, roomId, b, watcher);
    cleanups.add(() => sock.close());
    const devices = [await attached(cleanups, srv.url, b, roomId), await attached(cleanups, srv.url, b, roomId)];
    const other = await attached(cleanups, srv.url, b, elsewhere.id);
    await owner.client.member.ban.mutate({ roomId, userId: idOf(b) });
    for (const d of devices) {
      await waitEnded(d);
      expectEndedWith(d, "ban", idOf(owner), idOf(b));
    }
    expect((await sock.waitClose(5000)).code).toBe(4403);
    await settle(owner.client, elsewhere.id, [other]);
    expect(other.completed || other.stopped).toBe(false);
    expect(await b.client.room.send.mutate({ roomId: elsewhere.id, text: "still here" })).toMatchObject({ senderId: idOf(b) });
  });

  it("a kicked legacy member's socket closing adds no leave item after the kick", async () => {
    const { owner, room } = await roomWith(srv.url, 0);
    const guest = await registerUser(srv.url, "lg");
    const watcher = await attached(cleanups, srv.url, owner, room.id);
    const sock = await openLegacyWatched(srv.wsUrl, room.id, guest, watcher);
    cleanups.add(() => sock.close());
    await owner.client.member.kick.mutate({ roomId: room.id, userId: idOf(guest) });
    await sock.waitClose(5000);
    // Give the server's close handling time to run, then look.
    await sleep(500);
    const m = await settle(owner.client, room.id, [watcher]);
    const kinds = (await fullHistory(owner.client, room.id)).map((x) => x.kind);
    expect(kinds).toEqual(["join", "kick", "text"]);
    expect(m.seq).toBe(3);
    expect((await owner.client.room.get.query({ roomId: room.id })).memberCount).toBe(1);
  });

  it("a kicked member's client that reconnects with its lastEventId is refused, not resumed", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const kicked = await attached(cleanups, srv.url, b, room.id);
    await owner.client.member.kick.mutate({ roomId: room.id, userId: idOf(b) });
    await waitEnded(kicked);
    const again = subscribeRoom(cleanups, srv.url, b, room.id, kicked.trackedIds().at(-1));
    await waitFor(() => again.error !== undefined, 5000, "the refusal");
    expect(again.error?.data?.code).toBe("FORBIDDEN");
    expect(again.events).toEqual([]);
  });
});

describe("member.ban and member.unban", () => {
  it("ends the banned member's subscription with the ban item; joining is FORBIDDEN until unbanned", async () => {
    const { owner, room, others } = await roomWith(srv.url, 2);
    const [b, c] = [nth(others, 0), nth(others, 1)];
    const roomId = room.id;
    const banned = await attached(cleanups, srv.url, b, roomId);
    const stayer = await attached(cleanups, srv.url, c, roomId);
    expect(await owner.client.member.ban.mutate({ roomId, userId: idOf(b) })).toEqual({ ok: true });
    await waitEnded(banned);
    expectEndedWith(banned, "ban", idOf(owner), idOf(b));
    await settle(owner.client, roomId, [stayer]);
    expect(stayer.completed).toBe(false);

    await expectTRPCError(b.client.room.join.mutate({ roomId }), "FORBIDDEN", MESSAGES.banned);
    await expectTRPCError(b.client.room.history.query({ roomId }), "FORBIDDEN", MESSAGES.notMember);
    expect((await owner.client.room.get.query({ roomId })).memberCount).toBe(2);
    expect((await b.client.room.list.query()).map((r) => r.id)).not.toContain(roomId);
    // A ban is not undone by asking twice.
    await expectTRPCError(b.client.room.join.mutate({ roomId }), "FORBIDDEN", MESSAGES.banned);

    expect(await owner.client.member.unban.mutate({ roomId, userId: idOf(b) })).toEqual({ ok: true });
    expect((await b.client.room.join.mutate({ roomId })).memberCount).toBe(3);
    expect((await fullHistory(owner.client, roomId)).map((m) => [m.kind, m.subjectId])).toEqual([
      ["join", null],
      ["join", null],
      ["ban", idOf(b)],
      ["text", null],
      ["join", null],
    ]);
  });

  it("a ban closes the banned user's legacy socket (notice, 4403) and refuses their next legacy connect", async () => {
    const { owner, room } = await roomWith(srv.url, 0);
    const guest = await registerUser(srv.url, "lg");
    const watcher = await attached(cleanups, srv.url, owner, room.id);
    const sock = await openLegacyWatched(srv.wsUrl, room.id, guest, watcher);
    cleanups.add(() => sock.close());
    await owner.client.member.ban.mutate({ roomId: room.id, userId: idOf(guest) });
    expect((await sock.waitClose(5000)).code).toBe(4403);
    expect(JSON.parse(sock.frames.at(-1) as string)).toMatchObject({ client_id: 0, client_name: "AnonChat", room_id: room.id });

    const refused = connectLegacy(srv.wsUrl, room.id, guest.session.accessToken);
    cleanups.add(() => refused.close());
    const closed = await refused.waitClose(5000);
    expect(closed.code).toBe(4403);
    expect(closed.reason).toMatch(/banned/);
    expect((await owner.client.room.get.query({ roomId: room.id })).memberCount).toBe(1);
    expect((await guest.client.room.list.query()).map((r) => r.id)).not.toContain(room.id);
  });

  it("refuses a non-owner (FORBIDDEN) and the owner themselves (BAD_REQUEST)", async () => {
    const { owner, room, others } = await roomWith(srv.url, 2);
    const [b, c] = [nth(others, 0), nth(others, 1)];
    const roomId = room.id;
    await expectTRPCError(b.client.member.ban.mutate({ roomId, userId: idOf(c) }), "FORBIDDEN", MESSAGES.notOwner);
    await expectTRPCError(b.client.member.unban.mutate({ roomId, userId: idOf(c) }), "FORBIDDEN", MESSAGES.notOwner);
    await expectTRPCError(owner.client.member.ban.mutate({ roomId, userId: idOf(owner) }), "BAD_REQUEST");
    await expectTRPCError(owner.client.member.ban.mutate({ roomId: unknownRoomId(), userId: idOf(b) }), "NOT_FOUND");
    await expectTRPCError(owner.client.member.ban.mutate({ roomId, userId: 0 }), "BAD_REQUEST", /userId/);
    await expectTRPCError(owner.client.member.unban.mutate({ roomId, userId: 0 }), "BAD_REQUEST", /userId/);
    expect((await owner.client.room.get.query({ roomId })).memberCount).toBe(3);
  });

  it("banning a user who is not a member either bars them from joining or is NOT_FOUND", async () => {
    // The table says ban "removes the member if present and bars them"; the prose says a userId that
    // is not a member is NOT_FOUND. Either reading is accepted, but it must be consistent.
    const { owner, room } = await roomWith(srv.url, 0);
    const outsider = await registerUser(srv.url, "out");
    const outcome = await owner.client.member.ban.mutate({ roomId: room.id, userId: idOf(outsider) }).then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    if (outcome.ok) {
      expect(outcome.v).toEqual({ ok: true });
      await expectTRPCError(outsider.client.room.join.mutate({ roomId: room.id }), "FORBIDDEN", MESSAGES.banned);
    } else {
      await expectTRPCError(Promise.reject(outcome.e), "NOT_FOUND");
      expect((await outsider.client.room.join.mutate({ roomId: room.id })).memberCount).toBe(2);
    }
    // A user id that names nobody at all.
    await expectTRPCError(owner.client.member.ban.mutate({ roomId: room.id, userId: 2_000_000_000 }), "NOT_FOUND");
  });
});

describe("room.transfer", () => {
  it("refuses a non-owner (FORBIDDEN) and a non-member new owner (NOT_FOUND); adds one owner item", async () => {
    const { owner, room, others } = await roomWith(srv.url, 2);
    const [b, c] = [nth(others, 0), nth(others, 1)];
    const o = await registerUser(srv.url, "out");
    const roomId = room.id;
    await expectTRPCError(b.client.room.transfer.mutate({ roomId, userId: idOf(c) }), "FORBIDDEN", MESSAGES.notOwner);
    await expectTRPCError(b.client.room.transfer.mutate({ roomId, userId: idOf(b) }), "FORBIDDEN", MESSAGES.notOwner);
    await expectTRPCError(owner.client.room.transfer.mutate({ roomId, userId: idOf(o) }), "NOT_FOUND");
    await expectTRPCError(owner.client.room.transfer.mutate({ roomId: unknownRoomId(), userId: idOf(b) }), "NOT_FOUND");
    await expectTRPCError(owner.client.room.transfer.mutate({ roomId, userId: 0 }), "BAD_REQUEST", /userId/);
    expect((await b.client.room.get.query({ roomId })).ownerId).toBe(idOf(owner));

    const watcher = await attached(cleanups, srv.url, c, roomId);
    const moved = await owner.client.room.transfer.mutate({ roomId, userId: idOf(c) });
    expect(moved).toMatchObject({ id: roomId, ownerId: idOf(c) });
    await waitFor(() => watcher.messages().some((m) => m.kind === "owner"), 5000, "the owner item");
    expect(watcher.messages().map((m) => [m.kind, m.senderId, m.subjectId, m.subjectLogin])).toEqual([
      ["owner", idOf(owner), idOf(c), loginOf(c)],
    ]);
    // The new owner may now remove the room; the old one may not.
    await expectTRPCError(owner.client.room.remove.mutate({ roomId }), "FORBIDDEN");
    expect(await c.client.room.remove.mutate({ roomId })).toEqual({ ok: true });
  });
});

describe("room.onActivity on moderation", () => {
  it("tells the kicked and the banned member's open clients that they left, with the reason", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    // b's own room, so the activity stream can be probed until it is attached.
    const home = await b.client.room.create.mutate({ name: "home", maxMembers: 2 });
    const activity = await attachedActivity(cleanups, srv.url, b, home.id);
    await owner.client.member.kick.mutate({ roomId: room.id, userId: idOf(b) });
    await waitFor(() => activity.ofType("left").length === 1, 5000, "left after kick");
    expect(activity.ofType("left")).toEqual([{ type: "left", roomId: room.id, reason: "kick" }]);
    await b.client.room.join.mutate({ roomId: room.id });
    await waitFor(() => activity.ofType("joined").some((e) => e.room.id === room.id), 5000, "joined");
    await owner.client.member.ban.mutate({ roomId: room.id, userId: idOf(b) });
    await waitFor(() => activity.ofType("left").length === 2, 5000, "left after ban");
    expect(nth(activity.ofType("left"), 1)).toEqual({ type: "left", roomId: room.id, reason: "ban" });
    expect(activity.error).toBeUndefined();
  });
});

describe("moderation races", () => {
  const settled = async <T,>(calls: Array<Promise<T>>) => {
    const out = await Promise.allSettled(calls);
    return {
      ok: out.filter((r) => r.status === "fulfilled").length,
      codes: out.flatMap((r) => (r.status === "rejected" ? [(r.reason as { data?: { code?: string } }).data?.code] : [])),
    };
  };

  it("ten concurrent kicks of one member: one succeeds, the rest are NOT_FOUND, one kick item", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const r = await settled(Array.from({ length: 10 }, () => httpClient(srv.url, owner.session.accessToken).member.kick.mutate({ roomId: room.id, userId: idOf(b) })));
    expect(r.ok).toBe(1);
    expect(r.codes).toEqual(Array.from({ length: 9 }, () => "NOT_FOUND"));
    expect((await fullHistory(owner.client, room.id)).map((m) => m.kind)).toEqual(["join", "kick"]);
    expect((await owner.client.room.get.query({ roomId: room.id })).memberCount).toBe(1);
  });

  it("a kick racing the member's own leave ends in exactly one item that removed them", async () => {
    for (let round = 0; round < 5; round++) {
      const { owner, room, others } = await roomWith(srv.url, 1);
      const b = nth(others, 0);
      await Promise.allSettled([
        owner.client.member.kick.mutate({ roomId: room.id, userId: idOf(b) }),
        b.client.room.leave.mutate({ roomId: room.id }),
      ]);
      const kinds = (await fullHistory(owner.client, room.id)).map((m) => m.kind);
      expect([["join", "kick"], ["join", "leave"]]).toContainEqual(kinds);
      expect((await owner.client.room.get.query({ roomId: room.id })).memberCount).toBe(1);
    }
  });

  it("two concurrent transfers to different members: one wins, the other is FORBIDDEN, one owner item", async () => {
    const { owner, room, others } = await roomWith(srv.url, 2);
    const [b, c] = [nth(others, 0), nth(others, 1)];
    const token = owner.session.accessToken;
    const r = await settled([
      httpClient(srv.url, token).room.transfer.mutate({ roomId: room.id, userId: idOf(b) }),
      httpClient(srv.url, token).room.transfer.mutate({ roomId: room.id, userId: idOf(c) }),
    ]);
    expect(r.ok).toBe(1);
    expect(r.codes).toEqual(["FORBIDDEN"]);
    const items = (await fullHistory(owner.client, room.id)).filter((m) => m.kind === "owner");
    expect(items).toHaveLength(1);
    expect((await owner.client.room.get.query({ roomId: room.id })).ownerId).toBe(nth(items, 0).subjectId);
  });

  it("a ban racing the member's join: if they are banned, they are not a member", async () => {
    for (let round = 0; round < 5; round++) {
      const { owner, room } = await roomWith(srv.url, 0);
      const b = await registerUser(srv.url, "race");
      await Promise.allSettled([
        b.client.room.join.mutate({ roomId: room.id }),
        owner.client.member.ban.mutate({ roomId: room.id, userId: idOf(b) }),
      ]);
      const isMember = (await b.client.room.list.query()).some((r) => r.id === room.id);
      expect(isMember).toBe(false);
      await expectTRPCError(b.client.room.join.mutate({ roomId: room.id }), "FORBIDDEN", MESSAGES.banned);
      expect((await owner.client.room.get.query({ roomId: room.id })).memberCount).toBe(1);
    }
  });
});

