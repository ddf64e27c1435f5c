import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MESSAGES } from "@anonchat/shared";
import { httpClient, startTestServer, type Client, type TestServer, registerUser } from "./harness.js";
import { expectTRPCError, unknownRoomId } from "./helpers/trpc.js";
import { idOf, ISO, loginOf, nth, roomWith, users, type User } from "./helpers/room-features.js";

/**
 * Issue 7, who may call what: the new reads and signals are for members only (FORBIDDEN for a
 * non-member of an existing room, NOT_FOUND for a well-formed unknown room id), and a bad input is
 * a BAD_REQUEST whose message names the field.
 */

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.stop();
});

/** Every issue-7 procedure that takes a room, called with that room id and otherwise valid input. */
const calls = (target: number): Array<[string, (c: Client, roomId: string) => Promise<unknown>]> => [
  ["member.list", (c, roomId) => c.member.list.query({ roomId })],
  ["room.presence", (c, roomId) => c.room.presence.query({ roomId })],
  ["room.markRead", (c, roomId) => c.room.markRead.mutate({ roomId, seq: 1 })],
  ["room.typing", (c, roomId) => c.room.typing.mutate({ roomId })],
  ["message.edit", (c, roomId) => c.message.edit.mutate({ roomId, seq: 1, text: "x" })],
  ["message.delete", (c, roomId) => c.message.delete.mutate({ roomId, seq: 1 })],
  ["member.kick", (c, roomId) => c.member.kick.mutate({ roomId, userId: target })],
  ["member.ban", (c, roomId) => c.member.ban.mutate({ roomId, userId: target })],
  ["member.unban", (c, roomId) => c.member.unban.mutate({ roomId, userId: target })],
  ["room.transfer", (c, roomId) => c.room.transfer.mutate({ roomId, userId: target })],
];

describe("members only", () => {
  let owner: User;
  let member: User;
  let outsider: User;
  let roomId: string;
  beforeAll(async () => {
    const r = await roomWith(srv.url, 1);
    owner = r.owner;
    member = nth(r.others, 0);
    roomId = r.room.id;
    await owner.client.room.send.mutate({ roomId, text: "hello" });
    outsider = await registerUser(srv.url, "out");
  });

  it.each(["member.list", "room.presence", "room.markRead", "room.typing", "message.edit", "message.delete", "member.kick", "member.ban", "member.unban", "room.transfer"])(
    "%s: FORBIDDEN for a non-member, NOT_FOUND for an unknown room, BAD_REQUEST for a malformed room id, UNAUTHORIZED without a token",
    async (name) => {
      const call = calls(idOf(member)).find(([n]) => n === name)?.[1];
      if (!call) throw new Error(name);
      // The owner-only procedures may say so instead.
      const ownerOnly = ["member.kick", "member.ban", "member.unban", "room.transfer"].includes(name);
      const err = await expectTRPCError(call(outsider.client, roomId), "FORBIDDEN");
      expect(ownerOnly ? [MESSAGES.notMember, MESSAGES.notOwner] : [MESSAGES.notMember]).toContain(err.message);
      await expectTRPCError(call(outsider.client, unknownRoomId()), "NOT_FOUND");
      await expectTRPCError(call(outsider.client, "not-a-room"), "BAD_REQUEST", /roomId/);
      await expectTRPCError(call(httpClient(srv.url), roomId), "UNAUTHORIZED");
      // Nothing changed for the members.
      expect((await owner.client.room.get.query({ roomId })).memberCount).toBe(2);
    },
  );

  it("a removed room is NOT_FOUND for its former members", async () => {
    const r = await roomWith(srv.url, 1);
    const b = nth(r.others, 0);
    await r.owner.client.room.remove.mutate({ roomId: r.room.id });
    for (const [name, call] of calls(idOf(b))) {
      const err = await expectTRPCError(call(r.owner.client, r.room.id), "NOT_FOUND");
      expect(err.message, name).toBe(MESSAGES.roomNotFound);
    }
  });

  it("member.list lists every member with role, joinedAt, lastReadSeq and online", async () => {
    const list = await member.client.member.list.query({ roomId });
    const byId = new Map(list.map((m) => [m.userId, m]));
    expect(list).toHaveLength(2);
    expect(byId.get(idOf(owner))).toEqual({
      userId: idOf(owner),
      login: loginOf(owner),
      role: "owner",
      joinedAt: expect.stringMatching(ISO),
      lastReadSeq: expect.any(Number),
      online: false,
    });
    expect(byId.get(idOf(member))).toEqual({
      userId: idOf(member),
      login: loginOf(member),
      role: "member",
      joinedAt: expect.stringMatching(ISO),
      lastReadSeq: 1,
      online: false,
    });
    expect(await member.client.room.presence.query({ roomId })).toEqual([]);
  });
});

describe("bad input names the field", () => {
  let owner: User;
  let roomId: string;
  beforeAll(async () => {
    const r = await roomWith(srv.url, 1);
    owner = r.owner;
    roomId = r.room.id;
  });

  const cases: Array<[string, (c: Client) => Promise<unknown>, string]> = [
    ["markRead seq 0", (c) => c.room.markRead.mutate({ roomId, seq: 0 }), "seq"],
    ["markRead seq 1.5", (c) => c.room.markRead.mutate({ roomId, seq: 1.5 }), "seq"],
    ["markRead seq missing", (c) => c.room.markRead.mutate({ roomId } as never), "seq"],
    ["markRead seq as a string", (c) => c.room.markRead.mutate({ roomId, seq: "3" as never }), "seq"],
    ["edit text empty", (c) => c.message.edit.mutate({ roomId, seq: 1, text: "" }), "text"],
    ["edit text too long", (c) => c.message.edit.mutate({ roomId, seq: 1, text: "x".repeat(4001) }), "text"],
    ["edit seq -1", (c) => c.message.edit.mutate({ roomId, seq: -1, text: "x" }), "seq"],
    ["delete seq 0", (c) => c.message.delete.mutate({ roomId, seq: 0 }), "seq"],
    ["kick userId 0", (c) => c.member.kick.mutate({ roomId, userId: 0 }), "userId"],
    ["ban userId 1.5", (c) => c.member.ban.mutate({ roomId, userId: 1.5 }), "userId"],
    ["unban userId a string", (c) => c.member.unban.mutate({ roomId, userId: "7" as never }), "userId"],
    ["transfer userId missing", (c) => c.room.transfer.mutate({ roomId } as never), "userId"],
    ["typing not a boolean", (c) => c.room.typing.mutate({ roomId, typing: "yes" as never }), "typing"],
    ["presence roomId missing", (c) => c.room.presence.query({} as never), "roomId"],
    ["member.list roomId a number", (c) => c.member.list.query({ roomId: 5 as never }), "roomId"],
  ];
  it.each(cases)("%s", async (_label, call, field) => {
    const err = await expectTRPCError(call(owner.client), "BAD_REQUEST");
    expect(err.message).toContain(field);
  });
});
