import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/index.js";

// The split roles authenticate each other with one shared secret (SERVICE_SECRET or a file).
describe("SERVICE_SECRET", () => {
  const secret = "0123456789abcdef0123456789abcdef0123456789abcdef";
  const roles: Record<string, Record<string, string>> = {
    auth: { ROLE: "auth", DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db" },
    chat: { ROLE: "chat", DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db", AUTH_URL: "http://127.0.0.1:8081" },
    gateway: { ROLE: "gateway", AUTH_URL: "http://127.0.0.1:8081", CHAT_URLS: "http://127.0.0.1:8082" },
  };
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "anonchat-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The ConfigError's message, or a failure when the configuration was accepted. */
  const refusal = (env: Record<string, string>): string => {
    try {
      loadConfig(env);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error("the configuration was accepted");
  };

  for (const [role, env] of Object.entries(roles)) {
    it(`is required by the ${role} role, and at least 32 characters`, () => {
      expect(refusal(env)).toMatch(/SERVICE_SECRET/);
      const short = refusal({ ...env, SERVICE_SECRET: "x".repeat(31) });
      expect(short).toMatch(/SERVICE_SECRET: .*at least 32/);
      expect(short).not.toContain("x".repeat(31));
      expect(loadConfig({ ...env, SERVICE_SECRET: secret }).serviceSecret).toBe(secret);
    });
  }

  it("is read from SERVICE_SECRET_FILE, without the file's trailing newline", async () => {
    const file = path.join(dir, "secret");
    await writeFile(file, `${secret}\n`);
    expect(loadConfig({ ...roles.chat, SERVICE_SECRET_FILE: file }).serviceSecret).toBe(secret);

    const shortFile = path.join(dir, "short");
    await writeFile(shortFile, "too-short\n");
    expect(refusal({ ...roles.auth, SERVICE_SECRET_FILE: shortFile })).toMatch(/SERVICE_SECRET_FILE: .*at least 32/);
    expect(refusal({ ...roles.auth, SERVICE_SECRET_FILE: path.join(dir, "missing") })).toMatch(/SERVICE_SECRET_FILE: cannot read/);
    // One source, so nobody wonders which of two differing values is in force.
    expect(refusal({ ...roles.auth, SERVICE_SECRET: secret, SERVICE_SECRET_FILE: file })).toMatch(/SERVICE_SECRET_FILE/);
  });

  it("must be printable ASCII without spaces (it travels in an HTTP header)", () => {
    expect(refusal({ ...roles.auth, SERVICE_SECRET: `${secret} with spaces` })).toMatch(/SERVICE_SECRET: /);
  });

  it("is neither needed nor used by ROLE=all", () => {
    expect(loadConfig({}).serviceSecret).toBeUndefined();
    expect(loadConfig({ SERVICE_SECRET: "short" }).serviceSecret).toBeUndefined();
  });
});


describe("REFRESH_REUSE_GRACE", () => {
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


/** The origin settings are validated at start like every other: a bad value names its variable. */

const refusedWith = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
};

const NOT_ORIGINS = [
  "*",
  "null",
  "chat.example.com",
  "https://chat.example.com/",
  "https://chat.example.com/app",
  "https://chat.example.com?x=1",
  "https://chat.example.com#top",
  "https://user:pw@chat.example.com",
  "ftp://chat.example.com",
  "file:///etc/passwd",
  "https://chat.example.com:99999",
  "https://chat.example.com:",
  "https://chat.example.com junk",
  "https://",
];

describe("PUBLIC_ORIGIN and CORS_ORIGINS", () => {
  for (const name of ["PUBLIC_ORIGIN", "CORS_ORIGINS"] as const) {
    it(`${name}: anything but a list of http(s) origins stops the server, naming the variable`, () => {
      for (const bad of NOT_ORIGINS) {
        const message = refusedWith({ [name]: `https://ok.example, ${bad}` });
        expect(message, bad).toContain(`${name}:`);
        if (bad === "*") expect(message).toMatch(/not accepted/);
        else expect(message).toContain(`"${bad}"`);
      }
    });
  }

  it("takes origins in the browser's spelling (lower-case host, no default port) and leaves both empty by default", () => {
    const config = loadConfig({
      PUBLIC_ORIGIN: " https://Chat.Example.com:443 , http://[::1]:8080,http://127.0.0.1:3000 ",
      CORS_ORIGINS: "https://app.example,http://app.example:80,https://app.example",
    });
    expect(config.publicOrigins).toEqual(["https://chat.example.com", "http://[::1]:8080", "http://127.0.0.1:3000"]);
    expect(config.corsOrigins).toEqual(["https://app.example", "http://app.example"]);
    const defaults = loadConfig({ PUBLIC_ORIGIN: "", CORS_ORIGINS: " " });
    expect([defaults.publicOrigins, defaults.corsOrigins]).toEqual([[], []]);
  });
});

// Issue 13: the bus between replicas and where the rate-limit counters live.
describe("BUS, REDIS_URL and the rate-limit stores", () => {
  const secret = { SERVICE_SECRET: "0123456789abcdef0123456789abcdef0123456789abcdef" };
  const chat = { ...secret, ROLE: "chat", DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db", AUTH_URL: "http://127.0.0.1:8081" };
  const refused = (env: Record<string, string>): string => {
    try {
      loadConfig(env);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error("the configuration was accepted");
  };

  it("defaults: NOTIFY on PostgreSQL, in-process without it; request budgets in memory; shared limits in PostgreSQL for replicas", () => {
    const c = loadConfig(chat);
    expect([c.bus, c.rateLimitStore, c.requestLimitStore, c.busPayloadMaxBytes]).toEqual(["postgres", "postgres", "memory", 8192]);
    const all = loadConfig({});
    expect([all.bus, all.rateLimitStore]).toEqual([undefined, "memory"]);
    // Compose passes unset variables as "": that is the default, not an error.
    expect(loadConfig({ ...chat, BUS: "", RATE_LIMIT_STORE: " " }).bus).toBe("postgres");
  });

  it("with REDIS_URL the split roles share their limits in Redis; BUS=redis takes the Redis bus", () => {
    const c = loadConfig({ ...chat, BUS: "redis", REDIS_URL: "redis://:pw@127.0.0.1:6379/0" });
    expect([c.bus, c.rateLimitStore, c.redisUrl]).toEqual(["redis", "redis", "redis://:pw@127.0.0.1:6379/0"]);
    expect(c.redisKeyPrefix).toBe("anonchat:");
    expect(loadConfig({ ...chat, BUS: "redis", REDIS_URL: "redis://127.0.0.1:6379", REDIS_KEY_PREFIX: "staging:" }).redisKeyPrefix).toBe("staging:");
  });

  it("refuses a Redis setting without REDIS_URL, a bad URL or value, naming the variable and never the URL", () => {
    expect(refused({ ...chat, BUS: "redis" })).toContain("BUS: redis needs REDIS_URL");
    expect(refused({ ...chat, RATE_LIMIT_STORE: "redis" })).toContain("RATE_LIMIT_STORE: redis needs REDIS_URL");
    expect(refused({ ...chat, BUS: "kafka" })).toContain("BUS");
    const bad = refused({ ...chat, REDIS_URL: "http://:secretpw@redis:6379" });
    expect(bad).toContain("REDIS_URL");
    expect(bad).not.toContain("secretpw");
    expect(refused({ ...chat, BUS_PAYLOAD_MAX_BYTES: "-1" })).toContain("BUS_PAYLOAD_MAX_BYTES");
    expect(refused({ ...chat, REDIS_KEY_PREFIX: "two words" })).toContain("REDIS_KEY_PREFIX");
  });
});
