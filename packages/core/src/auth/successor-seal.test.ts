import { describe, expect, it } from "vitest";
import { newRefreshToken } from "../util/ids.js";
import { openSuccessor, sealSuccessor } from "./successor-seal.js";

describe("successor seal", () => {
  const rotated = newRefreshToken();
  const successor = newRefreshToken();

  it("opens with the rotated token and shows nothing of the successor", () => {
    const box = sealSuccessor(rotated, successor);
    expect(openSuccessor(rotated, box)).toBe(successor);
    expect(box.includes(successor)).toBe(false);
    // A fresh IV each time: two boxes of one successor differ.
    expect(sealSuccessor(rotated, successor)).not.toBe(box);
  });

  it("does not open with another token, nor once altered or cut short", () => {
    const box = sealSuccessor(rotated, successor);
    expect(openSuccessor(newRefreshToken(), box)).toBeUndefined();
    const raw = Buffer.from(box, "base64url");
    for (const i of [0, 12, raw.length - 1]) {
      const altered = Buffer.from(raw);
      altered[i] = (altered[i] as number) ^ 1;
      expect(openSuccessor(rotated, altered.toString("base64url"))).toBeUndefined();
    }
    expect(openSuccessor(rotated, raw.subarray(0, 28).toString("base64url"))).toBeUndefined();
    expect(openSuccessor(rotated, "")).toBeUndefined();
  });
});
