/**
 * Browser security headers. Referrer-Policy no-referrer on every response: room links carry the
 * room id (all it takes to join), and nothing of ours needs a Referer (origins are checked on the
 * Origin header, which fetch and WebSocket still send).
 */
export const REFERRER_POLICY = "no-referrer";

/** For everything but the web client (JSON, metrics): a response opened as a page loads and runs nothing. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * For the web client and its files. The Vite build has no inline script or style (React sets
 * styles through the CSSOM, which CSP does not govern), no eval, and loads nothing from elsewhere:
 * 'self' for everything, plus the WebSocket form of each public origin (a 'self' that covers
 * ws:/wss: is CSP Level 3, not every browser's). No plugins, no <base>, no native form posts
 * (every form is submitted by script), no framing by anyone.
 */
export function webClientCsp(publicOrigins: Iterable<string>): string {
  // A source expression cannot name an IPv6 literal (browsers drop it with a console error); a
  // page served from one relies on 'self' covering its WebSocket.
  const sockets = [...publicOrigins].filter((origin) => !origin.includes("//[")).map((origin) => origin.replace(/^http/, "ws"));
  return [
    "default-src 'self'",
    ["connect-src 'self'", ...sockets].join(" "),
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}
