import { describe, expect, it } from "vitest";
import type { Message } from "@anonchat/shared";
import { activityEventOf, roomEventEncoder, roomEventOf } from "./encoder.js";

const message: Message = {
  roomId: "AbCdEfGh12345678",
  seq: 7,
  senderId: 3,
  senderLogin: "bob",
  text: 'quotes " and \\ and ünïcode and </script>',
  createdAt: "2026-11-25T07:00:00.000Z",
  clientMsgId: null,
  kind: "text",
  editedAt: null,
  deletedAt: null,
  subjectId: null,
  subjectLogin: null,
};

describe("roomEventEncoder", () => {
  it("produces exactly what JSON.stringify would, for shared and plain frames", () => {
    const event = roomEventOf(message);
    expect(roomEventOf(message)).toBe(event);
    for (const jsonrpc of [undefined, "2.0" as const]) {
      const frame = { id: 4, ...(jsonrpc ? { jsonrpc } : {}), result: { type: "data", id: "7", data: { id: "7", data: event } } };
      expect(JSON.parse(roomEventEncoder.encode(frame) as string)).toEqual(JSON.parse(JSON.stringify(frame)));
    }
    const plain = { id: "x", result: { type: "data", id: "1", data: { id: "1", data: { type: "removed" } } } };
    expect(roomEventEncoder.encode(plain)).toBe(JSON.stringify(plain));
    const started = { id: 1, result: { type: "started" } };
    expect(roomEventEncoder.encode(started)).toBe(JSON.stringify(started));
  });

  it("shares and splices a room-list message event, untracked, exactly as JSON.stringify would", () => {
    const first = activityEventOf({ type: "message", roomId: message.roomId, message });
    expect(activityEventOf({ type: "message", roomId: message.roomId, message })).toBe(first);
    for (const jsonrpc of [undefined, "2.0" as const]) {
      const frame = { id: 9, ...(jsonrpc ? { jsonrpc } : {}), result: { type: "data", data: first } };
      expect(roomEventEncoder.encode(frame)).toBe(JSON.stringify(frame));
    }
    const read = activityEventOf({ type: "read", marker: { roomId: message.roomId, lastReadSeq: 7, unreadCount: 0 } });
    const plain = { id: 9, result: { type: "data", data: read } };
    expect(roomEventEncoder.encode(plain)).toBe(JSON.stringify(plain));
  });
});
