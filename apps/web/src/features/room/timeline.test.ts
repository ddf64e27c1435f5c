import { describe, expect, it } from "vitest";
import type { Message, TimelineKind } from "@anonchat/shared";
import { systemText, typingText } from "./timeline";

const item = (kind: TimelineKind, senderLogin: string, subjectLogin: string | null = null): Message => ({
  roomId: "r".repeat(16),
  seq: 1,
  senderId: 1,
  senderLogin,
  text: "",
  createdAt: new Date(0).toISOString(),
  clientMsgId: null,
  kind,
  editedAt: null,
  deletedAt: null,
  subjectId: subjectLogin ? 2 : null,
  subjectLogin,
});

describe("systemText", () => {
  it("names who acted and whom it was about", () => {
    expect(systemText(item("join", "alice"))).toBe("alice joined");
    expect(systemText(item("leave", "bob"))).toBe("bob left");
    expect(systemText(item("kick", "alice", "carol"))).toBe("carol was removed by alice");
    expect(systemText(item("ban", "alice", "dave"))).toBe("dave was banned by alice");
    expect(systemText(item("owner", "alice", "bob"))).toBe("alice made bob the owner");
  });
});

describe("typingText", () => {
  it("lists up to three people, then says several", () => {
    expect(typingText([])).toBe("");
    expect(typingText(["alice"])).toBe("alice is typing…");
    expect(typingText(["alice", "bob"])).toBe("alice and bob are typing…");
    expect(typingText(["alice", "bob", "carol"])).toBe("alice, bob and carol are typing…");
    expect(typingText(["a", "b", "c", "d"])).toBe("Several people are typing…");
  });
});
