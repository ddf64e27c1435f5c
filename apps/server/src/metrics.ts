/**
 * Prometheus text exposition (version 0.0.4) for the few metric kinds we need. Label values are
 * bounded by the callers (route names, never raw paths), so series cannot grow without limit.
 */

type Labels = Record<string, string>;
const key = (labels: Labels) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join(",");

interface Metric {
  render(): string[];
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    private readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) out.push(`${this.name} 0`);
    for (const [k, v] of this.values) out.push(`${this.name}${k ? `{${k}}` : ""} ${v}`);
    return out;
  }
}

export class Gauge implements Metric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly read: () => Array<[Labels, number]>,
  ) {}
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const [labels, v] of this.read()) {
      const k = key(labels);
      out.push(`${this.name}${k ? `{${k}}` : ""} ${v}`);
    }
    return out;
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly buckets: readonly number[],
  ) {}
  observe(labels: Labels, value: number): void {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] as number)) (s.counts[i] as number)++;
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      const sep = k ? `${k},` : "";
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket{${sep}le="${b}"} ${s.counts[i]}`));
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ""} ${s.sum}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ""} ${s.count}`);
    }
    return out;
  }
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  private readonly all: Metric[] = [];
  readonly httpRequests = this.add(new Counter("anonchat_http_requests_total", "HTTP requests by route, method and status."));
  readonly httpDuration = this.add(
    new Histogram("anonchat_http_request_duration_seconds", "HTTP request latency by route.", LATENCY_BUCKETS),
  );
  readonly rateLimited = this.add(new Counter("anonchat_rate_limit_refusals_total", "Requests refused by a rate limit, by scope."));
  readonly budgetRefusals = this.add(
    new Counter("anonchat_call_budget_refusals_total", "tRPC calls (HTTP or socket) refused by a per-call budget or cap, by budget."),
  );
  readonly messagesIn = this.add(new Counter("anonchat_messages_in_total", "Messages stored by this process."));
  readonly messagesOut = this.add(new Counter("anonchat_messages_out_total", "Messages handed to live subscribers."));
  readonly replayPages = this.add(
    new Counter("anonchat_replay_pages_total", "Replay pages served to resuming subscribers, by source (database read, or shared with another replay)."),
  );
  readonly deliveryLatency = this.add(
    new Histogram("anonchat_delivery_latency_seconds", "From a message's commit to its hand-over to local subscribers.", LATENCY_BUCKETS),
  );

  add<M extends Metric>(m: M): M {
    this.all.push(m);
    return m;
  }

  gauge(name: string, help: string, read: () => Array<[Labels, number]>): void {
    this.add(new Gauge(name, help, read));
  }

  render(): string {
    return this.all.flatMap((m) => m.render()).join("\n") + "\n";
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
