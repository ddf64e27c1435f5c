import type { IncomingMessage } from "node:http";
import { AppError } from "@anonchat/shared";

/** Reads a JSON body up to maxBytes; anything else is a clear 400 or 413, never a crash. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > maxBytes) throw new AppError("PAYLOAD_TOO_LARGE", `body must be at most ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) throw new AppError("PAYLOAD_TOO_LARGE", `body must be at most ${maxBytes} bytes`);
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw new AppError("BAD_REQUEST", "request body must be a JSON object");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AppError("BAD_REQUEST", "request body is not valid JSON");
  }
}
