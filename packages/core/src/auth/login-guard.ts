import { AppError } from "@anonchat/shared";
import { retryAfterSeconds, type Limiter } from "../util/limits";

/**
 * Brute-force protection for login: consecutive failures per (email, IP) block that pair, so the
 * owner can still log in from elsewhere; failures per IP across all emails catch slow sprays.
 * Only failures count; a success clears the pair's counter.
 */
export class LoginGuard {
  constructor(
    private readonly byEmailAndIp: Limiter,
    private readonly byIp: Limiter,
  ) {}

  private pairKey(email: string, ip: string) {
    return `${email}|${ip}`;
  }

  async check(email: string, ip: string): Promise<void> {
    const [pair, ipRes] = await Promise.all([this.byEmailAndIp.get(this.pairKey(email, ip)), this.byIp.get(ip)]);
    for (const [res, points] of [
      [pair, this.byEmailAndIp.points],
      [ipRes, this.byIp.points],
    ] as const) {
      if (res && res.consumedPoints >= points) {
        const wait = retryAfterSeconds(res);
        throw new AppError("TOO_MANY_REQUESTS", `too many failed logins; retry in ${wait} s`, wait);
      }
    }
  }

  async failed(email: string, ip: string): Promise<void> {
    await Promise.allSettled([this.byEmailAndIp.penalty(this.pairKey(email, ip)), this.byIp.penalty(ip)]);
  }

  async succeeded(email: string, ip: string): Promise<void> {
    await this.byEmailAndIp.delete(this.pairKey(email, ip)).catch(() => undefined);
  }
}
