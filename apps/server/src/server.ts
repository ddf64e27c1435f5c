import { randomUUID } from "node:crypto";
import http, { type IncomingMessage } from "node:http";
import { finished, type Duplex } from "node:stream";
import { appRouter } from "@anonchat/api";
import { sendEnvelope } from "@anonchat/rest";
import type { ServerConfig } from "./config.js";
import { CallBudgets } from "./call-budgets.js";
import { ConnectionRegistry } from "./connections.js";
import { clientIp } from "./gateway/client-ip.js";
import { createCors, originAllowed, publicOrigins } from "./gateway/origin.js";
import { IpRateLimit, type RateDecision } from "./gateway/rate-limit.js";
import { API_CSP, REFERRER_POLICY, webClientCsp } from "./gateway/security-headers.js";
import { sendJson } from "./http-util.js";
import { createLogger, loggablePath, routePath, type Logger } from "./logger.js";
import { Metrics, routeLabel } from "./metrics.js";
import { gatewayHandler, serviceHandler, type RequestMeta } from "./roles.js";
import { SecurityLog } from "./security-log.js";
import { serviceSecretCheck } from "./service-secret.js";
import { createServices, type Services } from "./services.js";
import { createStaticHandler } from "./static.js";
import { edgeRefusal, errorBody, hostProblem, parserRefusal, SERVED_METHODS, TRPC_METHODS } from "./edge-input.js";

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  /** Graceful: stop accepting, ask sockets to reconnect, finish in-flight work, close the database. */
  close(): Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

const isTrpcPath = (path: string) => path === "/trpc" || path.startsWith("/trpc/");

/** How many procedure calls a /trpc request makes (a batch names them comma-separated); 0 for other paths. */
function trpcCalls(path: string): number {
  if (!path.startsWith("/trpc/")) return 0;
  let n = 1;
  for (let i = 6; i < path.length; i++) if (path.charCodeAt(i) === 44) n++;
  return n;
}
const NO_LIMIT: RateDecision = { allowed: true, limit: 0, remaining: 0, reset: 0, retryAfter: 0, headers: {} };

/** How long an answer already under way may take to finish after the parser refused what followed it. */
const ANSWER_GRACE_MS = 10_000;

/**
 * Answers on a bare socket with a plain HTTP response and closes it: a refused upgrade (before
 * any WebSocket exists), a CONNECT, a request Node's parser refused.
 */
function answerOnSocket(socket: Duplex, status: number, text: string, headers: Record<string, string> = {}, json?: unknown) {
  const body = JSON.stringify(json ?? { status: "error", message: text, data: null });
  const head = Object.entries({
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(body)),
    Connection: "close",
  })
    .map(([k, v]) => `${k}: ${v}`)
    .join("\r\n");
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ""}\r\n${head}\r\n\r\n${body}`);
}

/**
 * One HTTP server per process. The edge concerns (request ids and logs, origin allowlist, CORS,
 * the per-IP limit, health) wrap whatever the role mounts: all services, one of them, or the
 * gateway's forwarding.
 */
export async function startServer(config: ServerConfig, logger?: Logger): Promise<RunningServer> {
  const log = (logger ?? createLogger(config.logLevel)).child({ role: config.role });
  const metrics = new Metrics();
  const security = new SecurityLog(log);
  const services = await createServices(config, log, metrics, security);
  const registry = new ConnectionRegistry(services.bus);
  // One per-IP limiter for requests at the edge and for calls over sockets: the same budget.
  const ipLimiter = services.requestLimiter({ keyPrefix: "ip", points: config.rateLimit.points, duration: config.rateLimit.window });
  const budgets = new CallBudgets(
    config,
    {
      ip: ipLimiter,
      user: services.requestLimiter({ keyPrefix: "user", points: config.userRateLimit.points, duration: config.userRateLimit.window }),
    },
    (scope, party, userId) => {
      metrics.budgetRefusals.inc({ budget: scope });
      security.refused(scope, { ip: party.clientIp, userId, requestId: party.requestId });
    },
  );
  const handler =
    config.role === "gateway"
      ? gatewayHandler(config, services, log)
      : serviceHandler(config, services, registry, log, { budgets, security });
  const procedures = new Set(Object.keys(appRouter._def.procedures));
  metrics.gauge("anonchat_websockets", "Open WebSockets by protocol.", ["protocol"], () =>
    Object.entries(handler.socketCounts()).map(([protocol, n]) => [{ protocol }, n]),
  );
  metrics.gauge("anonchat_authenticated_sockets", "Open sockets with a verified user.", [], () => [[{}, registry.size()]]);
  metrics.gauge("anonchat_subscriptions", "Live room subscriptions in this process.", [], () => [
    [{}, services.hub?.subscriberCount() ?? 0],
  ]);
  metrics.gauge("anonchat_db_pool_connections", "PostgreSQL pool connections by state.", ["state"], () => {
    const pool = services.database?.pool;
    if (!pool) return [];
    return [
      [{ state: "total" }, pool.totalCount],
      [{ state: "idle" }, pool.idleCount],
      [{ state: "waiting" }, pool.waitingCount],
    ];
  });
  // Behind a gateway the services leave the per-IP limit to it: they see only its address.
  const atEdge = config.role === "all" || config.role === "gateway";
  const ipLimit = atEdge ? new IpRateLimit(config.rateLimit.points, config.rateLimit.window, ipLimiter) : undefined;
  const serveStatic = createStaticHandler(atEdge ? config.webDir : undefined);
  // /readyz is outside the request budget: however often it is polled, one ping at a time.
  let pinging: Promise<boolean> | undefined;
  const pingDatabase = (): Promise<boolean> =>
    (pinging ??= (services.database?.ping() ?? Promise.resolve(true)).finally(() => (pinging = undefined)));
  // /metrics is outside the request budget too: however often it is scraped, one render at a time.
  let rendering: Promise<string> | undefined;
  const renderMetrics = (): Promise<string> => (rendering ??= metrics.render().finally(() => (rendering = undefined)));
  let shuttingDown = false;
  // Filled in once we listen: the default public origins name the port actually bound (PORT=0).
  let admitted: ReadonlySet<string> = new Set();
  const applyCors = createCors(() => admitted);
  let webCsp = "";

  // Behind the gateway, X-Forwarded-For is believed only from a TRUST_PROXY address that also
  // presents the service secret (the gateway, or chat passing on a login): anything else that
  // reaches a service cannot choose the address its logins are counted against.
  const fromService = serviceSecretCheck(config.serviceSecret);
  let warnedUnproven = false;
  function trustFor(req: IncomingMessage): readonly string[] {
    if (atEdge || fromService(req)) return config.trustProxy;
    if (!warnedUnproven && req.headers["x-forwarded-for"] !== undefined && config.trustProxy.length > 0) {
      warnedUnproven = true;
      log.warn("X-Forwarded-For ignored: the request lacks the service secret (does the gateway have this SERVICE_SECRET?)");
    }
    return [];
  }

  function requestMeta(req: IncomingMessage): RequestMeta {
    const incoming = req.headers["x-request-id"];
    const requestId = typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    return { requestId, clientIp: clientIp(req, trustFor(req)) };
  }

  /** Responses under way per socket: a parse error must not write into the middle of one. */
  const answering = new WeakMap<Duplex, Set<http.ServerResponse>>();
  // Host is checked by edgeRefusal, which says what is wrong (Node's own refusal has no body).
  const server = http.createServer({ requireHostHeader: false }, async (req, res) => {
    const started = performance.now();
    const meta = requestMeta(req);
    const underWay = answering.get(req.socket) ?? new Set();
    answering.set(req.socket, underWay.add(res));
    res.once("close", () => underWay.delete(res));
    // Routing uses the whole path (a tRPC batch names every procedure in it); logs a short one.
    const path = routePath(req.url);
    const shownPath = loggablePath(req.url);
    res.setHeader("X-Request-Id", meta.requestId);
    res.setHeader("Referrer-Policy", REFERRER_POLICY);
    res.setHeader("Content-Security-Policy", API_CSP);
    res.once("finish", () => {
      const route = routeLabel(path, procedures);
      const labels = { route, method: req.method ?? "", status: String(res.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe({ route }, (performance.now() - started) / 1000);
      if (res.statusCode === 429) metrics.rateLimited.inc({ scope: route === "/trpc/(batch)" ? "trpc" : route });
      log.info("request", {
        requestId: meta.requestId,
        method: req.method,
        path: shownPath,
        status: res.statusCode,
        ms: Math.round((performance.now() - started) * 10) / 10,
        ip: meta.clientIp,
      });
    });
    // A client of a process that is shutting down goes elsewhere for its next request.
    if (shuttingDown) res.setHeader("Connection", "close");
    try {
      // Liveness only: answered before the rate limit, so neither the database nor the limiter's
      // store can make an orchestrator restart a process that runs (a bad Host is still a 400).
      if (path === "/healthz" && !hostProblem(req)) return sendJson(res, 200, { status: "ok" });
      // Every call of a tRPC batch is a request of the per-IP budget, as it would be alone.
      const calls = trpcCalls(path);
      if (calls > config.maxBatchCalls) {
        const message = `too many calls in one batch (at most ${config.maxBatchCalls})`;
        return sendJson(res, 400, { error: { message, code: -32600, data: { code: "BAD_REQUEST", httpStatus: 400 } } });
      }
      // Readiness polls and the web client's files do not spend the per-IP budget: a page load
      // fetches several files, and an orchestrator or a NAT's many users would use it up.
      const budgeted = path !== "/readyz" && !(path === "/metrics" && config.metrics) && !serveStatic.serves(req.method, path);
      const rate = ipLimit && budgeted ? await ipLimit.check(meta.clientIp, Math.max(1, calls)) : NO_LIMIT;
      if (!originAllowed(req, admitted)) {
        return sendJson(res, 403, { status: "error", message: "origin not allowed", data: null }, rate.headers);
      }
      await applyCors(req, res);
      if (!rate.allowed) {
        const scope = isTrpcPath(path) ? "trpc" : path.startsWith("/api/v1") ? "api" : "http";
        security.refused(`ip_${scope}`, { ip: meta.clientIp, requestId: meta.requestId, status: 429 });
        const message = `too many requests; retry in ${rate.retryAfter} s`;
        if (path.startsWith("/api/v1")) {
          return sendEnvelope(res, 429, "error", message, { retry_after: rate.retryAfter }, rate.headers);
        }
        // The shape of a tRPC error, so tRPC clients surface the code and the wait.
        const error = { message, code: -32029, data: { code: "TOO_MANY_REQUESTS", httpStatus: 429, retryAfter: rate.retryAfter } };
        return sendJson(res, 429, { error }, rate.headers);
      }
      const refusal = edgeRefusal(req, path, config.maxBodyBytes);
      if (refusal) {
        return sendJson(res, refusal.status, errorBody(path, refusal.status, refusal.message), { ...rate.headers, ...refusal.headers });
      }
      if (req.method === "OPTIONS") {
        res.writeHead(204, rate.headers);
        return void res.end();
      }
      if (path === "/metrics" && config.metrics) {
        const text = await renderMetrics();
        res.writeHead(200, { ...rate.headers, "Content-Type": metrics.contentType });
        return void res.end(text);
      }
      if (path === "/readyz") {
        // Not ready: shutting down, a verifier that holds no token key yet (auth not reached since
        // start), a gateway without a healthy upstream, or the database not answering.
        const ready =
          !shuttingDown &&
          services.keys.keySet.ready() &&
          (handler.ready?.() ?? true) &&
          (services.database ? await pingDatabase() : true);
        return sendJson(res, ready ? 200 : 503, { status: ready ? "ready" : "unavailable" }, rate.headers);
      }
      if (await handler.http(req, res, meta, path, rate.headers)) return;
      if (await serveStatic(req, res, { ...rate.headers, "Content-Security-Policy": webCsp })) return;
      sendJson(res, 404, { error: "not found" }, rate.headers);
    } catch (err) {
      log.error("unhandled error", { requestId: meta.requestId, path: shownPath, err });
      sendJson(res, 500, { status: "error", message: "internal server error", data: null });
    }
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  // Idle keep-alive connections outlive the clients' own idle timeouts (undici 4 s, browsers
  // and proxies up to 60 s): the client closes first, so it never sends a request on a socket
  // the server is closing at that moment (an ECONNRESET, or a 502 from a proxy).
  server.keepAliveTimeout = config.httpKeepAliveTimeout * 1000;

  // What Node's parser refuses (an unknown method, a bad header, a timeout) gets the same JSON
  // answer as every other refusal, instead of a bare status line.
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === "ECONNRESET" || !socket.writable) return void socket.destroy();
    // Bytes the parser refused after a request whose answer has begun (a body longer than its
    // Content-Length, say): that answer goes out whole, then the connection ends; the refused
    // bytes get none. Cutting it short would leave a well-formed request unanswered. Bounded:
    // an answer still waiting for a body that will never come is cut after ANSWER_GRACE_MS.
    const begun = [...(answering.get(socket) ?? [])].filter((r) => r.headersSent);
    if (begun.length > 0) {
      const cut = setTimeout(() => socket.destroy(), ANSWER_GRACE_MS).unref();
      void Promise.all(begun.map((r) => new Promise((done) => finished(r, done)))).then(() => {
        clearTimeout(cut);
        socket.destroy();
      });
      return;
    }
    // A request whose body turns out malformed (a bad chunk) is under way already: it gets the
    // parser's refusal, as Node itself would answer it.
    const r = parserRefusal(err);
    log.info("request refused by the HTTP parser", { code: err.code, status: r.status, ip: (socket as import("node:net").Socket).remoteAddress });
    answerOnSocket(socket, r.status, r.message, r.headers);
  });

  // Node answers an Expect other than 100-continue with a bare 417 and no body: say why, in the
  // shape the path's clients read (RFC 9110 §10.1.1 allows 417 for an expectation not met).
  server.on("checkExpectation", (req: IncomingMessage, res: http.ServerResponse) => {
    const path = routePath(req.url);
    const message = "only the expectation 100-continue is supported";
    log.info("request", { method: req.method, path: loggablePath(req.url), status: 417, ip: requestMeta(req).clientIp });
    sendJson(res, 417, errorBody(path, 417, message), { Connection: "close" });
  });

  // Without a listener Node drops a CONNECT without a word. This server is no proxy.
  server.on("connect", (req: IncomingMessage, socket: Duplex) => {
    socket.on("error", () => socket.destroy());
    const path = routePath(req.url);
    const message = "method CONNECT is not supported: this server is not a proxy";
    const allow = (isTrpcPath(path) ? TRPC_METHODS : SERVED_METHODS).join(", ");
    log.info("request", { method: "CONNECT", path: loggablePath(req.url), status: 405, ip: requestMeta(req).clientIp });
    answerOnSocket(socket, 405, message, { Allow: allow }, errorBody(path, 405, message));
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    const meta = requestMeta(req);
    const path = routePath(req.url);
    const shownPath = loggablePath(req.url);
    log.info("upgrade", { requestId: meta.requestId, path: shownPath, ip: meta.clientIp });
    /** Answers the upgrade with an HTTP error, and says so in the security log. */
    const refuse = (status: number, text: string, headers?: Record<string, string>) => {
      security.upgradeRefused({ status, reason: text, ip: meta.clientIp, path: shownPath, requestId: meta.requestId });
      answerOnSocket(socket, status, text, headers);
    };
    void (async () => {
      if (shuttingDown) return refuse(503, "shutting down");
      const rate = ipLimit ? await ipLimit.check(meta.clientIp) : NO_LIMIT;
      if (!originAllowed(req, admitted)) return refuse(403, "origin not allowed", rate.headers);
      if (!rate.allowed) {
        metrics.rateLimited.inc({ scope: "upgrade" });
        return refuse(429, "too many requests", rate.headers);
      }
      // tRPC builds the socket's URL from Host: an unparsable one would throw after the 101.
      const badHost = hostProblem(req);
      if (badHost) return refuse(400, badHost, rate.headers);
      if (!handler.upgrade(req, socket, head, meta, path)) refuse(404, "not found");
    })().catch((err) => {
      log.error("upgrade failed", { requestId: meta.requestId, err });
      socket.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const servedFrom = publicOrigins(config.publicOrigins, port);
  admitted = new Set([...servedFrom, ...config.corsOrigins]);
  webCsp = webClientCsp(servedFrom);
  const shownHost = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  const url = `http://${shownHost}:${port}`;
  log.info("listening", { url, database: services.database?.kind ?? "none", origins: [...admitted] });

  let closing: Promise<void> | undefined;
  async function close() {
    shuttingDown = true;
    const stopAccepting = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    handler.drain();
    // Give clients a moment to act on the reconnect notice, then close what is left.
    await new Promise((r) => setTimeout(r, 100));
    handler.closeSockets();
    const deadline = new Promise<void>((r) => setTimeout(r, config.shutdownTimeout * 1000).unref());
    await Promise.race([stopAccepting, deadline]);
    server.closeAllConnections();
    await handler.close?.();
    registry.close();
    await services.close();
    log.info("stopped");
  }

  return {
    url,
    port,
    services,
    close: () => (closing ??= close()),
  };
}
