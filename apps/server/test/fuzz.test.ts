import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Session } from "@anonchat/shared";
import { registerUser, startTestServer, type TestServer } from "./harness.js";
import {
  announce,
  encodeAny,
  anyJson,
  emailLike,
  FUZZ_RUNS,
  FUZZ_SEED,
  inputFor,
  loginLike,
  oddNumber,
  oddString,
  rawBody,
  roomIdLike,
  textLike,
} from "./helpers/fuzz.js";
import { legacySocket, RawSocket, trpcSocket } from "./helpers/raw-ws.js";
import { QUICK_ENV } from "./helpers/test-env.js";
import { sleep } from "./helpers/wire.js";

/**
 * Property-based fuzzing of every tRPC procedure (HTTP, and the subscription over the socket),
 * every /api/v1 route and both socket protocols with arbitrary and near-valid JSON: every answer
 * is below 500, no error is logged, no promise rejection goes unhandled, the process stays up.
 * FUZZ_RUNS (default 200 per target) and FUZZ_SEED are printed for replay.
 */

let srv: TestServer;
let user: Session;
const realRooms: string[] = [];
const errorLogs: string[] = [];
const unhandled: string[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(String(reason instanceof Error ? reason.stack : reason));

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  srv = await startTestServer({
    // Fast hashing (register/login are fuzzed too) and limits that never stop the fuzzer.
    env: { ...QUICK_ENV, LOGIN_FAILS_PER_EMAIL_IP: "10000" },
    onLog: (line) => {
      if (line.includes('"level":"error"') && errorLogs.length < 20) errorLogs.push(line.slice(0, 1500));
    },
  });
  const u = await registerUser(srv.url, "fuzz");
  user = u.session;
  for (let i = 0; i < 3; i++) realRooms.push((await u.client.room.create.mutate({ name: `fuzz ${i}`, maxMembers: 10 })).id);
});
afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  await srv?.stop();
});

const roomId = roomIdLike(() => realRooms);
const seq = fc.oneof(fc.integer({ min: 1, max: 2 ** 31 }), oddNumber);

/** Each procedure with the fields of its input (null: no input). */
const PROCEDURES: Array<{ path: string; kind: "query" | "mutation"; fields: Record<string, fc.Arbitrary<unknown>> | null }> = [
  { path: "auth.register", kind: "mutation", fields: { login: loginLike, email: emailLike, password: fc.string({ minLength: 6, maxLength: 140 }) } },
  { path: "auth.login", kind: "mutation", fields: { email: emailLike, password: fc.string({ maxLength: 140 }) } },
  { path: "auth.refresh", kind: "mutation", fields: { refreshToken: oddString } },
  { path: "auth.logout", kind: "mutation", fields: { refreshToken: oddString } },
  { path: "auth.me", kind: "query", fields: null },
  { path: "room.create", kind: "mutation", fields: { name: fc.string({ maxLength: 70 }), maxMembers: fc.oneof(fc.integer({ min: 0, max: 1002 }), oddNumber) } },
  { path: "room.join", kind: "mutation", fields: { roomId } },
  { path: "room.leave", kind: "mutation", fields: { roomId } },
  { path: "room.remove", kind: "mutation", fields: { roomId } },
  { path: "room.list", kind: "query", fields: null },
  { path: "room.get", kind: "query", fields: { roomId } },
  { path: "room.history", kind: "query", fields: { roomId, beforeSeq: seq, limit: fc.oneof(fc.integer({ min: -1, max: 120 }), oddNumber) } },
  { path: "room.send", kind: "mutation", fields: { roomId, text: textLike, clientMsgId: fc.oneof(fc.string({ maxLength: 70 }), oddString) } },
  { path: "room.markRead", kind: "mutation", fields: { roomId, seq } },
  { path: "room.typing", kind: "mutation", fields: { roomId, typing: fc.oneof(fc.boolean(), oddString) } },
  { path: "room.presence", kind: "query", fields: { roomId } },
  { path: "room.transfer", kind: "mutation", fields: { roomId, userId: seq } },
  { path: "message.edit", kind: "mutation", fields: { roomId, seq, text: textLike } },
  { path: "message.delete", kind: "mutation", fields: { roomId, seq } },
  { path: "member.list", kind: "query", fields: { roomId } },
  { path: "member.bans", kind: "query", fields: { roomId } },
  { path: "member.kick", kind: "mutation", fields: { roomId, userId: seq } },
  { path: "member.ban", kind: "mutation", fields: { roomId, userId: seq } },
  { path: "member.unban", kind: "mutation", fields: { roomId, userId: seq } },
];

/** Who calls: the fuzz user, nobody, or someone with a broken token. */
const caller = fc.constantFrom<"user" | "anonymous" | "garbage">("user", "user", "user", "anonymous", "garbage");
const authHeader = (who: "user" | "anonymous" | "garbage"): Record<string, string> =>
  who === "user" ? { Authorization: `Bearer ${user.accessToken}` } : who === "garbage" ? { Authorization: "Bearer e30.e30.e30" } : {};

interface Answer {
  status: number;
  text: string;
}

async function send(method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
  const go = () => fetch(`${srv.url}${path}`, { method, headers, body, signal: AbortSignal.timeout(20_000) });
  // One retry when there is no HTTP answer at all (a kept-alive socket closed under the request);
  // a crashed server fails the retry too, and the final health check.
  const res = await go().catch(() => go());
  return { status: res.status, text: await res.text() };
}

/** The property every answer must keep. */
function acceptable(a: Answer): boolean {
  return a.status >= 200 && a.status < 500;
}

function failureNote(a: Answer, what: string) {
  return `${what} -> ${a.status} ${a.text.slice(0, 300)}`;
}

describe(`fuzzing tRPC over HTTP (seed ${FUZZ_SEED}, ${FUZZ_RUNS} runs per procedure)`, () => {
  it.each(PROCEDURES.map((p) => [p.path, p] as const))("%s answers below 500 to arbitrary input", async (_path, proc) => {
    announce(`tRPC ${proc.path}`);
    let worst = "";
    const shape = fc.record({
      who: caller,
      input: inputFor(proc.fields),
      // How the input travels: as tRPC clients send it, batched, with the wrong verb, or not as JSON.
      mode: fc.constantFrom<"plain" | "batch" | "wrong-verb" | "raw">("plain", "plain", "plain", "batch", "wrong-verb", "raw"),
      raw: rawBody,
    });
    await fc.assert(
      fc.asyncProperty(shape, async ({ who, input, mode, raw }) => {
        const headers = authHeader(who);
        const json = JSON.stringify(input) as string | undefined;
        let a: Answer;
        const asQuery = (i: string | undefined) => (i === undefined ? "" : `input=${encodeURIComponent(i)}`);
        if (mode === "raw") {
          a =
            proc.kind === "mutation"
              ? await send("POST", `/trpc/${proc.path}`, { ...headers, "Content-Type": "application/json" }, raw)
              : await send("GET", `/trpc/${proc.path}?input=${encodeAny(raw)}`, headers);
        } else if (mode === "batch") {
          const batch = JSON.stringify({ 0: input, 1: input });
          a =
            proc.kind === "mutation"
              ? await send("POST", `/trpc/${proc.path},${proc.path}?batch=1`, { ...headers, "Content-Type": "application/json" }, batch)
              : await send("GET", `/trpc/${proc.path},${proc.path}?batch=1&${asQuery(batch)}`, headers);
        } else if ((mode === "plain") === (proc.kind === "mutation")) {
          a = await send("POST", `/trpc/${proc.path}`, { ...headers, "Content-Type": "application/json" }, json ?? "");
        } else {
          a = await send("GET", `/trpc/${proc.path}?${asQuery(json)}`, headers);
        }
        if (!acceptable(a)) worst = failureNote(a, `${mode} ${who} ${json?.slice(0, 200)}`);
        return acceptable(a);
      }),
      { numRuns: FUZZ_RUNS, seed: FUZZ_SEED, endOnFailure: true },
    ).catch((e: unknown) => {
      throw new Error(`${worst}\n${String(e)}`);
    });
  });

  it("unknown procedures and odd paths under /trpc answer below 500", async () => {
    announce("tRPC unknown paths");
    await fc.assert(
      fc.asyncProperty(oddString, fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"), anyJson, async (name, method, body) => {
        const a = await send(method, `/trpc/${encodeAny(name)}`, { "Content-Type": "application/json" }, method === "GET" ? undefined : JSON.stringify(body));
        return acceptable(a);
      }),
      { numRuns: FUZZ_RUNS, seed: FUZZ_SEED, endOnFailure: true },
    );
  });
});

const ROUTES: Array<{ method: string; path: string; fields: Record<string, fc.Arbitrary<unknown>> | null }> = [
  { method: "GET", path: "/api/v1/status", fields: null },
  { method: "POST", path: "/api/v1/auth/register", fields: { login: loginLike, email: emailLike, password: fc.string({ minLength: 6, maxLength: 140 }) } },
  { method: "POST", path: "/api/v1/auth/login", fields: { email: emailLike, password: fc.string({ maxLength: 140 }) } },
  { method: "POST", path: "/api/v1/auth/refresh", fields: { token: oddString } },
  { method: "POST", path: "/api/v1/auth/logout", fields: { token: oddString } },
  { method: "GET", path: "/api/v1/auth/validate", fields: null },
  { method: "POST", path: "/api/v1/rooms/create", fields: { name: fc.string({ maxLength: 70 }), max_user: fc.oneof(fc.integer({ min: -1, max: 1002 }), oddNumber) } },
  { method: "DELETE", path: "/api/v1/rooms/remove", fields: { room_id: roomId } },
  ...["kick", "ban", "unban", "transfer"].map((a) => ({ method: "POST", path: `/api/v1/rooms/${a}`, fields: { room_id: roomId, user_id: seq } })),
];

describe(`fuzzing /api/v1 (seed ${FUZZ_SEED}, ${FUZZ_RUNS} runs per route)`, () => {
  it.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))("%s answers below 500 to arbitrary bodies", async (name, route) => {
    announce(`REST ${name}`);
    let worst = "";
    const shape = fc.record({
      who: caller,
      body: inputFor(route.fields),
      raw: rawBody,
      encoding: fc.constantFrom<"json" | "raw" | "none">("json", "json", "json", "raw", "none"),
      method: fc.oneof({ weight: 5, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH") }),
      suffix: fc.constantFrom("", "", "", "/", "?x=1", "//", "?token=abc&room=x"),
      contentType: fc.constantFrom("application/json", "application/json", "text/plain", "application/x-www-form-urlencoded", ""),
    });
    await fc.assert(
      fc.asyncProperty(shape, async ({ who, body, raw, encoding, method, suffix, contentType }) => {
        const headers: Record<string, string> = { ...authHeader(who), ...(contentType ? { "Content-Type": contentType } : {}) };
        const payload = method === "GET" || encoding === "none" ? undefined : encoding === "raw" ? raw : (JSON.stringify(body) ?? "");
        const a = await send(method, `${route.path}${suffix}`, headers, payload);
        if (!acceptable(a)) worst = failureNote(a, `${method} ${route.path}${suffix} ${who} ${String(payload).slice(0, 200)}`);
        // The envelope, always (legacy-api.md), JSON whatever went wrong.
        const enveloped = (() => {
          try {
            const b = JSON.parse(a.text) as Record<string, unknown>;
            return typeof b.status === "string" && typeof b.message === "string" && "data" in b;
          } catch {
            return false;
          }
        })();
        if (!enveloped) worst = failureNote(a, `not the envelope: ${method} ${route.path}${suffix}`);
        return acceptable(a) && enveloped;
      }),
      { numRuns: FUZZ_RUNS, seed: FUZZ_SEED, endOnFailure: true },
    ).catch((e: unknown) => {
      throw new Error(`${worst}\n${String(e)}`);
    });
  });

  it("unknown paths under /api/v1 answer 404 (or 431 for a path past Node's header limit)", async () => {
    announce("REST unknown paths");
    await fc.assert(
      fc.asyncProperty(oddString, fc.constantFrom("GET", "POST", "DELETE"), async (name, method) => {
        const a = await send(method, `/api/v1/x${encodeAny(name)}`, {});
        // 404 in the envelope; a path too long for Node's header limit is 431 before any route.
        return a.status === 404 || a.status === 405 || a.status === 431 || a.status === 414;
      }),
      { numRuns: FUZZ_RUNS, seed: FUZZ_SEED, endOnFailure: true },
    );
  });
});

/** Codes a fuzzed socket may be closed with (anything else, 1011 above all, is a server fault). */
// 4429: the documented close of a socket past WS_MAX_REFUSALS (a fuzz of bad frames is such a flood).
const FINE_CLOSES = new Set([1000, 1005, 1009, 1002, 1007, 4401, 4403, 4404, 4410, 4008, 4429]);

describe(`fuzzing the sockets (seed ${FUZZ_SEED}, ${FUZZ_RUNS} runs each)`, () => {
  const wsPaths = [...PROCEDURES.map((p) => p.path), "room.onMessage", "room.onActivity", "nope", "auth", ""];
  const message = fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .record({
          id: fc.oneof(fc.nat(), fc.string({ maxLength: 5 }), fc.constant(null), anyJson),
          method: fc.oneof(fc.constantFrom("query", "mutation", "subscription", "subscription.stop", "connectionParams"), oddString),
          params: fc.oneof(
            { weight: 4, arbitrary: fc.record({ path: fc.oneof(fc.constantFrom(...wsPaths), oddString), input: inputFor({ roomId, text: textLike, lastEventId: fc.oneof(fc.nat().map(String), oddString), name: fc.string(), maxMembers: oddNumber }) }) },
            { weight: 1, arbitrary: anyJson },
          ),
          jsonrpc: fc.constantFrom(undefined, "2.0", "1.0"),
        }, { requiredKeys: ["id", "method"] })
        .map((m) => JSON.stringify(m)),
    },
    { weight: 1, arbitrary: fc.array(anyJson, { maxLength: 4 }).map((a) => JSON.stringify(a)) },
    { weight: 1, arbitrary: rawBody },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.constantFrom("PING", "PONG", "", "{}", "[]", "null") },
  );

  it("the tRPC socket: arbitrary frames get errors below 500 or a clean close; the server stays up", async () => {
    announce("tRPC socket");
    const sockets: RawSocket[] = [];
    const open = async () => {
      const s = trpcSocket(srv.wsUrl, user.accessToken);
      sockets.push(s);
      await s.opened;
      return s;
    };
    let s = await open();
    let reopened = 0;
    const lastSent = new Map<RawSocket, string[]>();
    await fc.assert(
      fc.asyncProperty(message, async (m) => {
        if (s.closed) {
          reopened++;
          s = await open();
        }
        lastSent.set(s, [...(lastSent.get(s) ?? []), String(m).slice(0, 300)].slice(-3));
        s.send(m);
        await sleep(2);
        return true;
      }),
      { numRuns: FUZZ_RUNS * 2, seed: FUZZ_SEED, endOnFailure: true },
    );
    await sleep(500);
    const bad: string[] = [];
    for (const sock of sockets) {
      for (const f of sock.json()) {
        const data = (f.error as { data?: { httpStatus?: number } } | undefined)?.data;
        if (data?.httpStatus !== undefined && data.httpStatus >= 500) bad.push(JSON.stringify(f).slice(0, 300));
      }
      if (sock.closed && !FINE_CLOSES.has(sock.closed.code)) {
        bad.push(`closed with ${sock.closed.code} ${sock.closed.reason} after sending ${JSON.stringify(lastSent.get(sock))}`);
      }
      sock.close();
    }
    console.log(`[fuzz] tRPC socket: ${FUZZ_RUNS * 2} frames over ${sockets.length} sockets (${reopened} reopened after a close)`);
    expect(bad).toEqual([]);
    expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
  });

  it("room.onMessage over the socket: arbitrary inputs get data or an error below 500", async () => {
    announce("tRPC room.onMessage");
    const all: RawSocket[] = [];
    const open = async () => {
      const x = trpcSocket(srv.wsUrl, user.accessToken);
      all.push(x);
      await x.opened;
      return x;
    };
    let s = await open();
    let id = 1_000_000;
    await fc.assert(
      fc.asyncProperty(inputFor({ roomId, lastEventId: fc.oneof(fc.nat({ max: 50 }).map(String), oddString, oddNumber) }), async (input) => {
        // A frame past MAX_WS_PAYLOAD_BYTES closes the socket with 1009: that is a fine answer too.
        if (s.closed && FINE_CLOSES.has(s.closed.code)) s = await open();
        const my = id++;
        s.send(JSON.stringify({ id: my, method: "subscription", params: { path: "room.onMessage", input } }));
        await s.until(() => s.json().some((f) => f.id === my) || s.closed !== undefined, 10_000, `answer to ${my}`);
        s.send(JSON.stringify({ id: my, method: "subscription.stop" }));
        return s.closed === undefined || FINE_CLOSES.has(s.closed.code);
      }),
      { numRuns: FUZZ_RUNS, seed: FUZZ_SEED, endOnFailure: true },
    );
    await sleep(300);
    const bad = all.flatMap((x) => x.json()).filter((f) => ((f.error as { data?: { httpStatus?: number } } | undefined)?.data?.httpStatus ?? 0) >= 500);
    for (const x of all) x.close();
    expect(bad).toEqual([]);
  });

  it("the legacy socket: arbitrary frames are stored as messages or refused by a clean close", async () => {
    announce("legacy socket");
    const frame = fc.oneof(
      { weight: 4, arbitrary: oddString },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
      { weight: 1, arbitrary: anyJson.map((j) => JSON.stringify(j) ?? "") },
    );
    // A room of its own: the fuzzing above may have removed the others.
    const r = await fetch(`${srv.url}/trpc/room.create`, {
      method: "POST",
      headers: { ...authHeader("user"), "Content-Type": "application/json" },
      body: JSON.stringify({ name: "legacy fuzz", maxMembers: 5 }),
    });
    const target = ((await r.json()) as { result: { data: { id: string } } }).result.data.id;
    const sockets: RawSocket[] = [];
    const open = async () => {
      const s = legacySocket(srv.wsUrl, target, user.accessToken);
      sockets.push(s);
      await s.opened;
      await sleep(100);
      return s;
    };
    let s = await open();
    const lastSent = new Map<RawSocket, string[]>();
    await fc.assert(
      fc.asyncProperty(frame, async (f) => {
        if (s.closed) s = await open();
        lastSent.set(s, [...(lastSent.get(s) ?? []), typeof f === "string" ? f.slice(0, 200) : `<binary ${f.length}>`].slice(-3));
        s.send(f);
        await sleep(2);
        return true;
      }),
      { numRuns: FUZZ_RUNS, seed: FUZZ_SEED, endOnFailure: true },
    );
    await sleep(500);
    const bad = sockets
      .filter((x) => x.closed && !FINE_CLOSES.has(x.closed.code))
      .map((x) => `${JSON.stringify(x.closed)} after sending ${JSON.stringify(lastSent.get(x))}`);
    const notices = sockets.flatMap((x) => x.frames).filter((f) => f.includes("server error"));
    for (const x of sockets) x.close();
    console.log(`[fuzz] legacy socket: ${FUZZ_RUNS} frames over ${sockets.length} sockets`);
    expect(bad).toEqual([]);
    expect(notices).toEqual([]);
  });
});

describe("found by fuzzing: strings with unpaired UTF-16 surrogates", () => {
  /** Refused as bad input, or stored exactly as sent: never a 500, never silently altered. */
  async function call(path: string, input: unknown): Promise<{ status: number; data: Record<string, unknown> | undefined; text: string }> {
    const a = await send("POST", `/trpc/${path}`, { ...authHeader("user"), "Content-Type": "application/json" }, JSON.stringify(input));
    let data: Record<string, unknown> | undefined;
    try {
      data = (JSON.parse(a.text) as { result?: { data?: Record<string, unknown> } }).result?.data;
    } catch {
      data = undefined;
    }
    return { status: a.status, data, text: a.text };
  }
  const roomFor = async () => {
    const r = await call("room.create", { name: "surrogates", maxMembers: 5 });
    return String(r.data?.id);
  };

  it.each<[string, string]>([
    ["two lone low surrogates", "?58\udcc5\udfa6"],
    ["a lone high surrogate", "a\ud800b"],
    ["a reversed pair", "a\udc00\ud800b"],
  ])("room.create name, room.send text and clientMsgId, register email with %s: 400 or stored exactly", async (_label, odd) => {
    const roomId = await roomFor();
    const results = [
      ["name", await call("room.create", { name: odd, maxMembers: 3 }), (d: Record<string, unknown>) => d.name],
      ["text", await call("room.send", { roomId, text: `x${odd}` }), (d: Record<string, unknown>) => d.text],
      ["clientMsgId", await call("room.send", { roomId, text: "y", clientMsgId: `c${odd}` }), (d: Record<string, unknown>) => d.clientMsgId],
      ["email", await call("auth.register", { login: `s${Date.now() % 1e9}${Math.floor(Math.random() * 1e3)}`, email: `a${odd}@x.y`, password: "long-enough-pw" }), (d: Record<string, unknown>) => (d.user as Record<string, unknown> | undefined)?.email],
    ] as const;
    const expected = { name: odd, text: `x${odd}`, clientMsgId: `c${odd}`, email: `a${odd}@x.y`.toLowerCase() };
    const wrong: string[] = [];
    for (const [field, r, pick] of results) {
      if (r.status === 400) {
        if (!r.text.includes(field)) wrong.push(`${field}: 400 without naming the field: ${r.text.slice(0, 150)}`);
        continue;
      }
      if (r.status !== 200 || !r.data) wrong.push(`${field}: ${r.status} ${r.text.slice(0, 150)}`);
      else if (pick(r.data) !== expected[field]) wrong.push(`${field}: stored ${JSON.stringify(pick(r.data))} for ${JSON.stringify(expected[field])}`);
    }
    expect(wrong).toEqual([]);
  });

  it("two clientMsgIds that differ only in an unpaired surrogate are two messages (or refused), never a 500", async () => {
    const roomId = await roomFor();
    const a = await call("room.send", { roomId, text: "first", clientMsgId: "m\udd04" });
    const b = await call("room.send", { roomId, text: "second", clientMsgId: "m\udd05" });
    for (const r of [a, b]) expect([200, 400], r.text.slice(0, 200)).toContain(r.status);
    if (a.status === 200 && b.status === 200) expect([a.data?.text, b.data?.text]).toEqual(["first", "second"]);
  });
});

describe("after the fuzzing", () => {
  it("logged no error, left no unhandled rejection, and the server still serves", async () => {
    await sleep(300);
    for (const l of errorLogs) console.log(`[fuzz] server error log: ${l}`);
    expect(errorLogs).toEqual([]);
    expect(unhandled).toEqual([]);
    expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
    const a = await send("GET", "/trpc/auth.me", authHeader("user"));
    expect(a.status).toBe(200);
  });
});
