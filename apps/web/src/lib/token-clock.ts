/**
 * When an access token expires, on this browser's clock. The server states the expiry on its own
 * clock; if the two clocks disagree we trust the token's lifetime (exp − iat) counted from when we
 * received it, minus the second that the whole-second `exp` can cost.
 */
export function localExpiry(accessToken: string, accessTokenExpiresAt: string, receivedAt: number): number {
  const serverExpiry = Date.parse(accessTokenExpiresAt);
  const claims = decodeClaims(accessToken);
  if (!claims) return Number.isFinite(serverExpiry) ? serverExpiry : receivedAt;
  const lifetimeMs = (claims.exp - claims.iat) * 1000;
  const clocksAgree = Number.isFinite(serverExpiry) && Math.abs(serverExpiry - (receivedAt + lifetimeMs)) <= 2000;
  return clocksAgree ? serverExpiry : receivedAt + lifetimeMs - 1000;
}

/** How long before expiry a token is replaced: a quarter of its life, between 1 s and 60 s. */
export function refreshMargin(lifetimeMs: number): number {
  return Math.min(60_000, Math.max(1000, lifetimeMs * 0.25));
}

function decodeClaims(token: string): { iat: number; exp: number } | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const payload: unknown = JSON.parse(json);
    if (typeof payload !== "object" || payload === null) return null;
    const { iat, exp } = payload as Record<string, unknown>;
    return typeof iat === "number" && typeof exp === "number" && exp > iat ? { iat, exp } : null;
  } catch {
    return null;
  }
}
