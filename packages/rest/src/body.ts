import type { IncomingMessage } from "node:http";
import getRawBody from "raw-body";
import { AppError } from "@anonchat/shared";

/** raw-body's error kinds (its `type` field) that are the client's doing. */
function bodyError(e: unknown, maxBytes: number): AppError {
  const type = (e as { type?: unknown } | null)?.type;
  if (type === "entity.too.large") return new AppError("PAYLOAD_TOO_LARGE", `body must be at most ${maxBytes} bytes`);
  if (type === "request.size.invalid") return new AppError("BAD_REQUEST", "request body length does not match its Content-Length");
  if (type === "request.aborted") return new AppError("BAD_REQUEST", "request body was cut off");
  if (type === "encoding.unsupported") return new AppError("BAD_REQUEST", "request body must be UTF-8");
  throw e;
}

/**
 * Reads a JSON body up to maxBytes with raw-body: a declared Content-Length past the limit is
 * refused before a byte is read (413), a body that grows past it as soon as it does, one that
 * ends short of its Content-Length is a 400. Anything else is a clear 400, never a crash.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  let text: string;
  try {
    text = await getRawBody(req, { length: req.headers["content-length"], limit: maxBytes, encoding: "utf-8" });
  } catch (e) {
    throw bodyError(e, maxBytes);
  }
  if (text.trim() === "") throw new AppError("BAD_REQUEST", "request body must be a JSON object");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AppError("BAD_REQUEST", "request body is not valid JSON");
  }
}
