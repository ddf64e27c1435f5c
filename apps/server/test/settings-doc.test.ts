import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SETTING_NAMES } from "../src/index.js";

/** The README's configuration table and .env.example must name every setting the server reads. */
const ROOT = path.resolve(import.meta.dirname, "../../..");

describe("every setting is documented", () => {
  it.each(["README.md", ".env.example"])("%s names each setting", (file) => {
    const text = readFileSync(path.join(ROOT, file), "utf8");
    const missing = SETTING_NAMES.filter((name) => !new RegExp(`\\b${name}\\b`).test(text));
    expect(missing).toEqual([]);
  });

  it(".env.example names nothing the server does not read", () => {
    const text = readFileSync(path.join(ROOT, ".env.example"), "utf8");
    const named = [...text.matchAll(/^# ([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect(named.filter((n) => !SETTING_NAMES.includes(n as string))).toEqual([]);
    expect(new Set(named).size).toBe(SETTING_NAMES.length);
  });
});
