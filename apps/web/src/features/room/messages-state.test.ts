import { describe, expect, it } from "vitest";
import type { Message } from "@anonchat/shared";
import { initialRoomMessages, mergeMessages, roomReducer, type PendingMessage, type RoomMessages } from "./messages-state";

const msg = (seq: number, clientMsgId: string | null = null): Message => ({
  roomId: "r".repeat(16),
  seq,
  senderId: 1,
  senderLogin: "alice",
  text: `m${seq}`,
  createdAt: new Date(0).toISOString(),
  clientMsgId,
  kind: "text",
  editedAt: null,
  deletedAt: null,
  subjectId: null,
  subjectLogin: null,
});
const pending = (clientMsgId: string): PendingMessage => ({
  clientMsgId,
  text: clientMsgId,
  createdAt: new Date(0).toISOString(),
  status: "sending",
  error: null,
});
const seqs = (s: RoomMessages) => s.messages.map((m) => m.seq);

describe("mergeMessages", () => {
  it("keeps seq order and each seq once, whatever order they come in", () => {
    const merged = mergeMessages([msg(3), msg(4)], [msg(5), msg(1), msg(4), msg(2)]);
    expect(merged.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("returns the same array when nothing is new (no re-render)", () => {
    const current = [msg(1), msg(2)];
    expect(mergeMessages(current, [msg(2)])).toBe(current);
    expect(mergeMessages(current, [])).toBe(current);
  });
});

describe("roomReducer", () => {
  it("takes the newest page, then older pages before it", () => {
    let s = roomReducer(initialRoomMessages, { type: "history", page: { messages: [msg(51), msg(52)], hasMore: true }, older: false });
    expect(s.loaded).toBe(true);
    expect(s.hasMore).toBe(true);
    s = roomReducer(s, { type: "loadingOlder", on: true });
    s = roomReducer(s, { type: "history", page: { messages: [msg(49), msg(50)], hasMore: false }, older: true });
    expect(seqs(s)).toEqual([49, 50, 51, 52]);
    expect(s.hasMore).toBe(false);
    expect(s.loadingOlder).toBe(false);
  });

  it("replaces a pending message by the stored one, from the answer or from the stream", () => {
    let s = roomReducer(initialRoomMessages, { type: "sending", pending: pending("a") });
    s = roomReducer(s, { type: "sending", pending: pending("b") });
    s = roomReducer(s, { type: "received", message: msg(7, "b") });
    expect(s.pending.map((p) => p.clientMsgId)).toEqual(["a"]);
    s = roomReducer(s, { type: "sent", message: msg(8, "a") });
    s = roomReducer(s, { type: "received", message: msg(8, "a") }); // the stream echoes it too
    expect(s.pending).toEqual([]);
    expect(seqs(s)).toEqual([7, 8]);
  });

  it("keeps a failed message in its place when it is retried", () => {
    let s = roomReducer(initialRoomMessages, { type: "sending", pending: pending("a") });
    s = roomReducer(s, { type: "sending", pending: pending("b") });
    s = roomReducer(s, { type: "failed", clientMsgId: "a", error: { kind: "unreachable", text: "x" } });
    expect(s.pending[0]?.status).toBe("failed");
    s = roomReducer(s, { type: "sending", pending: pending("a") });
    expect(s.pending.map((p) => [p.clientMsgId, p.status])).toEqual([
      ["a", "sending"],
      ["b", "sending"],
    ]);
    s = roomReducer(s, { type: "discard", clientMsgId: "b" });
    expect(s.pending.map((p) => p.clientMsgId)).toEqual(["a"]);
  });

  it("ends once: the first reason stays", () => {
    let s = roomReducer(initialRoomMessages, { type: "ended", ended: { kind: "removed" } });
    s = roomReducer(s, { type: "ended", ended: { kind: "notMember" } });
    expect(s.ended).toEqual({ kind: "removed" });
  });

  it("applies live edits and deletions to the message they name, and a deletion is final", () => {
    const roomId = "r".repeat(16);
    let s = roomReducer(initialRoomMessages, { type: "history", page: { messages: [msg(1), msg(2)], hasMore: false }, older: false });
    s = roomReducer(s, { type: "edited", edit: { roomId, seq: 3, targetSeq: 2, text: "fixed", editedAt: "2024-01-01T00:00:01.000Z", senderId: 1 } });
    expect(s.messages[1]).toMatchObject({ seq: 2, text: "fixed", editedAt: "2024-01-01T00:00:01.000Z" });
    expect(s.messages[0]?.text).toBe("m1");
    s = roomReducer(s, { type: "deleted", deletion: { roomId, seq: 4, targetSeq: 2, deletedAt: "2024-01-01T00:00:02.000Z", senderId: 1 } });
    expect(s.messages[1]).toMatchObject({ text: "", deletedAt: "2024-01-01T00:00:02.000Z" });
    // The edit's answer, arriving late, does not bring the text back.
    const late = { ...msg(2), text: "fixed", editedAt: "2024-01-01T00:00:01.000Z" };
    expect(roomReducer(s, { type: "updated", message: late, sentAfter: 2 })).toBe(s);
    // Nor does an edit event (a replay, or one stored before the deletion).
    expect(roomReducer(s, { type: "edited", edit: { roomId, seq: 5, targetSeq: 2, text: "back", editedAt: "2024-01-01T00:00:03.000Z", senderId: 1 } }).messages).toBe(
      s.messages,
    );
    expect(s.lastSeq).toBe(4);
  });

  it("orders edits by their seq, not their timestamps (which can tie or come out inverted)", () => {
    const roomId = "r".repeat(16);
    let s = roomReducer(initialRoomMessages, { type: "history", page: { messages: [msg(5)], hasMore: false }, older: false });
    s = roomReducer(s, { type: "edited", edit: { roomId, seq: 7, targetSeq: 5, text: "first", editedAt: "2024-01-01T00:00:02.000Z", senderId: 1 } });
    // A later edit whose clock read earlier (another replica), then one with the same time.
    s = roomReducer(s, { type: "edited", edit: { roomId, seq: 8, targetSeq: 5, text: "second", editedAt: "2024-01-01T00:00:01.000Z", senderId: 1 } });
    expect(s.messages[0]).toMatchObject({ text: "second", editedAt: "2024-01-01T00:00:01.000Z" });
    s = roomReducer(s, { type: "edited", edit: { roomId, seq: 9, targetSeq: 5, text: "third", editedAt: "2024-01-01T00:00:01.000Z", senderId: 1 } });
    expect(s.messages[0]?.text).toBe("third");
    // A replay of an earlier one changes nothing.
    expect(roomReducer(s, { type: "edited", edit: { roomId, seq: 8, targetSeq: 5, text: "second", editedAt: "2024-01-01T00:00:01.000Z", senderId: 1 } })).toBe(s);
  });

  it("keeps a later edit from the stream over the answer to an earlier call, and takes an answer the stream has not overtaken", () => {
    const roomId = "r".repeat(16);
    let s = roomReducer(initialRoomMessages, { type: "history", page: { messages: [msg(5)], hasMore: true }, older: false });
    const sentAfter = s.lastSeq;
    s = roomReducer(s, { type: "edited", edit: { roomId, seq: 7, targetSeq: 5, text: "second", editedAt: "2024-01-01T00:00:01.000Z", senderId: 1 } });
    // The first call's answer, with a later timestamp, comes after the stream's newer edit.
    s = roomReducer(s, { type: "updated", message: { ...msg(5), text: "first", editedAt: "2024-01-01T00:00:02.000Z" }, sentAfter });
    expect(s.messages[0]?.text).toBe("second");
    // An answer the stream has not overtaken shows at once.
    s = roomReducer(s, { type: "updated", message: { ...msg(5), text: "third", editedAt: "2024-01-01T00:00:03.000Z" }, sentAfter: s.lastSeq });
    expect(s.messages[0]?.text).toBe("third");
  });

  it("keeps a change to a message it does not hold yet, and applies it when an older page brings the message in", () => {
    const roomId = "r".repeat(16);
    let s = roomReducer(initialRoomMessages, { type: "history", page: { messages: [msg(50), msg(51)], hasMore: true }, older: false });
    s = roomReducer(s, { type: "loadingOlder", on: true });
    // The older page was read before these were stored; its answer comes after them.
    s = roomReducer(s, { type: "edited", edit: { roomId, seq: 52, targetSeq: 10, text: "fixed", editedAt: "2024-01-01T00:00:01.000Z", senderId: 1 } });
    s = roomReducer(s, { type: "edited", edit: { roomId, seq: 53, targetSeq: 11, text: "one", editedAt: "2024-01-01T00:00:02.000Z", senderId: 1 } });
    s = roomReducer(s, { type: "edited", edit: { roomId, seq: 54, targetSeq: 11, text: "two", editedAt: "2024-01-01T00:00:01.000Z", senderId: 1 } });
    s = roomReducer(s, { type: "deleted", deletion: { roomId, seq: 55, targetSeq: 12, deletedAt: "2024-01-01T00:00:03.000Z", senderId: 1 } });
    s = roomReducer(s, { type: "edited", edit: { roomId, seq: 56, targetSeq: 12, text: "too late", editedAt: "2024-01-01T00:00:04.000Z", senderId: 1 } });
    expect(seqs(s)).toEqual([50, 51]);
    expect(s.lastSeq).toBe(56);
    s = roomReducer(s, { type: "history", page: { messages: [msg(10), msg(11), msg(12), msg(13)], hasMore: false }, older: true });
    expect(s.messages.map((m) => [m.seq, m.text])).toEqual([
      [10, "fixed"],
      [11, "two"],
      [12, ""],
      [13, "m13"],
      [50, "m50"],
      [51, "m51"],
    ]);
    expect(s.messages[2]?.deletedAt).toBe("2024-01-01T00:00:03.000Z");
    expect(s.unapplied).toEqual({});
    // Applied once: a replay of the same edit changes nothing now.
    expect(roomReducer(s, { type: "edited", edit: { roomId, seq: 54, targetSeq: 11, text: "two", editedAt: "2024-01-01T00:00:01.000Z", senderId: 1 } })).toBe(s);
    // Past the beginning of the room there is nothing to keep a change for.
    expect(roomReducer(s, { type: "deleted", deletion: { roomId, seq: 57, targetSeq: 1, deletedAt: "2024-01-01T00:00:05.000Z", senderId: 1 } }).unapplied).toEqual({});
  });
});
