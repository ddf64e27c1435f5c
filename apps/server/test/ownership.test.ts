import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MESSAGES } from "@anonchat/shared";
import { startTestServer, type TestServer } from "./harness.js";
import { expectTRPCError, fullHistory } from "./helpers/trpc.js";
import { attached, Cleanups, idOf, loginOf, nth, roomWith, settle, waitEnded } from "./helpers/room-features.js";

/** Issue 7: a room never loses its moderator when the owner leaves (docs/api.md, Moderation). */

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.stop();
});
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe("an owner who leaves", () => {
  it("hands the room to the longest-standing member: a leave item, then an owner item, live and in history", async () => {
    const { owner, room, others } = await roomWith(srv.url, 2);
    const [first, second] = [nth(others, 0), nth(others, 1)];
    const watcher = await attached(cleanups, srv.url, second, room.id);
    const ownerLog = await attached(cleanups, srv.url, owner, room.id);

    await owner.client.room.leave.mutate({ roomId: room.id });
    await waitEnded(ownerLog);
    const sentinel = await settle(first.client, room.id, [watcher]);

    const items = watcher.messages().filter((m) => m.seq < sentinel.seq && m.kind !== "text");
    expect(items.map((m) => [m.kind, m.senderId, m.subjectId])).toEqual([
      ["leave", idOf(owner), null],
      ["owner", idOf(owner), idOf(first)],
    ]);
    expect(nth(items, 1)).toMatchObject({ subjectLogin: loginOf(first) });
    expect(nth(items, 1).seq).toBe(nth(items, 0).seq + 1);

    const history = await fullHistory(first.client, room.id);
    expect(history.filter((m) => m.kind === "leave" || m.kind === "owner").map((m) => m.seq)).toEqual(items.map((m) => m.seq));
    expect((await first.client.room.get.query({ roomId: room.id })).ownerId).toBe(idOf(first));
    expect((await first.client.room.get.query({ roomId: room.id })).memberCount).toBe(2);
  });

  it("the heir moderates; the former owner no longer can", async () => {
    const { owner, room, others } = await roomWith(srv.url, 2);
    const [heir, other] = [nth(others, 0), nth(others, 1)];
    await owner.client.room.leave.mutate({ roomId: room.id });
    await owner.client.room.join.mutate({ roomId: room.id });

    await expectTRPCError(owner.client.member.kick.mutate({ roomId: room.id, userId: idOf(other) }), "FORBIDDEN", MESSAGES.notOwner);
    await expectTRPCError(owner.client.room.remove.mutate({ roomId: room.id }), "FORBIDDEN", MESSAGES.notOwner);
    expect(await heir.client.member.kick.mutate({ roomId: room.id, userId: idOf(owner) })).toEqual({ ok: true });
    const members = await heir.client.member.list.query({ roomId: room.id });
    expect(members.map((m) => [m.userId, m.role])).toEqual([
      [idOf(heir), "owner"],
      [idOf(other), "member"],
    ]);
  });

  it("keeps an empty room's owner, who may still remove it", async () => {
    const { owner, room } = await roomWith(srv.url, 0);
    await owner.client.room.leave.mutate({ roomId: room.id });
    await expectTRPCError(owner.client.room.get.query({ roomId: room.id }), "FORBIDDEN", MESSAGES.notMember);
    expect(await owner.client.room.remove.mutate({ roomId: room.id })).toEqual({ ok: true });
  });
});

describe("banning twice", () => {
  it("adds one ban item: banning someone already banned and gone changes nothing", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const banned = nth(others, 0);
    expect(await owner.client.member.ban.mutate({ roomId: room.id, userId: idOf(banned) })).toEqual({ ok: true });
    expect(await owner.client.member.ban.mutate({ roomId: room.id, userId: idOf(banned) })).toEqual({ ok: true });
    const history = await fullHistory(owner.client, room.id);
    expect(history.filter((m) => m.kind === "ban").map((m) => m.subjectId)).toEqual([idOf(banned)]);
    expect((await owner.client.member.bans.query({ roomId: room.id })).map((b) => b.userId)).toEqual([idOf(banned)]);
  });
});
