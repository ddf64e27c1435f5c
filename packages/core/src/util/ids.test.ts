import { describe, expect, it } from "vitest";
import { ROOM_ID_PATTERN } from "@anonchat/shared";
import { newRefreshToken, newRoomId, randomBase62, sha256Hex } from "./ids.js";

describe("ids", () => {
  it("room ids fit the contract and do not repeat", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const id = newRoomId();
      expect(id).toMatch(ROOM_ID_PATTERN);
      seen.add(id);
    }
    expect(seen.size).toBe(5000);
  });

  it("base62 uses the whole alphabet roughly evenly", () => {
    const counts = new Map<string, number>();
    for (const ch of randomBase62(62_000)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(62);
    for (const n of counts.values()) expect(n).toBeGreaterThan(700);
  });

  it("refresh tokens carry 256 bits and hash to 64 hex digits", () => {
    const t = newRefreshToken();
    expect(Buffer.from(t, "base64url").length).toBe(32);
    expect(sha256Hex(t)).toMatch(/^[0-9a-f]{64}$/);
  });
});
