import { createHash } from "node:crypto";
import { RateLimiterRes } from "rate-limiter-flexible";
import { AppError } from "@anonchat/shared";
import { retryAfterSeconds, type Limiter } from "../util/limits.js";
import type { AuthSecurityEvent } from "./security-events.js";

/** A login attempt that holds its place in the failure budgets until it is settled. */
export interface LoginAttempt {
  /** The password was right: the pair's failures are forgiven, and this attempt costs nothing. */
  succeeded(): Promise<void>;
  /** Nothing was checked (the server was busy or failed): give the reserved places back. */
  cancel(): Promise<void>;
}

/** A short, one-way tag of an email for logs: lockouts of one account can be told apart without the address. */
export const emailTag = (email: string): string => createHash("sha256").update(email).digest("hex").slice(0, 12);

/**
 * Brute-force protection for login: failures per (email, IP) block that pair, so the owner can
 * still log in from elsewhere; failures per IP across all emails catch slow sprays.
 *
 * Every attempt reserves a failure in both budgets *before* the password is hashed, and only a
 * success gives it back. So however many attempts arrive at once (parallel requests, one HTTP
 * batch, one WebSocket), at most the limit of them are ever checked: the counter is taken
 * atomically by the limiter's store, not read first and written after the slow hash.
 */
export class LoginGuard {
  constructor(
    private readonly byEmailAndIp: Limiter,
    private readonly byIp: Limiter,
    private readonly onEvent: (e: AuthSecurityEvent) => void = () => {},
  ) {}

  private pairKey(email: string, ip: string) {
    return `${email}|${ip}`;
  }

  /** Takes one place in each budget, or refuses (429) when either is used up. */
  async reserve(email: string, ip: string): Promise<LoginAttempt> {
    const pair = this.pairKey(email, ip);
    const [pairRes, ipRes] = await Promise.allSettled([this.byEmailAndIp.consume(pair), this.byIp.consume(ip)]);
    const refusal = [pairRes, ipRes].find((r) => r.status === "rejected");
    if (refusal) {
      // A refused attempt checks nothing, so it is no failure: give back the place it did take.
      if (pairRes.status === "fulfilled") await this.byEmailAndIp.reward(pair, 1).catch(() => undefined);
      if (ipRes.status === "fulfilled") await this.byIp.reward(ip, 1).catch(() => undefined);
      const reason: unknown = refusal.reason;
      if (!(reason instanceof RateLimiterRes)) throw reason;
      const wait = retryAfterSeconds(reason);
      this.onEvent({
        type: "login_locked",
        scope: pairRes.status === "rejected" ? "email_ip" : "ip",
        ip,
        emailTag: emailTag(email),
        retryAfter: wait,
      });
      throw new AppError("TOO_MANY_REQUESTS", `too many failed logins; retry in ${wait} s`, wait);
    }
    let settled = false;
    const settle = async (fn: () => Promise<unknown>) => {
      if (settled) return;
      settled = true;
      await fn().catch(() => undefined);
    };
    return {
      succeeded: () =>
        settle(() => Promise.all([this.byEmailAndIp.delete(pair), this.byIp.reward(ip, 1)])),
      cancel: () => settle(() => Promise.all([this.byEmailAndIp.reward(pair, 1), this.byIp.reward(ip, 1)])),
    };
  }
}
