import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/index";

/** CORS_ORIGINS is validated at start like every other setting: a bad value names its variable. */

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

describe("CORS_ORIGINS", () => {
  for (const name of ["CORS_ORIGINS"] as const) {
    it(`${name}: anything but a list of http(s) origins stops the server, naming the variable`, () => {
      for (const bad of NOT_ORIGINS) {
        const message = refusal({ [name]: `https://ok.example, ${bad}` });
        expect(message, bad).toContain(`${name}:`);
        if (bad === "*") expect(message).toMatch(/not accepted/);
        else expect(message).toContain(`"${bad}"`);
      }
    });
  }

  it("takes origins in the browser's spelling (lower-case host, no default port), and none by default", () => {
    const config = loadConfig({ CORS_ORIGINS: " https://App.Example:443 , http://[::1]:8080,http://app.example:80,https://app.example " });
    expect(config.corsOrigins).toEqual(["https://app.example", "http://[::1]:8080", "http://app.example"]);
    expect(loadConfig({ CORS_ORIGINS: " " }).corsOrigins).toEqual([]);
  });
});
