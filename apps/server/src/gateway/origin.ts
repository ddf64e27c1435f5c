import type { IncomingMessage, ServerResponse } from "node:http";
import cors from "cors";

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

const ALLOWED_HEADERS = ["Authorization", "Content-Type", "trpc-accept", "trpc-batch-mode", "X-Request-Id"];
const EXPOSED_HEADERS = ["X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"];

/**
 * CORS response headers (the `cors` package) for a cross-origin request from an admitted origin:
 * the origin echoed with `Vary: Origin`, the exposed headers, and for a preflight the methods,
 * request headers and a 10-minute max age. A preflight is not answered here: the caller answers it
 * (204) after its own checks, so the rate limit and the edge refusals apply to preflights too.
 * Refusing an origin that is not admitted is originAllowed's job (a 403 with a body).
 */
export function createCors(admitted: () => ReadonlySet<string>): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const middleware = cors({
    origin: (origin, callback) => callback(null, origin !== undefined && admitted().has(origin)),
    methods: ["GET", "POST", "DELETE", "OPTIONS"],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
    preflightContinue: true,
  });
  return (req, res) => {
    if (!req.headers.origin) return Promise.resolve();
    return new Promise((resolve, reject) => middleware(req, res, (err?: unknown) => (err ? reject(err) : resolve())));
  };
}
