import type { IncomingMessage } from "node:http";
import net from "node:net";
import proxyaddr from "proxy-addr";

/**
 * TRUST_PROXY entries: IPv4 or IPv6 addresses and CIDR blocks (10.0.0.0/8, fd00::/8, or
 * 10.0.0.0/255.0.0.0), or the words `loopback` (127.0.0.0/8, ::1), `private` (10/8, 172.16/12,
 * 192.168/16, fc00::/7; proxy-addr's `uniquelocal`, also accepted), `linklocal`
 * (169.254.0.0/16, fe80::/10). An IPv4 entry matches the IPv4-mapped IPv6 form of its addresses.
 */
function toProxyAddr(entry: string): string {
  return entry === "private" ? "uniquelocal" : entry;
}

type Trust = (addr: string, i: number) => boolean;
const compiled = new WeakMap<readonly string[], Trust>();

/** The TRUST_PROXY list as proxy-addr's matcher; throws a TypeError naming a malformed entry. */
export function compileTrustProxy(trustProxy: readonly string[]): Trust {
  return proxyaddr.compile(trustProxy.map(toProxyAddr));
}

/** The first entry of TRUST_PROXY that proxy-addr cannot read, and why; undefined when all are fine. */
export function trustProxyProblem(trustProxy: readonly string[]): string | undefined {
  for (const entry of trustProxy) {
    try {
      compileTrustProxy([entry]);
    } catch (e) {
      return `${JSON.stringify(entry)} is not an address, a CIDR block, loopback, private or linklocal (${e instanceof Error ? e.message : String(e)})`;
    }
  }
  return undefined;
}

function matcher(trustProxy: readonly string[]): Trust {
  let t = compiled.get(trustProxy);
  if (!t) compiled.set(trustProxy, (t = compileTrustProxy(trustProxy)));
  return t;
}

const normalize = (ip: string): string => (ip.startsWith("::ffff:") && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip);

/** Whether `ip` is one of the TRUST_PROXY proxies. */
export function isTrustedProxy(ip: string, trustProxy: readonly string[]): boolean {
  return trustProxy.length > 0 && net.isIP(ip) !== 0 && matcher(trustProxy)(ip, 0);
}

/**
 * The client's address (proxy-addr): the socket's peer, unless that peer is a configured trusted
 * proxy, in which case the right-most X-Forwarded-For entry that is not itself a trusted proxy
 * (the left-most when all are). A client that talks to us directly cannot move its limits by
 * sending the header. Entries that are not IP addresses are skipped; an IPv4-mapped IPv6 address
 * is given in its IPv4 form.
 */
export function clientIp(req: IncomingMessage, trustProxy: readonly string[]): string {
  const peer = req.socket.remoteAddress;
  if (!peer) return "unknown";
  if (trustProxy.length === 0) return normalize(peer);
  const trusted = matcher(trustProxy);
  // proxy-addr would return a malformed entry as the client; skipping it keeps the walk going.
  return normalize(proxyaddr(req, (addr, i) => net.isIP(addr) === 0 || trusted(addr, i)));
}
