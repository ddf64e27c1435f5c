import type { ServerResponse } from "node:http";

/** The original's response envelope: every JSON answer on /api/v1, success or error. */
export interface Envelope {
  status: "success" | "error";
  message: string;
  data: unknown;
}

export function sendEnvelope(
  res: ServerResponse,
  httpStatus: number,
  status: Envelope["status"],
  message: string,
  data: unknown = null,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  const body = JSON.stringify({ status, message, data } satisfies Envelope);
  res.writeHead(httpStatus, {
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

/** A JSON document outside the envelope (the OpenAPI description). */
export function sendRawJson(res: ServerResponse, httpStatus: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(httpStatus, { ...headers, "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}
