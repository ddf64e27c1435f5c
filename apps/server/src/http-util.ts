import type { IncomingMessage, ServerResponse } from "node:http";
import getRawBody from "raw-body";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Why a body could not be read: past the limit (413), or cut off / not its declared length (400). */
export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The whole request body (raw-body): a declared Content-Length past maxBytes is refused before a
 * byte is read, a body that grows past it as soon as it does.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  try {
    return await getRawBody(req, { length: req.headers["content-length"], limit: maxBytes });
  } catch (e) {
    const type = (e as { type?: unknown } | null)?.type;
    if (type === "entity.too.large") throw new BodyError(413, `body must be at most ${maxBytes} bytes`);
    if (type === "request.size.invalid") throw new BodyError(400, "request body length does not match its Content-Length");
    if (type === "request.aborted") throw new BodyError(400, "request body was cut off");
    throw e;
  }
}
