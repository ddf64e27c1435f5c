import type { IncomingMessage, ServerResponse } from "node:http";

/** Where `npm start` serves the web client when PUBLIC_ORIGIN is not set: this port on loopback. */
export function loopbackOrigins(port: number): string[] {
  return [`http://localhost:${port}`, `http://127.0.0.1:${port}`, `http://[::1]:${port}`];
}

/** The origins the web client is served from: PUBLIC_ORIGIN, else loopback on the port actually bound. */
export function publicOrigins(configured: readonly string[], port: number): string[] {
  return configured.length > 0 ? [...configured] : loopbackOrigins(port);
}

/**
 * Admits requests that send no Origin (non-browser clients) and those from an admitted origin
 * (the public ones and CORS_ORIGINS);
 * everything else is refused before any handler or upgrade runs. The Host header proves nothing:
 * after DNS rebinding, a page on evil.example talks to us with Host and Origin both evil.example.
 */
export function originAllowed(req: IncomingMessage, admitted: ReadonlySet<string>): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || origin === "") return true;
  return admitted.has(origin);
}

const ALLOWED_HEADERS = "Authorization, Content-Type, trpc-accept, trpc-batch-mode, X-Request-Id";
const EXPOSED_HEADERS = "X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After";

/** CORS response headers for an admitted cross-origin request. */
export function applyCors(req: IncomingMessage, res: ServerResponse): void {
  const origin = req.headers.origin;
  if (!origin) return;
  res.setHeader("Access-Control-Allow-Origin", origin);
  res.setHeader("Vary", "Origin");
  res.setHeader("Access-Control-Expose-Headers", EXPOSED_HEADERS);
  if (req.method === "OPTIONS") {
    res.setHeader("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    res.setHeader("Access-Control-Allow-Headers", ALLOWED_HEADERS);
    res.setHeader("Access-Control-Max-Age", "600");
  }
}
