import { RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { CallInfo, CallPolicy } from "@anonchat/api";
import { FairGate, retryAfterSeconds } from "@anonchat/core";
import { AppError } from "@anonchat/shared";
import type { ServerConfig } from "./config.js";

/** What one tRPC socket has open, counted against its caps, and what it was refused. */
export interface SocketBudget {
  inFlight: number;
  subscriptions: number;
  /** Refusals in the current minute, and when that minute began. */
  refusals: number;
  refusalsSince: number;
  /** Closes the socket: it kept sending what is refused (each refusal still costs the server). */
  onAbuse(): void;
}

export function newSocketBudget(onAbuse: () => void): SocketBudget {
  return { inFlight: 0, subscriptions: 0, refusals: 0, refusalsSince: Date.now(), onAbuse };
}

export interface RequestParty {
  clientIp: string;
  requestId: string;
}

export type RefusalScope = "ip" | "user" | "user_concurrency" | "ws_in_flight" | "ws_subscriptions" | "user_subscriptions";

type Limits = Pick<
  ServerConfig,
  "callConcurrency" | "wsMaxInFlight" | "wsMaxSubscriptions" | "maxSubscriptionsPerUser" | "userRateLimit" | "rateLimit" | "wsMaxRefusals"
>;

/**
 * The budgets every tRPC call is held to, over HTTP and over the socket alike, all checked before
 * the call does any work:
 *
 * - the per-IP request limit (HTTP requests are charged at the edge, one point per call of a
 *   batch; socket calls here, one point each) and the per-user request limit;
 * - a fair turn among the caller's own calls: one user (or one anonymous IP) runs at most a few
 *   calls at once in this process and the rest wait in a bounded lane, so a burst from one
 *   client queues behind itself, not in front of everyone else's queries;
 * - per socket: queries and mutations in flight, and live subscriptions; per user: live
 *   subscriptions over all of their sockets.
 */
export class CallBudgets {
  private readonly turns: FairGate;
  private readonly subscriptionsByUser = new Map<number, number>();

  constructor(
    private readonly limits: Limits,
    private readonly limiters: { ip: RateLimiterAbstract; user: RateLimiterAbstract },
    private readonly onRefused: (scope: RefusalScope, party: RequestParty, userId: number | null) => void,
  ) {
    this.turns = new FairGate({
      concurrency: Number.POSITIVE_INFINITY,
      perKeyConcurrency: limits.callConcurrency.perUser,
      perKeyQueue: limits.callConcurrency.queue,
      maxQueue: Number.POSITIVE_INFINITY,
      keyBusy: () => new AppError("TOO_MANY_REQUESTS", "too many calls at once; retry shortly", 1),
    });
  }

  /** HTTP: the edge has already charged the IP for every call of the request. */
  http(party: RequestParty): CallPolicy {
    return { admit: (call) => this.admit(call, party, undefined) };
  }

  socket(party: RequestParty, socket: SocketBudget): CallPolicy {
    return { admit: (call) => this.admit(call, party, socket) };
  }

  /**
   * Counts a refusal on a socket (a call refused by any budget, a call cut from a frame, a frame
   * that is not a call). A socket refused more than WS_MAX_REFUSALS times in a minute is closed:
   * a refusal is cheap but not free, and a client that ignores them is not a client.
   */
  refused(socket: SocketBudget, count = 1): void {
    const now = Date.now();
    if (now - socket.refusalsSince > 60_000) {
      socket.refusals = 0;
      socket.refusalsSince = now;
    }
    socket.refusals += count;
    if (socket.refusals > this.limits.wsMaxRefusals) socket.onAbuse();
  }

  /** Takes a subscription place of the socket and of its user; the result gives them back once. */
  openSubscription(party: RequestParty, socket: SocketBudget, userId: number | null): () => void {
    if (socket.subscriptions >= this.limits.wsMaxSubscriptions) {
      this.refused(socket);
      throw this.refuse("ws_subscriptions", party, userId, `too many subscriptions on this connection (at most ${this.limits.wsMaxSubscriptions})`);
    }
    const mine = userId === null ? 0 : (this.subscriptionsByUser.get(userId) ?? 0);
    if (userId !== null && mine >= this.limits.maxSubscriptionsPerUser) {
      this.refused(socket);
      throw this.refuse("user_subscriptions", party, userId, `too many subscriptions (at most ${this.limits.maxSubscriptionsPerUser} per user)`);
    }
    socket.subscriptions++;
    if (userId !== null) this.subscriptionsByUser.set(userId, mine + 1);
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      socket.subscriptions--;
      if (userId === null) return;
      const n = (this.subscriptionsByUser.get(userId) ?? 1) - 1;
      if (n <= 0) this.subscriptionsByUser.delete(userId);
      else this.subscriptionsByUser.set(userId, n);
    };
  }

  private async admit(call: CallInfo, party: RequestParty, sock: SocketBudget | undefined): Promise<() => void> {
    // A subscription is held to the subscription caps instead: a client that reconnects
    // re-subscribes to everything in one frame, which must not count as calls in flight.
    const socket = call.type === "subscription" ? undefined : sock;
    try {
      // Charged first: a call refused by a cap below still spends its client's budgets.
      if (sock) await this.charge("ip", this.limiters.ip, party.clientIp, party, call.userId);
      if (call.userId !== null) await this.charge("user", this.limiters.user, String(call.userId), party, call.userId);
      if (socket && socket.inFlight >= this.limits.wsMaxInFlight) {
        throw this.refuse("ws_in_flight", party, call.userId, `too many calls in flight on this connection (at most ${this.limits.wsMaxInFlight})`);
      }
    } catch (err) {
      if (sock) this.refused(sock);
      throw err;
    }
    if (socket) socket.inFlight++;
    try {
      const key = call.userId !== null ? `u${call.userId}` : `ip${party.clientIp}`;
      let release: () => void;
      try {
        release = await this.turns.acquire(key);
      } catch (err) {
        this.onRefused("user_concurrency", party, call.userId);
        if (sock) this.refused(sock);
        throw err;
      }
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        release();
        if (socket) socket.inFlight--;
      };
    } catch (err) {
      if (socket) socket.inFlight--;
      throw err;
    }
  }

  private async charge(scope: "ip" | "user", limiter: RateLimiterAbstract, key: string, party: RequestParty, userId: number | null) {
    try {
      await limiter.consume(key);
    } catch (e) {
      if (!(e instanceof RateLimiterRes)) throw e;
      const wait = retryAfterSeconds(e);
      this.onRefused(scope, party, userId);
      throw new AppError("TOO_MANY_REQUESTS", `too many requests; retry in ${wait} s`, wait);
    }
  }

  private refuse(scope: RefusalScope, party: RequestParty, userId: number | null, message: string): AppError {
    this.onRefused(scope, party, userId);
    return new AppError("TOO_MANY_REQUESTS", message, 1);
  }
}
