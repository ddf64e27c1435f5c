import net from "node:net";

/**
 * HTTP/1.1 written byte by byte over a net.Socket: for requests fetch and http.request refuse to
 * send (TRACE, CONNECT, lowercase or garbage methods, malformed escapes, lying Content-Length, odd
 * Host headers, upgrades). No vitest import.
 */

export interface RawAnswer {
  /** Every status line the server wrote, in order (a pipelined leftover can draw a second answer). */
  statuses: number[];
  /** The first response's headers, lower-cased names. */
  headers: Record<string, string>;
  /** The first response's body as text (what arrived of it). */
  body: string;
  /** Everything received. */
  raw: string;
  /** The socket closed (by either side) before the deadline. */
  closed: boolean;
  /** Nothing at all arrived before the deadline. */
  timedOut: boolean;
}

export interface RawOptions {
  /**
   * Half-close after writing. Node's server then drops a request it has not answered yet, so
   * only for requests that cannot be answered anyway (a body shorter than declared).
   */
  end?: boolean;
  /** The request was HEAD: its answer has no body whatever Content-Length says. */
  head?: boolean;
  /** Stop at the first complete response head (upgrades: a 101 leaves the socket open). */
  headOnly?: boolean;
  /** Give up after this long (a liveness guard, not a timing assertion). */
  timeoutMs?: number;
}

const STATUS_LINE = /(?:^|\r\n)HTTP\/\d\.\d (\d{3})/g;

export function parseAnswer(raw: string, closed: boolean, timedOut: boolean): RawAnswer {
  const statuses = [...raw.matchAll(STATUS_LINE)].map((m) => Number(m[1]));
  const headEnd = raw.indexOf("\r\n\r\n");
  const headers: Record<string, string> = {};
  if (headEnd !== -1) {
    for (const line of raw.slice(0, headEnd).split("\r\n").slice(1)) {
      const i = line.indexOf(":");
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
  }
  let body = headEnd === -1 ? "" : raw.slice(headEnd + 4);
  const length = Number(headers["content-length"]);
  if (Number.isInteger(length) && length >= 0) body = Buffer.from(body, "latin1").subarray(0, length).toString("latin1");
  else if (/chunked/i.test(headers["transfer-encoding"] ?? "")) body = dechunk(body);
  return { statuses, headers, body, raw, closed, timedOut };
}

/** The payload of a chunked body (what arrived of it; trailers and a second response dropped). */
function dechunk(t: string): string {
  let out = "";
  let at = 0;
  for (;;) {
    const eol = t.indexOf("\r\n", at);
    if (eol === -1) return out;
    const size = parseInt(t.slice(at, eol), 16);
    if (!Number.isInteger(size) || size <= 0) return out;
    out += t.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

/**
 * Whether the first response in t is whole: its head, and the body its Content-Length or chunked
 * framing announces (none for HEAD, 1xx, 204, 304). Without framing it ends when the socket does.
 */
export function firstResponseComplete(t: string, head: boolean): boolean {
  // "100 Continue" is an interim answer: the response follows it.
  while (/^HTTP\/\d\.\d 100 /.test(t) && t.includes("\r\n\r\n")) t = t.slice(t.indexOf("\r\n\r\n") + 4);
  const end = t.indexOf("\r\n\r\n");
  if (end === -1) return false;
  const a = parseAnswer(t, false, false);
  const status = a.statuses[0] ?? 0;
  if (head || status < 200 || status === 204 || status === 304) return status !== 100;
  const length = Number(a.headers["content-length"]);
  if (Number.isInteger(length) && length >= 0) return Buffer.byteLength(t.slice(end + 4), "latin1") >= length;
  if (/chunked/i.test(a.headers["transfer-encoding"] ?? "")) return /(^|\r\n)0\r\n\r\n/.test(t.slice(end + 4));
  return false;
}

/** Sends bytes to host:port and collects the answer until the socket closes (or the head is in). */
export function rawRequest(port: number, request: string | Buffer, opts: RawOptions = {}): Promise<RawAnswer> {
  const { end = false, headOnly = false, timeoutMs = 10_000 } = opts;
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let settled = false;
    const text = () => Buffer.concat(chunks).toString("latin1");
    const finish = (closed: boolean, timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseAnswer(text(), closed, timedOut));
    };
    const timer = setTimeout(() => finish(false, chunks.length === 0), timeoutMs);
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      if (settled) return;
      const t = text();
      if (headOnly ? t.includes("\r\n\r\n") : firstResponseComplete(t, opts.head === true)) finish(false, false);
    });
    socket.on("error", () => finish(true, false));
    socket.on("close", () => finish(true, false));
    socket.write(request, () => {
      if (end) socket.end();
    });
  });
}

/** Bytes of one request: request line, headers in the order given (duplicates allowed), body. */
export function requestBytes(method: string, target: string, headers: Array<[string, string]>, body: string | Buffer = "", version = "HTTP/1.1"): Buffer {
  const head = `${method} ${target} ${version}\r\n${headers.map(([k, v]) => `${k}: ${v}`).join("\r\n")}${headers.length ? "\r\n" : ""}\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), typeof body === "string" ? Buffer.from(body, "utf8") : body]);
}

export interface UpgradeAnswer extends RawAnswer {
  /** The bytes after the response head (WebSocket frames, after a 101). */
  after: Buffer;
}

/**
 * Sends an upgrade request; after a 101 writes the frames and reads until the server closes or
 * stays quiet for quietMs (pacing only: nothing is asserted about time).
 */
export function rawUpgrade(port: number, request: Buffer, frames: Buffer[], opts: { quietMs?: number; timeoutMs?: number } = {}): Promise<UpgradeAnswer> {
  const { quietMs = 150, timeoutMs = 10_000 } = opts;
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let settled = false;
    let quiet: NodeJS.Timeout | undefined;
    let upgraded = false;
    const all = () => Buffer.concat(chunks);
    const finish = (closed: boolean, timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(quiet);
      socket.destroy();
      const buf = all();
      const headEnd = buf.indexOf("\r\n\r\n");
      const headText = (headEnd === -1 ? buf : buf.subarray(0, headEnd + 4)).toString("latin1");
      const answer = parseAnswer(upgraded ? headText : buf.toString("latin1"), closed, timedOut);
      resolve({ ...answer, after: upgraded && headEnd !== -1 ? buf.subarray(headEnd + 4) : Buffer.alloc(0) });
    };
    const timer = setTimeout(() => finish(false, chunks.length === 0), timeoutMs);
    const settleLater = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => finish(false, false), quietMs);
    };
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      if (settled) return;
      const t = all().toString("latin1");
      if (upgraded) return settleLater();
      if (!t.includes("\r\n\r\n")) return;
      if (/^HTTP\/1\.1 101 /.test(t)) {
        upgraded = true;
        for (const f of frames) socket.write(f);
        return settleLater();
      }
      if (firstResponseComplete(t, false)) finish(false, false);
    });
    socket.on("error", () => finish(true, false));
    socket.on("close", () => finish(true, false));
    socket.write(request);
  });
}
