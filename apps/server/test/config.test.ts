import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/index";

/** The origin settings are validated at start like every other: a bad value names its variable. */

const refusal = (env: Record<string, string>): string => {
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
        const message = refusal({ [name]: `https://ok.example, ${bad}` });
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
