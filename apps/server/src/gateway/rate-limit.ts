import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Unix seconds when the window resets. */
  reset: number;
  retryAfter: number;
  headers: Record<string, string>;
}

/** The per-IP limit that covers every HTTP route and every WebSocket upgrade. */
export class IpRateLimit {
  private readonly limiter: RateLimiterAbstract;

  constructor(
    private readonly points: number,
    windowSeconds: number,
    limiter?: RateLimiterAbstract,
  ) {
    this.limiter = limiter ?? new RateLimiterMemory({ keyPrefix: "ip", points, duration: windowSeconds });
  }

  /** Charges `cost` requests (a tRPC batch costs one per call). */
  async check(ip: string, cost = 1): Promise<RateDecision> {
    let res: RateLimiterRes;
    let allowed = true;
    try {
      res = await this.limiter.consume(ip, cost);
    } catch (e) {
      if (!(e instanceof RateLimiterRes)) throw e;
      res = e;
      allowed = false;
    }
    const reset = Math.ceil((Date.now() + res.msBeforeNext) / 1000);
    const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
    const headers: Record<string, string> = {
      "X-RateLimit-Limit": String(this.points),
      "X-RateLimit-Remaining": String(Math.max(0, res.remainingPoints)),
      "X-RateLimit-Reset": String(reset),
    };
    if (!allowed) headers["Retry-After"] = String(retryAfter);
    return { allowed, limit: this.points, remaining: Math.max(0, res.remainingPoints), reset, retryAfter, headers };
  }
}
