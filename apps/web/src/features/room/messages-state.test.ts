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
    expect(roomReducer(s, { type: "updated", message: late })).toBe(s);
  });

  it("keeps the later of two edits whatever order they arrive in, and ignores messages it does not hold", () => {
    const roomId = "r".repeat(16);
    let s = roomReducer(initialRoomMessages, { type: "history", page: { messages: [msg(5)], hasMore: true }, older: false });
    s = roomReducer(s, { type: "edited", edit: { roomId, seq: 7, targetSeq: 5, text: "second", editedAt: "2024-01-01T00:00:02.000Z", senderId: 1 } });
    s = roomReducer(s, { type: "updated", message: { ...msg(5), text: "first", editedAt: "2024-01-01T00:00:01.000Z" } });
    expect(s.messages[0]?.text).toBe("second");
    expect(roomReducer(s, { type: "deleted", deletion: { roomId, seq: 8, targetSeq: 1, deletedAt: "2024-01-01T00:00:03.000Z", senderId: 1 } })).toBe(s);
  });
});
