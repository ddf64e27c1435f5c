import type { IncomingMessage } from "node:http";
import net from "node:net";

const normalize = (ip: string): string => (ip.startsWith("::ffff:") && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip);

function isLoopback(ip: string): boolean {
  return ip === "::1" || ip.startsWith("127.");
}

/**
 * The client's address: the socket's peer, unless that peer is a configured trusted proxy, in
 * which case the right-most X-Forwarded-For entry that is not itself a trusted proxy. A client
 * that talks to us directly cannot move its limits by sending the header.
 */
export function clientIp(req: IncomingMessage, trustProxy: readonly string[]): string {
  const peer = normalize(req.socket.remoteAddress ?? "unknown");
  const trusted = (ip: string) => trustProxy.includes(ip) || (trustProxy.includes("loopback") && isLoopback(ip));
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
