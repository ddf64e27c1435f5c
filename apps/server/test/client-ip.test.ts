import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/index.js";
import { clientIp, isTrustedProxy } from "../src/gateway/client-ip.js";
import { startTestServer, type TestServer } from "./harness.js";

const req = (peer: string, xff?: string) =>
  ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { "x-forwarded-for": xff } }) as unknown as IncomingMessage;

describe("TRUST_PROXY (proxy-addr)", () => {
  it("believes X-Forwarded-For only from a trusted peer: the right-most untrusted hop, over IPv4 and IPv6", () => {
    expect(clientIp(req("203.0.113.5", "198.51.100.1"), ["loopback"])).toBe("203.0.113.5");
    expect(clientIp(req("127.0.0.1", "198.51.100.1"), ["loopback"])).toBe("198.51.100.1");
    expect(clientIp(req("::1", "2001:db8::7"), ["loopback"])).toBe("2001:db8::7");
    // A client-prepended entry does not help: the right-most untrusted hop wins.
    expect(clientIp(req("127.0.0.1", "1.1.1.1, 198.51.100.1"), ["loopback"])).toBe("198.51.100.1");
    // A chain of trusted proxies (an IPv6 CIDR) is walked through.
    expect(clientIp(req("fd00::2", "2001:db8::7, fd00::1"), ["fd00::/8"])).toBe("2001:db8::7");
    expect(clientIp(req("10.1.2.3", "2001:db8::7, 10.9.9.9"), ["private"])).toBe("2001:db8::7");
    expect(clientIp(req("10.1.2.3", "2001:db8::7, 10.9.9.9"), ["10.0.0.0/255.0.0.0"])).toBe("2001:db8::7");
    // Not a trusted peer: the socket, in IPv4 form when IPv4-mapped.
    expect(clientIp(req("::ffff:203.0.113.5", "198.51.100.1"), ["fd00::/8"])).toBe("203.0.113.5");
    // An IPv4 entry covers its IPv4-mapped IPv6 form.
    expect(clientIp(req("::ffff:127.0.0.1", "198.51.100.1"), ["127.0.0.1"])).toBe("198.51.100.1");
    // Garbage entries are skipped; all trusted: the left-most.
    expect(clientIp(req("127.0.0.1", "198.51.100.1, not-an-ip"), ["loopback"])).toBe("198.51.100.1");
    expect(clientIp(req("127.0.0.1", "10.0.0.1, 127.0.0.2"), ["loopback", "private"])).toBe("10.0.0.1");
    // No TRUST_PROXY: the header is ignored.
    expect(clientIp(req("127.0.0.1", "198.51.100.1"), [])).toBe("127.0.0.1");
    expect(isTrustedProxy("fe80::1", ["linklocal"])).toBe(true);
    expect(isTrustedProxy("2001:db8::1", ["private"])).toBe(false);
  });

  it("a malformed TRUST_PROXY entry is a configuration error naming it", () => {
    expect(() => loadConfig({ TRUST_PROXY: "loopback,10.0.0.0/33" })).toThrow(/TRUST_PROXY: "10\.0\.0\.0\/33"/);
    expect(() => loadConfig({ TRUST_PROXY: "privat" })).toThrow(/TRUST_PROXY: "privat"/);
    expect(loadConfig({ TRUST_PROXY: "loopback, private, linklocal, fd00::/8, 2001:db8::1" }).trustProxy).toHaveLength(5);
  });
});

describe("a real server behind an IPv6 proxy (TRUST_PROXY=::1)", () => {
  let srv: TestServer;
  const lines: Array<Record<string, unknown>> = [];
  beforeAll(async () => {
    srv = await startTestServer({
      env: { HOST: "::", TRUST_PROXY: "::1", RATE_LIMIT_PER_IP: "3" },
      onLog: (l) => lines.push(JSON.parse(l) as Record<string, unknown>),
    });
  });
  afterAll(async () => {
    await srv?.stop();
  });
  const v6 = () => `http://[::1]:${srv.port}`;
  const v4 = () => `http://127.0.0.1:${srv.port}`;
  const ipOf = (requestId: string) => lines.find((l) => l.msg === "request" && l.requestId === requestId)?.ip;

  it("takes the client from X-Forwarded-For when the peer is ::1, not when it is 127.0.0.1, and limits each client alone", async () => {
    const ask = async (base: string, xff: string, id: string) => {
      const res = await fetch(`${base}/api/v1/status`, { headers: { "X-Forwarded-For": xff, "X-Request-Id": id } });
      await res.arrayBuffer();
      return res.status;
    };
    expect(await ask(v6(), "2001:db8::7", "via-v6")).toBe(200);
    expect(await ask(v4(), "2001:db8::7", "via-v4")).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect(ipOf("via-v6")).toBe("2001:db8::7");
    expect(ipOf("via-v4")).toBe("127.0.0.1");
    // RATE_LIMIT_PER_IP=3: the forwarded client's budget is its own.
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await ask(v6(), "2001:db8::8", `b${i}`));
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(await ask(v6(), "2001:db8::9", "other")).toBe(200);
  });
});
