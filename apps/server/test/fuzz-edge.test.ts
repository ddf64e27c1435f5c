import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOPOLOGY } from "./harness.js";
import { clientFrame, encodeHttpCase, encodeUpgrade, httpCase, serverFrames, upgradeCase, type CaseContext } from "./helpers/edge-fuzz.js";
import { startEdgeTargets, type EdgeTarget, type EdgeTargets } from "./helpers/edge-targets.js";
import { announce, FUZZ_RUNS, FUZZ_SEED } from "./helpers/fuzz.js";
import { rawRequest, rawUpgrade, requestBytes, type RawAnswer } from "./helpers/raw-http.js";
import { registerWire, trpcCall, must } from "./helpers/wire.js";

/**
 * Bad input at the edge of every role: requests fetch cannot send (written byte by byte), odd
 * upgrades and frames. Every answer is a 2xx/4xx with a message, never a 5xx and never an
 * error-level log line; the seeded fuzz below covers what the named cases do not.
 *
 * The fuzz runs at a quick size in `npm test`; FUZZ_RUNS=2000 (say) runs it at full size, and
 * FUZZ_SEED replays a run (both are printed). It runs on PGlite and PostgreSQL against the
 * all-in-one server and a gateway in front of it, and through the split deployment (gateway,
 * auth and a chat replica, each fuzzed directly).
 */

const MAX_BODY_BYTES = 4096;
/** Requests per role: quick unless FUZZ_RUNS asks for more. */
const HTTP_RUNS = process.env.FUZZ_RUNS ? FUZZ_RUNS : 150;
const UPGRADE_RUNS = Math.max(1, Math.round(HTTP_RUNS / 3));

let edge: EdgeTargets;
let targets: EdgeTarget[];
let fuzzUser: { token: string; roomId: string };
const unhandled: string[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(String(reason instanceof Error ? reason.stack : reason));

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  // The in-process roles share this process: a crash of theirs (a listener-less ws error) lands here.
  process.on("uncaughtException", onUnhandled);
  edge = await startEdgeTargets({ MAX_BODY_BYTES: String(MAX_BODY_BYTES) });
  targets = edge.targets;
  const session = await registerWire(edge.front.url, "edge");
  const room = must(await trpcCall<{ id: string }>(edge.front.url, "room.create", { name: "edge fuzz", maxMembers: 10 }, { token: session.accessToken }), "room");
  fuzzUser = { token: session.accessToken, roomId: room.id };
});
afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  process.off("uncaughtException", onUnhandled);
  await edge?.stop();
});

/** Runs fn and returns the error-level lines any process wrote meanwhile. */
async function errorsDuring(fn: () => Promise<void>): Promise<string[]> {
  const before = new Set(edge.errorLines());
  await fn();
  await new Promise((r) => setTimeout(r, 100));
  return edge.errorLines().filter((l) => !before.has(l));
}

const host = (t: EdgeTarget) => `127.0.0.1:${t.port}`;
const get = (t: EdgeTarget, method: string, target: string, headers: Array<[string, string]> = []) =>
  rawRequest(t.port, requestBytes(method, target, [["Host", host(t)], ...headers]), { head: method === "HEAD" });

/** The message of a JSON error body: the envelope's, tRPC's, or a plain one. */
function messageOf(a: RawAnswer): string {
  try {
    const b = JSON.parse(a.body) as { message?: unknown; error?: unknown };
    if (typeof b.message === "string") return b.message;
    if (typeof b.error === "string") return b.error;
    const e = b.error as { message?: unknown } | undefined;
    return typeof e?.message === "string" ? e.message : "";
  } catch {
    return "";
  }
}

const show = (t: EdgeTarget, what: string, a: RawAnswer) => `${t.role} ${what} -> ${a.raw.slice(0, 400)}`;

describe("bad input found on main", () => {
  it("a malformed percent-escape in a static path answers 400, and logs no error", async () => {
    const wrong: string[] = [];
    const errors = await errorsDuring(async () => {
      for (const t of targets.filter((x) => x.servesStatic)) {
        for (const [method, path] of [
          ["GET", "/%E0%A4%A"],
          ["GET", "/r/%0"],
          ["GET", "/assets/%ZZ"],
          ["HEAD", "/%E0%A4%A"],
          ["HEAD", "/r/%0"],
          ["GET", "/r/abc%"],
        ] as const) {
          const a = await get(t, method, path);
          if (a.statuses[0] !== 400 || (method === "GET" && !/percent|escape|path/i.test(messageOf(a)))) wrong.push(show(t, `${method} ${path}`, a));
        }
        // What the client routes still load.
        for (const path of ["/", "/r/AAAAAAAAAAAAAAAA", "/assets/app-1234.js", "/r/%41bc"]) {
          const a = await get(t, "GET", path);
          if (a.statuses[0] !== 200) wrong.push(show(t, `GET ${path}`, a));
        }
      }
    });
    expect(wrong).toEqual([]);
    expect(errors).toEqual([]);
  });
});

describe("methods", () => {
  const TRPC_ALLOW = ["GET", "HEAD", "POST", "OPTIONS"];
  const allowOf = (a: RawAnswer) => (a.headers.allow ?? "").split(",").map((m) => m.trim()).filter(Boolean).sort();

  it("TRACE, CONNECT, PROPFIND and the like on /trpc answer 405 with Allow, on every role", async () => {
    const wrong: string[] = [];
    const errors = await errorsDuring(async () => {
      for (const t of targets) {
        for (const method of ["TRACE", "CONNECT", "PROPFIND", "PUT", "PATCH", "DELETE", "MKCOL"]) {
          for (const path of ["/trpc/room.list", "/trpc/auth.login", "/trpc/room.list,auth.me?batch=1"]) {
            const a = await get(t, method, path);
            const ok = a.statuses[0] === 405 && allowOf(a).join() === [...TRPC_ALLOW].sort().join() && messageOf(a).includes(method);
            if (!ok) wrong.push(show(t, `${method} ${path}`, a));
          }
        }
      }
    });
    expect(wrong).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("what /trpc serves still works: GET, POST, HEAD and the preflight", async () => {
    for (const t of targets) {
      expect((await get(t, "GET", "/trpc/auth.me")).statuses, t.role).toEqual([401]);
      const login = await rawRequest(
        t.port,
        requestBytes("POST", "/trpc/auth.login", [["Host", host(t)], ["Content-Type", "application/json"], ["Content-Length", "2"]], "{}"),
      );
      expect(login.statuses, t.role).toEqual([400]);
      expect((await get(t, "HEAD", "/trpc/auth.me")).statuses[0], t.role).toBeLessThan(500);
      expect((await get(t, "OPTIONS", "/trpc/auth.me")).statuses, t.role).toEqual([204]);
    }
  });

  it("CONNECT to any target answers 405 (this is no proxy), never a silently dropped socket", async () => {
    const wrong: string[] = [];
    for (const t of targets) {
      for (const where of ["/", "/api/v1/status", "example.com:443", `127.0.0.1:${t.port}`]) {
        const a = await get(t, "CONNECT", where);
        if (a.statuses[0] !== 405 || !a.headers.allow || !messageOf(a).includes("CONNECT")) wrong.push(show(t, `CONNECT ${where}`, a));
      }
    }
    expect(wrong).toEqual([]);
  });

  it("a method the parser does not know (TRACK, lowercase) answers 405 with Allow; garbage answers 400; both say why", async () => {
    const wrong: string[] = [];
    const errors = await errorsDuring(async () => {
      for (const t of targets) {
        for (const [method, status] of [
          ["TRACK", 405],
          ["get", 405],
          ["Post", 405],
          ["G\u0000T", 400],
          ["GE(T", 400],
        ] as const) {
          const a = await get(t, method, "/trpc/room.list");
          if (a.statuses[0] !== status || messageOf(a) === "" || (status === 405 && !a.headers.allow)) wrong.push(show(t, JSON.stringify(method), a));
        }
      }
    });
    expect(wrong).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("a request the parser refuses says why in the body (bad version, bad header, missing Host)", async () => {
    const wrong: string[] = [];
    for (const t of targets) {
      const cases: Array<[string, Buffer]> = [
        ["HTTP/9.9", requestBytes("GET", "/healthz", [["Host", host(t)]], "", "HTTP/9.9")],
        ["control char in a header", requestBytes("GET", "/healthz", [["Host", host(t)], ["X-Odd", "a\u0001b"]])],
        ["two Content-Lengths", requestBytes("POST", "/trpc/auth.login", [["Host", host(t)], ["Content-Length", "1"], ["Content-Length", "2"]], "{}")],
        ["no Host", requestBytes("GET", "/healthz", [])],
      ];
      for (const [what, bytes] of cases) {
        const a = await rawRequest(t.port, bytes);
        if (a.statuses[0] !== 400 || messageOf(a) === "") wrong.push(show(t, what, a));
      }
    }
    expect(wrong).toEqual([]);
  });

  it("the /api/v1 adapter keeps its own 405s, with each route's Allow", async () => {
    for (const t of targets.filter((x) => x.role !== "chat")) {
      const a = await get(t, "TRACE", "/api/v1/status");
      expect(a.statuses, t.role).toEqual([405]);
      expect(a.headers.allow, t.role).toBe("GET");
    }
  });

  it("subscriptions over plain HTTP still answer 405", async () => {
    for (const t of targets.filter((x) => x.role !== "auth")) {
      expect((await get(t, "GET", "/trpc/room.onMessage")).statuses, t.role).toEqual([405]);
    }
  });
});

describe("the Host header", () => {
  const BAD_HOSTS = ["a b[", "", "[", "x:99999", "exa mple.com", "%", "a\\b"];
  const upgrade = (t: EdgeTarget, path: string, hostValue: string | undefined) =>
    rawRequest(
      t.port,
      requestBytes("GET", path, [
        ...(hostValue === undefined ? [] : ([["Host", hostValue]] as Array<[string, string]>)),
        ["Connection", "Upgrade"],
        ["Upgrade", "websocket"],
        ["Sec-WebSocket-Version", "13"],
        ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
      ]),
      { headOnly: true },
    );

  it("a WebSocket upgrade with an unparsable or missing Host answers 400 before tRPC sees it, and logs no error", async () => {
    const wrong: string[] = [];
    const errors = await errorsDuring(async () => {
      for (const t of targets) {
        for (const h of [...BAD_HOSTS, undefined]) {
          for (const path of ["/trpc", "/trpc?connectionParams=1", "/api/v1/rooms/ws?room=AAAAAAAAAAAAAAAA&token=x"]) {
            const a = await upgrade(t, path, h);
            if (a.statuses[0] !== 400 || !/host/i.test(messageOf(a))) wrong.push(show(t, `upgrade ${path} Host ${JSON.stringify(h)}`, a));
          }
        }
      }
    });
    expect(wrong).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("plain requests with such a Host answer 400 as well (RFC 9112 3.2), on every path", async () => {
    const wrong: string[] = [];
    const errors = await errorsDuring(async () => {
      for (const t of targets) {
        for (const h of BAD_HOSTS) {
          for (const path of ["/trpc/room.list", "/api/v1/status", "/healthz", "/"]) {
            const a = await rawRequest(t.port, requestBytes("GET", path, [["Host", h]]));
            if (a.statuses[0] !== 400 || !/host/i.test(messageOf(a))) wrong.push(show(t, `GET ${path} Host ${JSON.stringify(h)}`, a));
          }
        }
      }
    });
    expect(wrong).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("ordinary Hosts still work: a name, an address, IPv6, no port", async () => {
    for (const t of targets.filter((x) => x.servesSockets)) {
      for (const h of [host(t), "localhost", `[::1]:${t.port}`, "chat.example"]) {
        expect((await upgrade(t, "/trpc", h)).statuses, `${t.role} ${h}`).toEqual([101]);
      }
    }
    for (const t of targets) expect((await rawRequest(t.port, requestBytes("GET", "/healthz", [["Host", "chat.example"]]))).statuses).toEqual([200]);
  });
});

describe("declared body size", () => {
  it("a Content-Length past MAX_BODY_BYTES answers 413 at once, before the body is sent, on /trpc and /api/v1", async () => {
    const wrong: string[] = [];
    for (const t of targets) {
      for (const path of ["/trpc/auth.login", "/trpc/room.create", "/trpc/auth.login,auth.register?batch=1", "/api/v1/auth/login"]) {
        // Headers and one byte of a body that never comes: the answer must not wait for it.
        const bytes = requestBytes("POST", path, [["Host", host(t)], ["Content-Type", "application/json"], ["Content-Length", "99999999"]], "{");
        const a = await rawRequest(t.port, bytes, { timeoutMs: 15_000 });
        if (a.statuses[0] !== 413 || !/at most 4096 bytes/.test(messageOf(a))) wrong.push(show(t, `POST ${path}`, a));
      }
    }
    expect(wrong).toEqual([]);
  });

  it("a chunked body that grows past MAX_BODY_BYTES answers 413 in the shape the path's clients read", async () => {
    const wrong: string[] = [];
    for (const t of targets) {
      for (const path of ["/trpc/auth.login", "/trpc/auth.login,auth.register?batch=1", "/api/v1/auth/login"]) {
        // No Content-Length: the limit is met while reading.
        const chunk = Buffer.alloc(MAX_BODY_BYTES + 100, 0x20);
        const body = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n0\r\n\r\n")]);
        const a = await rawRequest(t.port, requestBytes("POST", path, [["Host", host(t)], ["Content-Type", "application/json"], ["Transfer-Encoding", "chunked"]], body));
        let shaped = false;
        try {
          // tRPC answers a batch with one error per call, the edge with one for the whole batch:
          // httpBatchLink reads either.
          type TrpcError = { error?: { data?: { httpStatus?: unknown } } };
          const b = JSON.parse(a.body) as (TrpcError & { status?: unknown }) | TrpcError[];
          const errors: TrpcError[] = Array.isArray(b) ? b : [b];
          shaped = path.startsWith("/trpc") ? errors.every((e) => e.error?.data?.httpStatus === 413) : !Array.isArray(b) && b.status === "error";
        } catch {
          shaped = false;
        }
        if (a.statuses[0] !== 413 || !shaped) wrong.push(`${show(t, `POST ${path} (chunked)`, a)} body ${a.body}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("a body within the limit is still read", async () => {
    const body = JSON.stringify({ email: "nobody@example.test", password: "x".repeat(3000) });
    for (const t of targets) {
      const a = await rawRequest(
        t.port,
        requestBytes("POST", "/trpc/auth.login", [["Host", host(t)], ["Content-Type", "application/json"], ["Content-Length", String(body.length)]], body),
      );
      expect(a.statuses[0], t.role).toBeGreaterThanOrEqual(400);
      expect(a.statuses[0], t.role).not.toBe(413);
      expect(a.statuses[0], t.role).toBeLessThan(500);
    }
  });
});

describe("found by fuzzing", () => {
  it("a malformed percent-escape in a /trpc path answers 400 on every role (the gateway decoded it to route it: 500)", async () => {
    const wrong: string[] = [];
    const errors = await errorsDuring(async () => {
      for (const t of targets) {
        for (const [method, path] of [
          ["GET", "/trpc/%ZZ"],
          ["GET", "/trpc/room.onMes%FFsage"],
          ["POST", "/trpc/room.create/%C0%AF"],
          ["GET", "/trpc/auth.me,%E0%A4%A?batch=1"],
        ] as const) {
          const a = await rawRequest(t.port, requestBytes(method, path, [["Host", host(t)], ["Content-Type", "application/json"], ["Content-Length", "2"]], method === "POST" ? "{}" : ""));
          if (a.statuses[0] !== 400 || !/percent-escape/.test(messageOf(a))) wrong.push(show(t, `${method} ${path}`, a));
        }
      }
    });
    expect(wrong).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("a chunked body with a malformed chunk is answered with a 4xx and a message, not a dropped connection", async () => {
    const wrong: string[] = [];
    for (const t of targets) {
      for (const [method, path] of [
        ["POST", "/trpc/auth.login"],
        ["POST", "/api/v1/auth/login"],
        ["HEAD", "/api/v1/status"],
      ] as const) {
        const bytes = requestBytes(method, path, [["Host", host(t)], ["Content-Type", "application/json"], ["Transfer-Encoding", "chunked"]], "zz\r\n{}\r\n");
        const a = await rawRequest(t.port, bytes, { head: method === "HEAD" });
        // A handler that reads the body meets the bad chunk: 400. One that answers without reading
        // it (HEAD on a GET-only route: 405 at once on a service, after the async per-IP check at
        // the edge) may answer first; either way the client hears why.
        const status = a.statuses[0] ?? 0;
        const expected = method === "POST" ? status === 400 : status >= 400 && status < 500;
        if (!expected || (method !== "HEAD" && messageOf(a) === "")) wrong.push(show(t, `${method} ${path}`, a));
      }
    }
    expect(wrong).toEqual([]);
  });

  it("an Expect other than 100-continue answers 417 with a message (Node's own 417 has no body)", async () => {
    const wrong: string[] = [];
    for (const t of targets) {
      for (const path of ["/trpc/room.list", "/api/v1/status", "/"]) {
        const a = await get(t, "GET", path, [["Expect", "garbage"]]);
        if (a.statuses[0] !== 417 || !/100-continue/.test(messageOf(a))) wrong.push(show(t, `GET ${path}`, a));
      }
    }
    expect(wrong).toEqual([]);
  });

  it("a malformed frame after the gateway's own bad-token refusal of a legacy socket does not crash the gateway", async () => {
    for (const t of targets.filter((x) => x.role === "gateway")) {
      const upgrade = requestBytes("GET", "/api/v1/rooms/ws?room=AAAAAAAAAAAAAAAA&token=garbage", [
        ["Host", host(t)],
        ["Connection", "Upgrade"],
        ["Upgrade", "websocket"],
        ["Sec-WebSocket-Version", "13"],
        ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
      ]);
      // A frame without FIN on a control opcode, and one with an undefined opcode: ws raises an error on each.
      const a = await rawUpgrade(t.port, upgrade, [clientFrame(9, Buffer.from("x"), { fin: false }), clientFrame(3, Buffer.from("y"))]);
      expect(a.statuses, t.role).toEqual([101]);
      await new Promise((r) => setTimeout(r, 200));
      expect((await fetch(`${t.url}/healthz`)).status, t.role).toBe(200);
    }
    // In process the crash is an uncaught exception (split: the gateway process is gone, above).
    expect(unhandled.filter((u) => u.includes("WebSocket frame"))).toEqual([]);
  });
});

/** A 4xx says what was wrong: a JSON message, or at least some text (ws's handshake refusals are plain text). */
function saysWhy(a: RawAnswer, isHead: boolean): boolean {
  const status = a.statuses[0] ?? 0;
  if (status < 400 || isHead) return true;
  return messageOf(a) !== "" || a.body.trim() !== "";
}

/** Counts of each status, for the summary line. */
function tally(into: Map<number | string, number>, key: number | string) {
  into.set(key, (into.get(key) ?? 0) + 1);
}
const summary = (m: Map<number | string, number>) => [...m.entries()].sort((a, b) => Number(b[1]) - Number(a[1])).map(([k, n]) => `${k}×${n}`).join(" ");

describe(`fuzzing the edge (seed ${FUZZ_SEED}; ${HTTP_RUNS} requests and ${UPGRADE_RUNS} upgrades per role)`, () => {
  const ctxFor = (t: EdgeTarget): CaseContext => ({ port: t.port, token: fuzzUser.token, roomId: fuzzUser.roomId, maxBodyBytes: MAX_BODY_BYTES });
  const roles = TOPOLOGY === "split" ? ["gateway", "auth", "chat"] : ["all", "gateway"];

  it.each(roles)("%s: raw requests (methods, targets, headers, framing, bodies) answer 2xx/4xx and say why", async (role) => {
    const t = targets.find((x) => x.role === role) as EdgeTarget;
    announce(`edge HTTP ${role}`, HTTP_RUNS);
    const failures: string[] = [];
    const statuses = new Map<number | string, number>();
    await fc.assert(
      fc.asyncProperty(httpCase, async (c) => {
        const e = encodeHttpCase(c, ctxFor(t));
        const a = await rawRequest(t.port, e.bytes, { head: e.isHead, end: e.halfClose, timeoutMs: 10_000 });
        for (const st of a.statuses) tally(statuses, st);
        if (a.statuses.length === 0) tally(statuses, e.mayGoUnanswered ? "closed(allowed)" : "closed");
        let problem = "";
        if (a.statuses.some((st) => st >= 500 || st < 100)) problem = `answered ${a.statuses.join(",")}`;
        else if (a.statuses.length === 0 && !e.mayGoUnanswered) problem = a.timedOut ? "no answer in 10 s" : "closed without an answer";
        else if (!saysWhy(a, e.isHead)) problem = "a 4xx without a message";
        if (problem && failures.length < 20) failures.push(`${problem}: ${e.label}\n    -> ${a.raw.slice(0, 300).replace(/\r\n/g, " | ")}`);
        return true;
      }),
      { numRuns: HTTP_RUNS, seed: FUZZ_SEED },
    );
    console.log(`[fuzz] edge HTTP ${role}: ${HTTP_RUNS} requests: ${summary(statuses)}`);
    expect(failures).toEqual([]);
  });

  it.each(roles)("%s: WebSocket upgrades with odd headers, then odd frames, answer below 500 and never close with 1011", async (role) => {
    const t = targets.find((x) => x.role === role) as EdgeTarget;
    announce(`edge upgrades ${role}`, UPGRADE_RUNS);
    const failures: string[] = [];
    const statuses = new Map<number | string, number>();
    let frames = 0;
    await fc.assert(
      fc.asyncProperty(upgradeCase, async (c) => {
        const ctx = ctxFor(t);
        const u = encodeUpgrade(c, ctx);
        const sent = c.frames.map((f) => f(ctx));
        const a = await rawUpgrade(t.port, u.bytes, sent);
        tally(statuses, a.statuses[0] ?? "closed");
        const problems: string[] = [];
        if (a.statuses.length === 0) problems.push(a.timedOut ? "no answer in 10 s" : "closed without an answer");
        if (a.statuses.some((st) => st >= 500 || st < 100)) problems.push(`answered ${a.statuses.join(",")}`);
        if (a.statuses[0] === 101) {
          frames += sent.length;
          const got = serverFrames(a.after);
          if (got.closeCode === 1011) problems.push("closed with 1011");
          for (const text of got.texts) {
            if (text.includes("server error")) problems.push(`legacy notice ${text.slice(0, 200)}`);
            if (/"httpStatus":5\d\d/.test(text)) problems.push(`tRPC answer ${text.slice(0, 200)}`);
          }
        } else if (!saysWhy(a, false)) {
          problems.push("a 4xx without a message");
        }
        if (problems.length && failures.length < 20) {
          failures.push(`${problems.join("; ")}: ${u.label} + ${sent.length} frames\n    -> ${a.raw.slice(0, 300).replace(/\r\n/g, " | ")}`);
        }
        return true;
      }),
      { numRuns: UPGRADE_RUNS, seed: FUZZ_SEED },
    );
    console.log(`[fuzz] edge upgrades ${role}: ${UPGRADE_RUNS} upgrades, ${frames} frames after a 101: ${summary(statuses)}`);
    expect(failures).toEqual([]);
  });
});

describe("after the bad input", () => {
  it("no process logged an error-level line, none left an unhandled rejection, and every role still serves", async () => {
    await new Promise((r) => setTimeout(r, 300));
    const errors = edge.errorLines();
    for (const l of errors.slice(0, 20)) console.log(`[fuzz] error log: ${l.slice(0, 1500)}`);
    expect(errors).toEqual([]);
    expect(unhandled).toEqual([]);
    for (const t of targets) expect((await fetch(`${t.url}/healthz`)).status, t.role).toBe(200);
    const me = await trpcCall(edge.front.url, "auth.me", undefined, { token: fuzzUser.token, kind: "query" });
    expect(me.status).toBe(200);
  });
});
