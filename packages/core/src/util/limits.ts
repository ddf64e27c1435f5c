import { RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { AppError } from "@anonchat/shared";

export type Limiter = Pick<RateLimiterAbstract, "consume" | "get" | "delete" | "penalty" | "reward" | "points">;

export const retryAfterSeconds = (res: RateLimiterRes): number => Math.max(1, Math.ceil(res.msBeforeNext / 1000));

/** Consumes one point; a refusal becomes TOO_MANY_REQUESTS with the time to wait. */
export async function consumeOrThrow(limiter: Limiter, key: string, message: string): Promise<RateLimiterRes> {
  try {
    return await limiter.consume(key);
  } catch (e) {
    if (e instanceof RateLimiterRes) {
      const wait = retryAfterSeconds(e);
      throw new AppError("TOO_MANY_REQUESTS", `${message}; retry in ${wait} s`, wait);
    }
    throw e;
  }
}
