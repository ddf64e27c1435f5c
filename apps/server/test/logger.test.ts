import { describe, expect, it } from "vitest";
import { createLogger } from "../src/index.js";

function capture(level: "debug" | "info" | "warn" | "error" | "silent" = "debug") {
  const lines: string[] = [];
  const log = createLogger(level, { service: "t" }, (l) => lines.push(l));
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("logger (pino)", () => {
  it("writes one JSON line per entry with the level as its name, an ISO time and msg", () => {
    const { log, lines, parsed } = capture();
    log.child({ role: "all" }).warn("upstream ejected", { upstream: "chat" });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('"level":"warn"');
    expect(lines[0]).toContain('"msg":"upstream ejected"');
    const [e] = parsed();
    expect(e).toMatchObject({ level: "warn", msg: "upstream ejected", role: "all", service: "t", upstream: "chat" });
    expect(new Date(e?.time as string).toISOString()).toBe(e?.time);
  });

  it("drops entries below the level; silent writes nothing", () => {
    const info = capture("info");
    info.log.debug("hidden");
    info.log.info("shown");
    expect(info.parsed().map((e) => e.msg)).toEqual(["shown"]);
    const silent = capture("silent");
    silent.log.error("nothing");
    expect(silent.lines).toEqual([]);
  });

  it("censors credentials at the top and one object down", () => {
    const { log, lines } = capture();
    log.info("x", {
      token: "t-secret-1",
      refreshToken: "t-secret-2",
      password: "t-secret-3",
      headers: { authorization: "Bearer t-secret-4", cookie: "t-secret-5" },
      input: { password: "t-secret-6", connectionParams: { token: "t-secret-7" } },
    });
    expect(lines[0]).not.toMatch(/t-secret/);
    expect(lines[0]).toContain('"[redacted]"');
  });

  it("serialises an error with its class, message, code and the top of its stack", () => {
    const { log, parsed } = capture();
    log.error("failed", { err: Object.assign(new Error("boom"), { code: "E_BOOM" }) });
    const err = parsed()[0]?.err as Record<string, unknown>;
    expect(err).toMatchObject({ type: "Error", message: "boom", code: "E_BOOM" });
    expect(String(err.stack).split("\n").length).toBeLessThanOrEqual(6);
  });
});
