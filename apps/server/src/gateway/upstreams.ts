import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { Agent } from "undici";
import type { UpstreamSettings } from "../config.js";
import type { Logger } from "../logger.js";

/** One address of an upstream service: what requests and health checks go to. */
export interface Target {
  /** http://address:port, the key of the target. */
  readonly origin: string;
  readonly host: string;
  readonly port: number;
  /** Last active check answered /readyz 200 (false until the first check has). */
  healthy: boolean;
  /** Out of rotation until then (ms since the epoch) after a connect error or a timeout. */
  ejectedUntil: number;
  /** Active checks failed in a row (0 after one that passed). */
  failedChecks: number;
}

/** An address literal as a URL host: IPv6 in brackets. */
const hostOf = (address: string) => (isIP(address) === 6 ? `[${address}]` : address);
const bare = (hostname: string) => hostname.replace(/^\[(.*)\]$/, "$1");

/**
 * The replicas of one service as the gateway sees them: every address each configured URL's host
 * resolves to (re-resolved every UPSTREAM_RESOLVE_SECONDS, so `docker compose up --scale chat=N`
 * needs no list), each checked on GET /readyz every UPSTREAM_HEALTH_INTERVAL_SECONDS, and taken
 * out of rotation for UPSTREAM_EJECT_SECONDS when a request to it fails to connect or times out.
 */
export class UpstreamPool {
  private readonly byEntry = new Map<string, Target[]>();
  private next = 0;
  private timers: NodeJS.Timeout[] = [];
  private readonly checks = new Agent({ keepAliveTimeout: 10_000, connections: 4 });
  private closed = false;
  private readonly downListeners: ((origin: string, reason: string) => void)[] = [];

  constructor(
    readonly name: string,
    private readonly entries: readonly URL[],
    private readonly settings: UpstreamSettings,
    private readonly log: Logger,
  ) {
    if (entries.length === 0) throw new Error(`no upstream for ${name}`);
    // Until the first look-up, each entry is tried as written (a literal address or a name).
    for (const url of entries) this.byEntry.set(url.origin, []);
  }

  /** First look-up and checks, then the periodic ones. Never throws: an unresolved name is retried. */
  async start(): Promise<void> {
    await this.resolve();
    await this.checkAll();
    this.timers.push(
      setInterval(() => void this.resolve().catch(() => undefined), this.settings.resolveSeconds * 1000).unref(),
      setInterval(() => void this.checkAll().catch(() => undefined), this.settings.healthIntervalSeconds * 1000).unref(),
    );
  }

  targets(): Target[] {
    return [...this.byEntry.values()].flat();
  }

  /** Targets in rotation (healthy and not ejected). */
  available(now = Date.now()): Target[] {
    return this.targets().filter((t) => t.healthy && t.ejectedUntil <= now);
  }

  healthyCount(): number {
    return this.targets().filter((t) => t.healthy).length;
  }

  /**
   * The targets to try for one request, a rotating start spreading load: those in rotation; when
   * none is, every known one (a stale state must not turn away requests a replica could serve,
   * and each try is bounded by the timeouts).
   */
  order(): Target[] {
    const now = Date.now();
    let list = this.available(now);
    if (list.length === 0) list = this.targets();
    if (list.length === 0) return [];
    const start = this.next++ % list.length;
    return [...list.slice(start), ...list.slice(0, start)];
  }

  /**
   * Called with a target's origin when it is down for its sockets: it failed
   * UPSTREAM_MOVE_SOCKETS_AFTER_CHECKS active checks in a row, or its address left DNS.
   */
  onDown(listener: (origin: string, reason: string) => void): void {
    this.downListeners.push(listener);
  }

  private reportDown(origin: string, reason: string): void {
    for (const l of this.downListeners) l(origin, reason);
  }

  /** Passive ejection: a connect error or a timeout takes the target out for a while. */
  eject(target: Target, reason: string): void {
    const wasIn = target.ejectedUntil <= Date.now();
    target.ejectedUntil = Date.now() + this.settings.ejectSeconds * 1000;
    if (wasIn) this.log.warn("upstream ejected", { upstream: this.name, target: target.origin, reason, seconds: this.settings.ejectSeconds });
  }

  private async resolve(): Promise<void> {
    for (const url of this.entries) {
      const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
      const name = bare(url.hostname);
      let addresses: string[];
      if (isIP(name)) {
        addresses = [name];
      } else {
        try {
          addresses = [...new Set((await lookup(name, { all: true })).map((a) => a.address))].sort();
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          // A name that does not exist (removed from DNS) has no replicas; a failing resolver
          // keeps the last addresses it gave.
          if (code === "ENOTFOUND") addresses = [];
          else continue;
          if ((this.byEntry.get(url.origin) ?? []).length > 0 || !this.warned.has(url.origin)) {
            this.warned.add(url.origin);
            this.log.warn("upstream host does not resolve", { upstream: this.name, host: name, code });
          }
        }
      }
      const old = new Map((this.byEntry.get(url.origin) ?? []).map((t) => [t.origin, t]));
      const fresh: Target[] = [];
      for (const address of addresses) {
        const origin = `http://${hostOf(address)}:${port}`;
        fresh.push(old.get(origin) ?? { origin, host: address, port, healthy: false, ejectedUntil: 0, failedChecks: 0 });
      }
      const added = fresh.filter((t) => !old.has(t.origin));
      const removed = [...old.keys()].filter((o) => !fresh.some((t) => t.origin === o));
      this.byEntry.set(url.origin, fresh);
      for (const origin of removed) this.reportDown(origin, "gone from DNS");
      if (added.length || removed.length) {
        this.log.info("upstream addresses", { upstream: this.name, host: name, targets: fresh.map((t) => t.origin) });
      }
      // New replicas join as soon as they answer their first check, not at the next round.
      await Promise.all(added.map((t) => this.check(t)));
    }
  }
  private readonly warned = new Set<string>();

  private checkAll(): Promise<void> {
    return Promise.all(this.targets().map((t) => this.check(t))).then(() => undefined);
  }

  private async check(target: Target): Promise<void> {
    if (this.closed) return;
    const timeout = this.settings.healthTimeoutMs;
    let ok = false;
    try {
      const res = await this.checks.request({
        origin: target.origin,
        path: "/readyz",
        method: "GET",
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: AbortSignal.timeout(timeout),
      });
      await res.body.dump();
      ok = res.statusCode === 200;
    } catch {
      ok = false;
    }
    if (ok !== target.healthy) {
      const fields = { upstream: this.name, target: target.origin };
      if (ok) this.log.info("upstream healthy", fields);
      else this.log.warn("upstream unhealthy", fields);
    }
    target.healthy = ok;
    target.failedChecks = ok ? 0 : target.failedChecks + 1;
    const after = this.settings.moveSocketsAfterChecks;
    // Once, at the check that reaches the count: a replica that stays down has no sockets left.
    if (after > 0 && target.failedChecks === after) this.reportDown(target.origin, `${after} health checks failed`);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.checks.destroy().catch(() => undefined);
  }
}
