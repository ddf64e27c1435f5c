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
});
