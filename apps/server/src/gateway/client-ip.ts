import type { IncomingMessage } from "node:http";
import net from "node:net";

const normalize = (ip: string): string => (ip.startsWith("::ffff:") && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip);

function isLoopback(ip: string): boolean {
  return ip === "::1" || ip.startsWith("127.");
}

/** RFC 1918 and unique-local addresses: the networks containers and internal services live on. */
function isPrivate(ip: string): boolean {
  if (net.isIPv4(ip)) {
    const [a = 0, b = 0] = ip.split(".").map(Number);
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  return /^f[cd][0-9a-f]{2}:/i.test(ip);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split("/");
  const bits = Number(bitsText);
  if (!base || !net.isIPv4(base) || !net.isIPv4(ip) || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const toInt = (a: string) => a.split(".").reduce((n, p) => (n << 8) + Number(p), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (toInt(ip) & mask) === (toInt(base) & mask);
}

/** TRUST_PROXY entries: addresses, IPv4 CIDR blocks, or the words loopback and private. */
export function isTrustedProxy(ip: string, trustProxy: readonly string[]): boolean {
  return trustProxy.some((t) =>
    t === "loopback" ? isLoopback(ip) : t === "private" ? isPrivate(ip) : t.includes("/") ? inCidr(ip, t) : t === ip,
  );
}

/**
 * The client's address: the socket's peer, unless that peer is a configured trusted proxy, in
 * which case the right-most X-Forwarded-For entry that is not itself a trusted proxy. A client
 * that talks to us directly cannot move its limits by sending the header.
 */
export function clientIp(req: IncomingMessage, trustProxy: readonly string[]): string {
  const peer = normalize(req.socket.remoteAddress ?? "unknown");
  const trusted = (ip: string) => isTrustedProxy(ip, trustProxy);
  if (trustProxy.length === 0 || !trusted(peer)) return peer;
  const header = req.headers["x-forwarded-for"];
  const raw = Array.isArray(header) ? header.join(",") : (header ?? "");
  const hops = raw
    .split(",")
    .map((s) => normalize(s.trim()))
    .filter((s) => net.isIP(s) !== 0);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    if (!trusted(hop)) return hop;
  }
  return hops[0] ?? peer;
}
