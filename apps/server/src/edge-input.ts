import type { IncomingMessage } from "node:http";

/**
 * Input the edge refuses before any handler sees it, each with a 4xx and a message: the parts of
 * a request that libraries behind the edge would otherwise turn into a 500 (tRPC builds a fetch
 * Request and a URL from it) or wait on (a body declared far past the limit).
 */

export const isTrpcPath = (path: string) => path === "/trpc" || path.startsWith("/trpc/");

/** What /trpc answers: queries (GET, HEAD), mutations (POST), and the CORS preflight. */
export const TRPC_METHODS = ["GET", "HEAD", "POST", "OPTIONS"] as const;
/** Every method some route of this server answers (the Allow of a refusal that names no route). */
export const SERVED_METHODS = ["GET", "HEAD", "POST", "DELETE", "OPTIONS"] as const;

/** An error body in the shape the path's clients read: tRPC's error, or the /api/v1 envelope. */
export function errorBody(path: string, status: number, message: string): unknown {
  if (!isTrpcPath(path)) return { status: "error", message, data: null };
  const [code, rpc] = TRPC_CODES[status] ?? ["BAD_REQUEST", -32600];
  return { error: { message, code: rpc, data: { code, httpStatus: status } } };
}

const TRPC_CODES: Record<number, [string, number]> = {
  400: ["BAD_REQUEST", -32600],
  405: ["METHOD_NOT_SUPPORTED", -32005],
  408: ["TIMEOUT", -32008],
  413: ["PAYLOAD_TOO_LARGE", -32013],
  431: ["BAD_REQUEST", -32600],
};

/** host [":" port] as RFC 3986 spells it: a reg-name or IPv4 address, or an IPv6 literal in brackets. */
const HOST_SYNTAX = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{0,5})?$/;

/**
 * Why the Host header is unacceptable, or undefined. RFC 9112 §3.2: a server answers 400 to an
 * HTTP/1.1 request without Host or with an invalid one. tRPC builds the request's URL from it,
 * so an unparsable one would reach it as an exception (an error log per upgrade).
 */
export function hostProblem(req: IncomingMessage): string | undefined {
  const host = req.headers.host;
  if (host === undefined) {
    return req.httpVersionMajor === 1 && req.httpVersionMinor === 0 ? undefined : "the Host header is required";
  }
  if (!HOST_SYNTAX.test(host) || !URL.canParse(`http://${host}/`)) return "the Host header is not a valid host[:port]";
  return undefined;
}

function decodes(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

/** The declared body is past the limit: refuse it now rather than wait for bytes never read. */
export function declaredTooLarge(req: IncomingMessage, maxBytes: number): boolean {
  const declared = req.headers["content-length"];
  return declared !== undefined && Number(declared) > maxBytes;
}

export interface Refusal {
  status: number;
  message: string;
  headers: Record<string, string>;
}

/** What the edge refuses in a parsed request on path (before the per-route handlers), or undefined. */
export function edgeRefusal(req: IncomingMessage, path: string, maxBodyBytes: number): Refusal | undefined {
  const host = hostProblem(req);
  if (host) return { status: 400, message: host, headers: {} };
  // Routing decodes /trpc paths (the gateway picks the service by procedure name): a malformed
  // escape is the client's error wherever it is, not an exception in whichever handler decodes.
  if (!decodes(path)) return { status: 400, message: "malformed percent-escape in the path", headers: {} };
  const method = req.method ?? "";
  // fetch's Request, which tRPC builds, throws on TRACE (and CONNECT, TRACK): a 500 before this.
  if (isTrpcPath(path) && !(TRPC_METHODS as readonly string[]).includes(method)) {
    return { status: 405, message: `method ${method} is not supported on /trpc`, headers: { Allow: TRPC_METHODS.join(", ") } };
  }
  if (declaredTooLarge(req, maxBodyBytes)) {
    // The body is never read: close the connection rather than drain it.
    return { status: 413, message: `body must be at most ${maxBodyBytes} bytes`, headers: { Connection: "close" } };
  }
  return undefined;
}

/** A request Node's parser refused: the status and the message to answer it with. */
export function parserRefusal(err: NodeJS.ErrnoException & { reason?: string; rawPacket?: Buffer; bytesParsed?: number }): Refusal {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return { status: 431, message: "request headers too large", headers: {} };
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return { status: 413, message: "chunk extensions too large", headers: {} };
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { status: 408, message: "the request did not arrive in time", headers: {} };
    case "HPE_INVALID_METHOD": {
      // A well-formed method the parser does not know (TRACK, get) is unsupported; garbage is malformed.
      const method = tokenAt(err.rawPacket?.toString("latin1") ?? "", err.bytesParsed ?? 0);
      if (/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/.test(method)) {
        return { status: 405, message: `method ${method} is not supported (methods are case-sensitive)`, headers: { Allow: SERVED_METHODS.join(", ") } };
      }
      return { status: 400, message: "malformed request line: no valid method", headers: {} };
    }
    default:
      return { status: 400, message: `malformed HTTP request${err.reason ? `: ${err.reason}` : ""}`, headers: {} };
  }
}

/** The request line's first token around offset at (the packet may begin with earlier, pipelined requests). */
function tokenAt(packet: string, at: number): string {
  const start = packet.lastIndexOf("\n", Math.min(at, packet.length) - 1) + 1;
  const end = packet.indexOf(" ", start);
  return packet.slice(start, end === -1 ? undefined : end);
}
