import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config";

describe("loadConfig", () => {
  it("REFRESH_REUSE_GRACE defaults to 10 seconds, takes 0 (off) to 300, and refuses anything else naming it", () => {
    expect(loadConfig({}).refreshReuseGrace).toBe(10);
    expect(loadConfig({ REFRESH_REUSE_GRACE: "" }).refreshReuseGrace).toBe(10);
    expect(loadConfig({ REFRESH_REUSE_GRACE: "0" }).refreshReuseGrace).toBe(0);
    expect(loadConfig({ REFRESH_REUSE_GRACE: "300" }).refreshReuseGrace).toBe(300);
    for (const bad of ["-1", "1.5", "abc", "301"]) {
      expect(() => loadConfig({ REFRESH_REUSE_GRACE: bad })).toThrowError(ConfigError);
      expect(() => loadConfig({ REFRESH_REUSE_GRACE: bad })).toThrowError(/REFRESH_REUSE_GRACE: must be an integer from 0 to 300/);
    }
  });
});
