import { describe, expect, it } from "vitest";
import { describeIssues, registerInput, roomHistoryInput, roomSendInput } from "./schemas.js";

describe("shared schemas", () => {
  it("name the field in every message", () => {
    const r = registerInput.safeParse({ login: "a!", email: "nope", password: "short" });
    expect(r.success).toBe(false);
    if (!r.success) {
      const msg = describeIssues(r.error);
      expect(msg).toContain("login");
      expect(msg).toContain("email");
      expect(msg).toContain("password");
    }
  });

  it("normalise email and trim text", () => {
    expect(registerInput.parse({ login: "alice", email: " Alice@Example.COM ", password: "12345678" }).email).toBe(
      "alice@example.com",
    );
    expect(roomSendInput.parse({ roomId: "a".repeat(16), text: "  hi  " }).text).toBe("hi");
    expect(roomSendInput.safeParse({ roomId: "a".repeat(16), text: "   " }).success).toBe(false);
    expect(roomSendInput.safeParse({ roomId: "a".repeat(16), text: "x".repeat(4001) }).success).toBe(false);
  });

  it("default and bound the history page", () => {
    expect(roomHistoryInput.parse({ roomId: "a".repeat(16) }).limit).toBe(50);
    expect(roomHistoryInput.safeParse({ roomId: "a".repeat(16), limit: 101 }).success).toBe(false);
    expect(roomHistoryInput.safeParse({ roomId: "a-uuid-is-not-an-id", limit: 1 }).success).toBe(false);
  });
});
