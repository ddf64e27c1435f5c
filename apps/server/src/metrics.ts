import client from "prom-client";

/**
 * Prometheus metrics through prom-client: this server's own series (names unchanged) in a registry
 * per server, and the library's default process metrics (CPU, memory, heap, event-loop lag, GC,
 * handles) in one registry per process, collected once however many servers a process runs.
 * Label values are bounded by the callers (route names, never raw paths), so series cannot grow
 * without limit.
 */

type Labels = Record<string, string>;

/** Labels in name order, so a series is written the same way whatever order a caller used. */
const sorted = (labels: Labels): Labels => Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

export class Counter {
  private readonly c: client.Counter<string>;
  constructor(registry: client.Registry, name: string, help: string, labelNames: readonly string[] = []) {
    this.c = new client.Counter({ name, help, labelNames: [...labelNames].sort(), registers: [registry] });
  }
  inc(labels: Labels = {}, by = 1): void {
    this.c.inc(sorted(labels), by);
  }
}

export class Histogram {
  private readonly h: client.Histogram<string>;
  constructor(registry: client.Registry, name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []) {
    this.h = new client.Histogram({ name, help, buckets: [...buckets], labelNames: [...labelNames].sort(), registers: [registry] });
  }
  observe(labels: Labels, value: number): void {
    this.h.observe(sorted(labels), value);
  }
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

let processRegistry: client.Registry | undefined;
/** The process's default metrics: one collector per process (each adds an event-loop monitor and a GC observer). */
function processMetrics(): client.Registry {
  if (!processRegistry) {
    processRegistry = new client.Registry();
    client.collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class Metrics {
  private readonly registry = new client.Registry();
  /** The exposition's Content-Type (text format 0.0.4). */
  readonly contentType: string = this.registry.contentType;
  readonly httpRequests = new Counter(this.registry, "anonchat_http_requests_total", "HTTP requests by route, method and status.", [
    "route",
    "method",
    "status",
  ]);
  readonly httpDuration = new Histogram(
    this.registry,
    "anonchat_http_request_duration_seconds",
    "HTTP request latency by route.",
    LATENCY_BUCKETS,
    ["route"],
  );
  readonly rateLimited = new Counter(this.registry, "anonchat_rate_limit_refusals_total", "Requests refused by a rate limit, by scope.", ["scope"]);
  readonly budgetRefusals = new Counter(
    this.registry,
    "anonchat_call_budget_refusals_total",
    "tRPC calls (HTTP or socket) refused by a per-call budget or cap, by budget.",
    ["budget"],
  );
  readonly messagesIn = new Counter(this.registry, "anonchat_messages_in_total", "Messages stored by this process.");
  readonly messagesOut = new Counter(this.registry, "anonchat_messages_out_total", "Messages handed to live subscribers.");
  readonly replayPages = new Counter(
    this.registry,
    "anonchat_replay_pages_total",
    "Replay pages served to resuming subscribers, by source (database read, or shared with another replay).",
    ["source"],
  );
  readonly deliveryLatency = new Histogram(
    this.registry,
    "anonchat_delivery_latency_seconds",
    "From a message's commit to its hand-over to local subscribers.",
    LATENCY_BUCKETS,
  );

  constructor() {
    processMetrics();
  }

  /** A gauge read when metrics are scraped; its readings use exactly `labelNames`. */
  gauge(name: string, help: string, labelNames: readonly string[], read: () => Array<[Labels, number]>): void {
    new client.Gauge({
      name,
      help,
      labelNames: [...labelNames].sort(),
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, v] of read()) this.set(sorted(labels), v);
      },
    });
  }

  /** The exposition: this server's series, then the process's. */
  async render(): Promise<string> {
    const own = await this.registry.metrics();
    return own + "\n" + (await processMetrics().metrics());
  }
}

const KNOWN_REST = new Set([
  "/api/v1/status",
  "/api/v1/openapi.json",
  "/api/v1/auth/register",
  "/api/v1/auth/login",
  "/api/v1/auth/refresh",
  "/api/v1/auth/logout",
  "/api/v1/auth/validate",
  "/api/v1/rooms/create",
  "/api/v1/rooms/remove",
  "/api/v1/rooms/kick",
  "/api/v1/rooms/ban",
  "/api/v1/rooms/unban",
  "/api/v1/rooms/transfer",
  "/api/v1/rooms/ws",
]);

/** A bounded route label: known procedures and routes by name, anything else grouped. */
export function routeLabel(path: string, procedures: ReadonlySet<string>): string {
  if (path === "/trpc" || path.startsWith("/trpc/")) {
    const names = path.slice("/trpc/".length).split(",");
    if (!names.every((n) => procedures.has(n))) return "/trpc/(unknown)";
    // Batches are grouped: their combinations would make the series unbounded.
    return names.length === 1 ? `/trpc/${names[0]}` : "/trpc/(batch)";
  }
  if (path.startsWith("/api/v1")) return KNOWN_REST.has(path) ? path : "/api/v1/(unknown)";
  if (["/healthz", "/readyz", "/metrics", "/.well-known/jwks.json"].includes(path)) return path;
  if (path.startsWith("/internal/")) return "/internal";
  return "(static)";
}
