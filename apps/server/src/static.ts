import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { sendJson } from "./http-util.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json",
};

/**
 * Serves the built web client from webDir (GET/HEAD only). Unknown paths fall back to index.html
 * so client-side routes such as /r/<roomId> load the app. Returns false when there is nothing to serve.
 */
export function createStaticHandler(webDir: string | undefined) {
  const root = webDir ? path.resolve(webDir) : undefined;
  return async function serveStatic(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): Promise<boolean> {
    if (!root || (req.method !== "GET" && req.method !== "HEAD")) return false;
    const urlPath = decodedPath((req.url ?? "/").split("?")[0] ?? "/");
    if (urlPath === undefined) {
      // The client's mistake: a clear 400, not a 500 and a stack trace in the error log per request.
      sendJson(res, 400, { status: "error", message: "malformed percent-escape in the path", data: null }, headers);
      return true;
    }
    let file = path.resolve(root, "." + path.posix.normalize(urlPath));
    if (!file.startsWith(root)) return false;
    let info = await stat(file).catch(() => undefined);
    if (info?.isDirectory()) {
      file = path.join(file, "index.html");
      info = await stat(file).catch(() => undefined);
    }
    if (!info?.isFile()) {
      if (path.extname(urlPath) !== "") return false;
      file = path.join(root, "index.html");
      info = await stat(file).catch(() => undefined);
      if (!info?.isFile()) return false;
    }
    const immutable = file.includes(`${path.sep}assets${path.sep}`);
    res.writeHead(200, {
      ...headers,
      "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "Content-Length": info.size,
      "Cache-Control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
      "X-Content-Type-Options": "nosniff",
    });
    if (req.method === "HEAD") return void res.end(), true;
    createReadStream(file).pipe(res);
    return true;
  };
}

/** The path with its percent-escapes decoded, or undefined when one is malformed (%ZZ, a cut UTF-8 sequence). */
function decodedPath(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}
