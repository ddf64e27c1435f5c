import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import sirv from "sirv";
import { sendJson } from "./http-util.js";

/** Hashed build output (Vite writes /assets/<name>-<hash>.<ext>): its URL changes with its content. */
export const IMMUTABLE = "public, max-age=31536000, immutable";
/** Files at fixed URLs that are not pages (favicon.svg, robots.txt): cached a day, then revalidated. */
export const FIXED_URL_CACHE = "public, max-age=86400";
/** Pages (index.html and the SPA fallback): always revalidated, so a deployment shows at once. */
export const PAGE_CACHE = "no-cache";

/** The Cache-Control a static path gets, decided before the file is looked up (a 304 carries it too). */
function cacheControl(urlPath: string): string {
  const ext = path.posix.extname(urlPath);
  if (ext === "" || ext === ".html") return PAGE_CACHE;
  return urlPath.startsWith("/assets/") ? IMMUTABLE : FIXED_URL_CACHE;
}

/**
 * Serves the built web client from webDir (GET/HEAD only) with sirv: weak ETags and Last-Modified
 * (If-None-Match → 304), precompressed `.br`/`.gz` siblings when the client accepts them, and
 * paths without an extension (client-side routes such as /r/<roomId>) answered with index.html.
 * A missing file with an extension is left to the caller (404). The folder is indexed once at
 * start: a new build needs a restart. Returns false when there is nothing to serve.
 */
export function createStaticHandler(webDir: string | undefined) {
  const root = webDir ? path.resolve(webDir) : undefined;
  const serve = root
    ? sirv(root, {
        dev: false,
        etag: true,
        single: true,
        brotli: true,
        gzip: true,
        dotfiles: false,
        // "/" and folders resolve to their index.html (and /about to about.html, if a build has one).
        extensions: ["html"],
      })
    : undefined;
  const serveStatic = function serveStatic(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): Promise<boolean> {
    if (!serve || (req.method !== "GET" && req.method !== "HEAD")) return Promise.resolve(false);
    const urlPath = decodedPath((req.url ?? "/").split("?")[0] ?? "/");
    if (urlPath === undefined) {
      // The client's mistake: a clear 400, not a 500 and a stack trace in the error log per request.
      sendJson(res, 400, { status: "error", message: "malformed percent-escape in the path", data: null }, headers);
      return Promise.resolve(true);
    }
    // sirv's Range handling trusts the header (bytes=5-2 would throw in createReadStream); the web
    // client's files are small, so a range request is answered with the whole file (RFC 9110 allows it).
    delete req.headers.range;
    const prior = ["Cache-Control", "X-Content-Type-Options", ...Object.keys(headers)].map((k) => [k, res.getHeader(k)] as const);
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader("Cache-Control", cacheControl(urlPath));
    res.setHeader("X-Content-Type-Options", "nosniff");
    // sirv answers (or passes on) synchronously: its file index is built at start.
    let passed = false;
    serve(req, res, () => {
      passed = true;
    });
    if (!passed) return Promise.resolve(true);
    // No such file: the caller answers (404) with the headers it had, not those set for a file.
    for (const [k, v] of prior) {
      if (v === undefined) res.removeHeader(k);
      else res.setHeader(k, v);
    }
    return Promise.resolve(false);
  };
  return Object.assign(serveStatic, {
    /**
     * Whether a request is the web client's to answer (a file, a client route, or its 404): GET or
     * HEAD outside the API's paths, with a WEB_DIR. These are answered from the index built at
     * start, without the per-IP request budget.
     */
    serves(method: string | undefined, urlPath: string): boolean {
      return serve !== undefined && (method === "GET" || method === "HEAD") && !API_PATH.test(urlPath);
    },
  });
}

/** Paths the static files never answer: the API, the service-to-service routes, metrics, health. */
const API_PATH = /^\/(trpc|api|internal|\.well-known)(\/|$)|^\/(metrics|healthz|readyz)$/;

/** The path with its percent-escapes decoded, or undefined when one is malformed (%ZZ, a cut UTF-8 sequence). */
function decodedPath(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}
