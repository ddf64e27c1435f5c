import { describe, expect, it } from "vitest";
import { localExpiry, refreshMargin } from "./token-clock";

/** An unsigned JWT-shaped token with these claims (only the payload is read). */
function token(claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "HS256" })}.${b64(claims)}.sig`;
}

describe("localExpiry", () => {
  const iat = 1_800_000_000;
  const t = token({ iat, exp: iat + 900 });

  it("trusts the server's expiry when the clocks agree", () => {
    const serverExpiry = (iat + 900) * 1000;
    const receivedAt = iat * 1000 + 300;
    expect(localExpiry(t, new Date(serverExpiry).toISOString(), receivedAt)).toBe(serverExpiry);
  });

  it("counts the lifetime from receipt when the browser's clock is off, minus a second", () => {
    const serverExpiry = (iat + 900) * 1000;
    const receivedAt = iat * 1000 + 3_600_000; // the browser is an hour ahead
    expect(localExpiry(t, new Date(serverExpiry).toISOString(), receivedAt)).toBe(receivedAt + 899_000);
  });

  it("falls back to the stated expiry for a token it cannot read", () => {
    expect(localExpiry("opaque", "2030-01-01T00:00:00.000Z", 0)).toBe(Date.parse("2030-01-01T00:00:00.000Z"));
    expect(localExpiry(token({ exp: 5 }), "2030-01-01T00:00:00.000Z", 0)).toBe(Date.parse("2030-01-01T00:00:00.000Z"));
  });
});

describe("refreshMargin", () => {
  it("is a quarter of the lifetime, between 1 and 60 seconds", () => {
    expect(refreshMargin(3000)).toBe(1000);
    expect(refreshMargin(120_000)).toBe(30_000);
    expect(refreshMargin(900_000)).toBe(60_000);
  });
});
