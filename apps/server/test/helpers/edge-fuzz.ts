import fc from "fast-check";
import { anyJson, encodeAny, oddString, rawBody } from "./fuzz.js";
import { requestBytes } from "./raw-http.js";

/**
 * Arbitrary requests as bytes (methods, targets, headers, bodies that fetch cannot express),
 * WebSocket upgrades with odd headers and the frames sent after them. No vitest import.
 */

/** What a generated request needs from the running test: where it goes and who may call. */
export interface CaseContext {
  port: number;
  token: string;
  roomId: string;
  maxBodyBytes: number;
}

/** A value chosen from the context at encoding time (the port, a real token, a real room). */
type FromCtx<T> = (ctx: CaseContext) => T;

const BASE_PATHS = [
  "/",
  "/index.html",
  "/assets/app-1234.js",
  "/r/AAAAAAAAAAAAAAAA",
  "/healthz",
  "/readyz",
  "/metrics",
  "/trpc",
  "/trpc/",
  "/trpc/room.list",
  "/trpc/auth.login",
  "/trpc/auth.me",
  "/trpc/room.create",
  "/trpc/room.send",
  "/trpc/room.onMessage",
  "/trpc/room.list,auth.me",
  "/api/v1",
  "/api/v1/status",
  "/api/v1/auth/login",
  "/api/v1/auth/register",
  "/api/v1/auth/validate",
  "/api/v1/rooms/create",
  "/api/v1/rooms/remove",
  "/api/v1/rooms/ws",
  "/api/v1/openapi.json",
  "/.well-known/jwks.json",
  "/internal/users/1",
  "/internal/sessions/0123456789abcdef0123456789abcdef",
];

/** Escapes that are malformed, overlong, or decode to something a path should not hold. */
const ESCAPES = ["%", "%0", "%ZZ", "%E0%A4%A", "%C0%AF", "%C0%AE", "%00", "%2e%2e", "%2E", "%2F", "%5C", "%25", "%FF", "%u0041", "%%", "%0A", "%20"];

/** Raw UTF-8 bytes, as a latin1 string (what goes on the wire byte for byte). */
const utf8Bytes = (s: string) => Buffer.from(s, "utf8").toString("latin1");

const segment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("..", ".", "", "%2e%2e", "..%2f", "..\\", "...", "r", "assets", "trpc", "api", "v1", "index.html"),
  fc.constantFrom(...ESCAPES),
  fc.string({ maxLength: 12 }).map(encodeAny),
  fc.string({ unit: "grapheme", maxLength: 4 }).map(utf8Bytes),
  fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{1,12}$/),
);

const query: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constant("") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "?input=%7B%7D",
      '?batch=1&input={"0":{}}',
      "?batch=1&input=%7B%220%22%3A%7B%7D%7D",
      "?connectionParams=1",
      "?token=abc&room=x",
      "?%",
      "?input=%E0%A4%A",
      "?input=" + "%7B".repeat(300),
      "?a=1&a=2&a=3",
      "?",
      "??",
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((s) => `?input=${encodeAny(s)}`) },
  { weight: 1, arbitrary: anyJson.map((j) => `?input=${encodeAny(JSON.stringify(j) ?? "")}`) },
);

export const requestTarget: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...BASE_PATHS), query).map(([p, q]) => p + q) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom(...BASE_PATHS), fc.array(segment, { minLength: 1, maxLength: 4 }), query)
      .map(([base, segs, q]) => `${base.replace(/\/$/, "")}/${segs.join("/")}${q}`),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...BASE_PATHS), fc.nat(), fc.constantFrom(...ESCAPES))
      .map(([p, at, e]) => p.slice(0, (at % p.length) + 1) + e + p.slice((at % p.length) + 1)),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constantFrom(1000, 8000, 17_000, 70_000).map((n) => `/${"a".repeat(n)}`),
      fc.constantFrom(40, 400, 4000).map((n) => `/trpc/${Array(n).fill("room.list").join(",")}`),
      fc.constantFrom(100, 3000).map((n) => `/${"../".repeat(n)}etc/passwd`),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "*",
      "",
      "http://127.0.0.1/trpc/room.list",
      "https://evil.example/api/v1/status",
      "127.0.0.1:443",
      "//",
      "///etc/passwd",
      "/..",
      "/../../etc/passwd",
      "\\",
      "/\\..\\..\\etc\\passwd",
      "/#frag",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/r/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "/assets/..%2f..%2f..%2fetc%2fpasswd",
      "/trpc/%ZZ",
      "/trpc/room.list%2Cauth.me",
      "/api/v1/rooms/ws/../../status",
    ),
  },
);

export const method: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("GET", "POST", "HEAD", "OPTIONS", "DELETE") },
  {
    weight: 3,
    arbitrary: fc.constantFrom("PUT", "PATCH", "TRACE", "CONNECT", "PROPFIND", "MKCOL", "M-SEARCH", "PURGE", "QUERY", "LINK", "SEARCH", "REPORT", "TRACK", "DEBUG"),
  },
  { weight: 2, arbitrary: fc.constantFrom("get", "post", "Get", "head", "options") },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z-]{1,12}$/) },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 8 }) },
);

const version = fc.oneof(
  { weight: 20, arbitrary: fc.constant("HTTP/1.1") },
  { weight: 1, arbitrary: fc.constantFrom("HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/9.9", "HTTP/1.1 junk", "HTTP/1", "http/1.1", "") },
);

const host: fc.Arbitrary<FromCtx<string[]>> = fc.oneof(
  { weight: 12, arbitrary: fc.constant((c: CaseContext) => [`127.0.0.1:${c.port}`]) },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom("", "a b[", "[", "x:99999", "localhost", "[::1]", "chat.example", utf8Bytes("évil.example"), "a\\b", "%", "127.0.0.1:0", "user@host", "h/p?q#f", ":80", "[::1", "x".repeat(300))
      .map((h) => () => [h]),
  },
  { weight: 1, arbitrary: fc.constant(() => []) },
  { weight: 1, arbitrary: fc.constant((c: CaseContext) => [`127.0.0.1:${c.port}`, "evil.example"]) },
);

const origin = fc.oneof(
  { weight: 8, arbitrary: fc.constant((): string | undefined => undefined) },
  { weight: 2, arbitrary: fc.constant((c: CaseContext): string | undefined => `http://127.0.0.1:${c.port}`) },
  { weight: 1, arbitrary: fc.constantFrom("null", "https://evil.example", "::::", "", utf8Bytes("http://é")).map((o) => (): string | undefined => o) },
);

const authorization = fc.oneof(
  { weight: 4, arbitrary: fc.constant((): string | undefined => undefined) },
  { weight: 3, arbitrary: fc.constant((c: CaseContext): string | undefined => `Bearer ${c.token}`) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom("Bearer", "Bearer ", "Bearer e30.e30.e30", "Basic Zm9vOmJhcg==", `Bearer ${"x".repeat(5000)}`, "bearer  a b", "Bearer a.b", "Bearer \u00ff\u00fe", "Negotiate")
      .map((a) => (): string | undefined => a),
  },
  { weight: 1, arbitrary: fc.constant((c: CaseContext): string | undefined => `Bearer ${c.token.slice(0, -3)}abc`) },
);

const contentType = fc.constantFrom(
  undefined,
  undefined,
  "application/json",
  "application/json",
  "text/plain",
  "multipart/form-data; boundary=x",
  "multipart/form-data",
  "application/octet-stream",
  "application/x-www-form-urlencoded",
  "application/json; charset=utf-16",
  "garbage",
  "",
  "application/json, text/plain",
);

/** How the body travels, and how honest its framing is. */
type Framing = "exact" | "none" | "shorter-than-declared" | "longer-than-declared" | "huge" | "negative" | "non-numeric" | "two-lengths" | "chunked" | "bad-chunks" | "te-and-cl" | "odd-te";
const framing = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom<Framing>("exact", "none") },
  {
    weight: 4,
    arbitrary: fc.constantFrom<Framing>("shorter-than-declared", "longer-than-declared", "huge", "negative", "non-numeric", "two-lengths", "chunked", "bad-chunks", "te-and-cl", "odd-te"),
  },
);

const body: fc.Arbitrary<FromCtx<Buffer>> = fc.oneof(
  { weight: 3, arbitrary: anyJson.map((j) => () => Buffer.from(JSON.stringify(j) ?? "")) },
  { weight: 2, arbitrary: rawBody.map((r) => () => Buffer.from(r)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => () => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constant((c: CaseContext) => Buffer.from(JSON.stringify({ roomId: c.roomId, text: "fuzz" }))) },
  { weight: 1, arbitrary: fc.constant((c: CaseContext) => Buffer.from(JSON.stringify({ 0: { roomId: c.roomId } }))) },
  { weight: 1, arbitrary: fc.constant((c: CaseContext) => Buffer.alloc(c.maxBodyBytes + 1, 0x20)) },
);

const extraHeaders = fc.array(
  fc.oneof(
    fc.tuple(fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/), fc.string({ unit: "grapheme-ascii", maxLength: 40 })),
    fc.tuple(fc.constantFrom("X-Request-Id", "Expect", "Connection", "Upgrade", "Accept", "trpc-accept", "Cookie", "X-Forwarded-For", "Range", "If-None-Match", "Accept-Encoding", "Content-Encoding"), oddString),
    fc.tuple(fc.constantFrom("Expect"), fc.constantFrom("100-continue", "garbage")),
    fc.tuple(fc.constantFrom("trpc-accept"), fc.constantFrom("application/jsonl", "text/event-stream")),
    fc.tuple(fc.constantFrom("Connection"), fc.constantFrom("keep-alive", "Upgrade", "close, Upgrade", "TE")),
    fc.tuple(fc.constantFrom("Content-Encoding"), fc.constantFrom("gzip", "br", "deflate")),
  ),
  { maxLength: 3 },
);

export const httpCase = fc.record({
  method,
  target: requestTarget,
  version,
  host,
  origin,
  authorization,
  contentType,
  framing,
  body,
  extra: extraHeaders,
  keepAlive: fc.boolean(),
});
export type HttpCase = typeof httpCase extends fc.Arbitrary<infer T> ? T : never;

/** Header values go out as latin1 bytes: anything else is cut down to its low byte, as a careless client would. */
const headerSafe = (v: string) => v.replace(/[\r\n]/g, " ");

export interface EncodedCase {
  bytes: Buffer;
  /** A one-line description for failure reports. */
  label: string;
  isHead: boolean;
  /** The request is incomplete or oversized: the server may close without an answer (or the client half-closes). */
  mayGoUnanswered: boolean;
  halfClose: boolean;
}

export function encodeHttpCase(c: HttpCase, ctx: CaseContext): EncodedCase {
  const headers: Array<[string, string]> = [];
  for (const h of c.host(ctx)) headers.push(["Host", h]);
  const o = c.origin(ctx);
  if (o !== undefined) headers.push(["Origin", o]);
  const a = c.authorization(ctx);
  if (a !== undefined) headers.push(["Authorization", a]);
  if (c.contentType !== undefined) headers.push(["Content-Type", c.contentType]);
  for (const [k, v] of c.extra) headers.push([k, headerSafe(v)]);
  if (!c.keepAlive) headers.push(["Connection", "close"]);
  let payload = c.body(ctx);
  let halfClose = false;
  let mayGoUnanswered = payload.length > ctx.maxBodyBytes;
  switch (c.framing) {
    case "exact":
      headers.push(["Content-Length", String(payload.length)]);
      break;
    case "none":
      payload = Buffer.alloc(0);
      break;
    case "shorter-than-declared":
      headers.push(["Content-Length", String(payload.length + 10)]);
      halfClose = true;
      mayGoUnanswered = true;
      break;
    case "longer-than-declared":
      headers.push(["Content-Length", String(Math.floor(payload.length / 2))]);
      break;
    case "huge":
      headers.push(["Content-Length", "99999999999"]);
      payload = payload.subarray(0, 10);
      break;
    case "negative":
      headers.push(["Content-Length", "-1"]);
      break;
    case "non-numeric":
      headers.push(["Content-Length", "12abc"]);
      break;
    case "two-lengths":
      headers.push(["Content-Length", String(payload.length)], ["Content-Length", String(payload.length + 1)]);
      break;
    case "chunked":
      headers.push(["Transfer-Encoding", "chunked"]);
      payload = Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from("\r\n0\r\n\r\n")]);
      break;
    case "bad-chunks":
      headers.push(["Transfer-Encoding", "chunked"]);
      payload = Buffer.concat([Buffer.from("zz\r\n"), payload, Buffer.from("\r\n")]);
      break;
    case "te-and-cl":
      headers.push(["Transfer-Encoding", "chunked"], ["Content-Length", String(payload.length)]);
      break;
    case "odd-te":
      headers.push(["Transfer-Encoding", "gzip, chunked, identity"]);
      break;
  }
  const bytes = requestBytes(c.method, c.target, headers, payload, c.version);
  const label = `${JSON.stringify(c.method)} ${JSON.stringify(c.target.slice(0, 120))}${c.target.length > 120 ? `…(${c.target.length})` : ""} ${c.version} ${c.framing} body ${payload.length} B headers ${JSON.stringify(headers.map(([k, v]) => `${k}: ${v.slice(0, 60)}`))}`;
  return { bytes, label, isHead: c.method === "HEAD", mayGoUnanswered, halfClose };
}

/* ---------- WebSocket upgrades and frames ---------- */

/** One client frame: masked unless told otherwise, with any opcode, flags and length encoding. */
export function clientFrame(opcode: number, payload: Buffer, opts: { fin?: boolean; rsv?: number; masked?: boolean } = {}): Buffer {
  const { fin = true, rsv = 0, masked = true } = opts;
  const len = payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const maskBit = masked ? 0x80 : 0;
  if (len < 126) head.push(maskBit | len);
  else if (len < 65_536) head.push(maskBit | 126, len >> 8, len & 0xff);
  else head.push(maskBit | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
  if (!masked) return Buffer.concat([Buffer.from(head), payload]);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const body = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
  return Buffer.concat([Buffer.from(head), mask, body]);
}

/** Messages a tRPC or legacy client might send, and many it would not. */
export const socketMessage: fc.Arbitrary<FromCtx<string>> = fc.oneof(
  { weight: 2, arbitrary: fc.constant((c: CaseContext) => JSON.stringify({ method: "connectionParams", data: { token: c.token } })) },
  {
    weight: 4,
    arbitrary: fc
      .record(
        {
          id: fc.oneof(fc.nat(), fc.string({ maxLength: 5 }), fc.constant(null)),
          method: fc.oneof(fc.constantFrom("query", "mutation", "subscription", "subscription.stop", "connectionParams"), oddString),
          params: fc.record({
            path: fc.oneof(fc.constantFrom("room.list", "auth.me", "room.send", "room.onMessage", "room.onActivity", "room.get", "nope", ""), oddString),
            input: fc.oneof(anyJson, fc.constant(undefined)),
          }),
        },
        { requiredKeys: ["method"] },
      )
      .map((m) => () => JSON.stringify(m)),
  },
  { weight: 1, arbitrary: fc.constant((c: CaseContext) => JSON.stringify({ id: 1, method: "query", params: { path: "room.get", input: { roomId: c.roomId } } })) },
  { weight: 2, arbitrary: oddString.map((s) => () => s) },
  { weight: 1, arbitrary: fc.constantFrom("PING", "PONG", "", "{}", "[]", "null").map((s) => () => s) },
);

/** A frame after the handshake: a text message, or a malformed frame (bad opcode, flags, masking, length). */
export const socketFrame: fc.Arbitrary<FromCtx<Buffer>> = fc.oneof(
  { weight: 5, arbitrary: socketMessage.map((m) => (c: CaseContext) => clientFrame(1, Buffer.from(m(c)))) },
  {
    weight: 2,
    arbitrary: fc
      .record({
        opcode: fc.integer({ min: 0, max: 15 }),
        payload: fc.uint8Array({ maxLength: 200 }),
        fin: fc.boolean(),
        rsv: fc.integer({ min: 0, max: 7 }),
        masked: fc.boolean(),
      })
      .map((f) => () => clientFrame(f.opcode, Buffer.from(f.payload), f)),
  },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => () => Buffer.from(b)) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(
        clientFrame(1, Buffer.from([0xc3, 0x28])), // invalid UTF-8 in a text frame
        clientFrame(8, Buffer.from([0x03, 0xe7])), // close with a reserved code (999)
        clientFrame(8, Buffer.from([0x0b, 0xb8, 0xff])), // close 3000 with a bad UTF-8 reason
        clientFrame(8, Buffer.from([0x01])), // close with a one-byte body
        clientFrame(9, Buffer.alloc(126)), // ping longer than a control frame may be
        clientFrame(9, Buffer.from("x"), { fin: false }), // fragmented control frame
        clientFrame(0, Buffer.from("continuation without a start")),
        clientFrame(2, Buffer.alloc(70_000, 0x61)), // past the payload limits
      )
      .map((b) => () => b),
  },
);

const upgradePath: fc.Arbitrary<FromCtx<string>> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom("/trpc", "/trpc?connectionParams=1", "/trpc/room.list", "/trpc?connectionParams=%ZZ", "/trpc?connectionParams=1&x=%E0%A4%A").map((p) => () => p),
  },
  { weight: 3, arbitrary: fc.constant((c: CaseContext) => `/api/v1/rooms/ws?room=${c.roomId}&token=${encodeURIComponent(c.token)}`) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom("/api/v1/rooms/ws", "/api/v1/rooms/ws?room=x&token=garbage", "/api/v1/rooms/ws?room=%ZZ&token=%E0", "/", "/healthz", "/api/v1/status", "/nope", "/%E0%A4%A", "*")
      .map((p) => () => p),
  },
  { weight: 1, arbitrary: fc.constant((c: CaseContext) => `/api/v1/rooms/ws?room=${encodeURIComponent(c.roomId + "\u0000")}&token=${c.token}`) },
);

const optional = <T>(a: fc.Arbitrary<T>, weightMissing = 1, weightPresent = 6) =>
  fc.oneof({ weight: weightMissing, arbitrary: fc.constant(undefined) }, { weight: weightPresent, arbitrary: a });

export const upgradeCase = fc.record({
  path: upgradePath,
  host,
  origin,
  authorization,
  connection: fc.oneof({ weight: 8, arbitrary: fc.constant("Upgrade") }, { weight: 1, arbitrary: fc.constantFrom("upgrade", "keep-alive, Upgrade", "close", "Upgrade, Upgrade", "") }),
  upgrade: optional(fc.oneof({ weight: 8, arbitrary: fc.constant("websocket") }, { weight: 1, arbitrary: fc.constantFrom("WebSocket", "h2c", "websocket, h2c", "", "ws") }), 1, 12),
  version: optional(fc.oneof({ weight: 8, arbitrary: fc.constant("13") }, { weight: 1, arbitrary: fc.constantFrom("8", "14", "13, 8", "x", "") }), 1, 12),
  key: optional(fc.oneof({ weight: 8, arbitrary: fc.constant("dGhlIHNhbXBsZSBub25jZQ==") }, { weight: 1, arbitrary: fc.constantFrom("", "short", "!!!!!!!!!!!!!!!!!!!!!!==", "a".repeat(200)) }), 1, 12),
  protocol: optional(fc.constantFrom("chat", "", "a, b", "x".repeat(300), "\u00ff"), 6, 1),
  extensions: optional(fc.constantFrom("permessage-deflate", "permessage-deflate; client_max_window_bits=99", "x-unknown", ";;;"), 6, 1),
  /** Sent after a 101. */
  frames: fc.array(socketFrame, { maxLength: 5 }),
});
export type UpgradeCase = typeof upgradeCase extends fc.Arbitrary<infer T> ? T : never;

export function encodeUpgrade(c: UpgradeCase, ctx: CaseContext): { bytes: Buffer; label: string } {
  const headers: Array<[string, string]> = [];
  for (const h of c.host(ctx)) headers.push(["Host", h]);
  const o = c.origin(ctx);
  if (o !== undefined) headers.push(["Origin", o]);
  const a = c.authorization?.(ctx);
  if (a !== undefined) headers.push(["Authorization", a]);
  headers.push(["Connection", c.connection]);
  if (c.upgrade !== undefined) headers.push(["Upgrade", c.upgrade]);
  if (c.version !== undefined) headers.push(["Sec-WebSocket-Version", c.version]);
  if (c.key !== undefined) headers.push(["Sec-WebSocket-Key", c.key]);
  if (c.protocol !== undefined) headers.push(["Sec-WebSocket-Protocol", c.protocol]);
  if (c.extensions !== undefined) headers.push(["Sec-WebSocket-Extensions", c.extensions]);
  const path = c.path(ctx);
  const label = `upgrade ${path.replace(ctx.token, "<token>").slice(0, 120)} ${JSON.stringify(headers.map(([k, v]) => `${k}: ${v.replace(ctx.token, "<token>").slice(0, 60)}`))}`;
  return { bytes: requestBytes("GET", path, headers), label };
}

/** Text and close frames the server wrote (unmasked), read out of the bytes after the handshake. */
export function serverFrames(data: Buffer): { texts: string[]; closeCode: number | undefined } {
  const texts: string[] = [];
  let closeCode: number | undefined;
  let i = 0;
  while (i + 2 <= data.length) {
    const b0 = data[i] as number;
    let len = (data[i + 1] as number) & 0x7f;
    let at = i + 2;
    if (len === 126) {
      if (at + 2 > data.length) break;
      len = data.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      if (at + 8 > data.length) break;
      len = Number(data.readBigUInt64BE(at));
      at += 8;
    }
    if (at + len > data.length) break;
    const payload = data.subarray(at, at + len);
    const opcode = b0 & 0x0f;
    if (opcode === 1) texts.push(payload.toString("utf8"));
    if (opcode === 8 && closeCode === undefined) closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    i = at + len;
  }
  return { texts, closeCode };
}
