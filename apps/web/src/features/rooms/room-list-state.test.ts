import { describe, expect, it } from "vitest";
import type { Message, RoomSummary } from "@anonchat/shared";
import { applyActivity, applyReadMarker, byActivity, unreadLabel, type ActivityContext } from "./room-list-state";

const ME = 1;
const OTHER = 2;
const summary = (id: string, lastActivityAt: string, extra: Partial<RoomSummary> = {}): RoomSummary => ({
  id,
  name: id,
  ownerId: ME,
  maxMembers: 10,
  memberCount: 2,
  createdAt: "2024-01-01T00:00:00.000Z",
  lastMessage: null,
  lastSeq: 1,
  lastReadSeq: 1,
  unreadCount: 0,
  lastActivityAt,
  ...extra,
});
const message = (roomId: string, seq: number, senderId: number, createdAt: string, kind: Message["kind"] = "text"): Message => ({
  roomId,
  seq,
  senderId,
  senderLogin: senderId === ME ? "me" : "other",
  text: `m${seq}`,
  createdAt,
  clientMsgId: null,
  kind,
  editedAt: null,
  deletedAt: null,
  subjectId: null,
  subjectLogin: null,
});
const away: ActivityContext = { myId: ME, isReading: () => false };
const ids = (l: RoomSummary[] | undefined) => l?.map((r) => r.id);

describe("applyActivity", () => {
  const list = [summary("b", "2024-01-02T00:00:00.000Z"), summary("a", "2024-01-01T00:00:00.000Z")];

  it("moves a room with a new message to the top, shows it and counts it unread", () => {
    const m = message("a", 2, OTHER, "2024-01-03T00:00:00.000Z");
    const { list: next, refetch } = applyActivity(list, { type: "message", roomId: "a", message: m }, away);
    expect(refetch).toBe(false);
    expect(ids(next)).toEqual(["a", "b"]);
    expect(next?.[0]).toMatchObject({ lastMessage: m, unreadCount: 1, lastSeq: 2, lastActivityAt: m.createdAt });
  });

  it("does not count my own messages, nor one in the room I am reading, nor the same seq twice", () => {
    const mine = message("a", 2, ME, "2024-01-03T00:00:00.000Z");
    expect(applyActivity(list, { type: "message", roomId: "a", message: mine }, away).list?.[0]?.unreadCount).toBe(0);
    const theirs = message("a", 2, OTHER, "2024-01-03T00:00:00.000Z");
    const reading = { myId: ME, isReading: (id: string) => id === "a" };
    expect(applyActivity(list, { type: "message", roomId: "a", message: theirs }, reading).list?.[0]?.unreadCount).toBe(0);
    const once = applyActivity(list, { type: "message", roomId: "a", message: theirs }, away).list;
    expect(applyActivity(once, { type: "message", roomId: "a", message: theirs }, away).list).toBe(once);
  });

  it("stops at the server's cap", () => {
    const full = [summary("a", "2024-01-01T00:00:00.000Z", { unreadCount: 999 })];
    const m = message("a", 2, OTHER, "2024-01-03T00:00:00.000Z");
    expect(applyActivity(full, { type: "message", roomId: "a", message: m }, away).list?.[0]?.unreadCount).toBe(999);
    expect(unreadLabel(999)).toBe("999+");
    expect(unreadLabel(3)).toBe("3");
  });

  it("sets the count from a read marker, but never from an older one", () => {
    const unread = [summary("a", "2024-01-01T00:00:00.000Z", { lastSeq: 9, lastReadSeq: 5, unreadCount: 4 })];
    const read = applyActivity(unread, { type: "read", marker: { roomId: "a", lastReadSeq: 9, unreadCount: 0 } }, away).list;
    expect(read?.[0]).toMatchObject({ lastReadSeq: 9, unreadCount: 0 });
    expect(applyActivity(read, { type: "read", marker: { roomId: "a", lastReadSeq: 7, unreadCount: 2 } }, away).list).toBe(read);
  });

  it("keeps the messages it counted after the marker instead of the server's older count, and reads the list again", () => {
    // Seq 11 from someone else came through the feed before "read up to 10, unread 0".
    let l = [summary("a", "2024-01-01T00:00:00.000Z", { lastSeq: 10, lastReadSeq: 5, unreadCount: 3 })];
    l = applyActivity(l, { type: "message", roomId: "a", message: message("a", 11, OTHER, "2024-01-03T00:00:00.000Z") }, away).list!;
    expect(l[0]?.unreadCount).toBe(4);
    const marker = { roomId: "a", lastReadSeq: 10, unreadCount: 0 };
    const result = applyActivity(l, { type: "read", marker }, away);
    expect(result.refetch).toBe(true);
    expect(result.list?.[0]).toMatchObject({ lastReadSeq: 10 });
    expect(result.list?.[0]?.unreadCount).toBeGreaterThan(0);
    // The answer to my own room.markRead is applied the same way.
    expect(applyReadMarker(l, marker)).toEqual(result);
    // Nothing after the marker: the server's count is the whole truth.
    const up = applyReadMarker(l, { roomId: "a", lastReadSeq: 11, unreadCount: 0 });
    expect(up).toMatchObject({ refetch: false, list: [{ lastReadSeq: 11, unreadCount: 0 }] });
  });

  it("does not count a message at or before the read marker (the marker came first)", () => {
    const l = [summary("a", "2024-01-01T00:00:00.000Z", { lastSeq: 9, lastReadSeq: 10, unreadCount: 0 })];
    const m = message("a", 10, OTHER, "2024-01-03T00:00:00.000Z");
    expect(applyActivity(l, { type: "message", roomId: "a", message: m }, away).list?.[0]).toMatchObject({ lastSeq: 10, unreadCount: 0 });
  });

  it("adds joined rooms in activity order, removes left ones, and refetches for changes and unknown rooms", () => {
    const joined = summary("c", "2024-01-01T12:00:00.000Z");
    expect(ids(applyActivity(list, { type: "joined", room: joined }, away).list)).toEqual(["b", "c", "a"]);
    expect(ids(applyActivity(list, { type: "left", roomId: "b", reason: "kick" }, away).list)).toEqual(["a"]);
    expect(applyActivity(list, { type: "changed", roomId: "a" }, away)).toEqual({ list, refetch: true });
    const stranger = message("zz", 1, OTHER, "2024-01-03T00:00:00.000Z");
    expect(applyActivity(list, { type: "message", roomId: "zz", message: stranger }, away)).toEqual({ list, refetch: true });
  });
});

describe("byActivity", () => {
  it("sorts newest first and keeps the given order for equal times", () => {
    const l = [summary("x", "2024-01-01T00:00:00.000Z"), summary("y", "2024-01-01T00:00:00.000Z"), summary("z", "2024-02-01T00:00:00.000Z")];
    expect(ids(byActivity(l))).toEqual(["z", "x", "y"]);
    const sorted = byActivity(l);
    expect(byActivity(sorted)).toBe(sorted);
  });
});
