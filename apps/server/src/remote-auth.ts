import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import type { AppRouter } from "@anonchat/api";
import type { AccessTokens, AuthApi } from "@anonchat/core";
import { AppError, ERROR_CODES, type ErrorCode, type LoginInput, type RegisterInput, type User } from "@anonchat/shared";
import type { Logger } from "./logger.js";
import { SERVICE_SECRET_HEADER } from "./service-secret.js";

/** The auth role's answer, as the AppError it was there, so clients see the same error. */
function asAppError(err: unknown): AppError {
  if (err instanceof TRPCClientError) {
    // tRPC's code names are ours, but for INTERNAL (which must not be passed on as such).
    const data = err.data as { code?: string; retryAfter?: number } | undefined;
    const code = data?.code;
    if (code && code !== "INTERNAL" && (ERROR_CODES as readonly string[]).includes(code)) {
      return new AppError(code as ErrorCode, err.message, data?.retryAfter);
    }
  }
  return new AppError("SERVICE_UNAVAILABLE", "the auth service is unavailable, try again shortly", 1);
}

/** Error codes of a request that never reached the server: safe to send to another auth instance. */
const NOT_REACHED = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "UND_ERR_CONNECT_TIMEOUT"]);

/** Whether err (or an error it wraps) says the connection was never made. */
function neverReached(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 6; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NOT_REACHED.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * AUTH_URL's instances in the order to try them: the one that answered last first (a random one
 * at start, which spreads processes over a list), then the others.
 */
class AuthInstances {
  private preferred: number;
  constructor(readonly bases: string[]) {
    this.preferred = Math.floor(Math.random() * bases.length);
  }
  order(): number[] {
    return this.bases.map((_, i) => (this.preferred + i) % this.bases.length);
  }
  answered(index: number): void {
    this.preferred = index;
  }
}

/**
 * AuthApi for a chat process: sessions and users live in the auth role, reached over HTTP with
 * the service secret (auth's internal routes demand it, and it believes the X-Forwarded-For of a
 * login only with it); access tokens are verified here with the published public keys, without a
 * call. With several AUTH_URLs, a call that cannot reach one instance goes to the next: any
 * failure for the read-only look-ups, but only a connection never made for the tRPC mutations
 * (register, login, refresh and logout must not run twice).
 */
export function createRemoteAuth(authUrls: string[], tokens: AccessTokens, serviceSecret: string, timeoutMs: number, log: Logger): AuthApi {
  const instances = new AuthInstances(authUrls.map((u) => u.replace(/\/+$/, "")));
  const asService = { [SERVICE_SECRET_HEADER]: serviceSecret };
  const clientFor = (base: string, headers: Record<string, string> = {}) =>
    createTRPCClient<AppRouter>({ links: [httpLink({ url: `${base}/trpc`, headers: { ...headers, ...asService } })] });
  const anonymous = instances.bases.map((base) => clientFor(base));
  const unavailable = () => new AppError("SERVICE_UNAVAILABLE", "the auth service is unavailable, try again shortly", 1);

  async function mutate<T>(fn: (index: number) => Promise<T>): Promise<T> {
    let last: unknown;
    for (const index of instances.order()) {
      try {
        const out = await fn(index);
        instances.answered(index);
        return out;
      } catch (err) {
        if (!neverReached(err)) {
          // It answered (an error of ours, passed on as such).
          if (err instanceof TRPCClientError && err.data) instances.answered(index);
          throw asAppError(err);
        }
        last = err;
      }
    }
    throw asAppError(last);
  }

  async function internal<T>(path: string): Promise<T> {
    for (const index of instances.order()) {
      let res: Response;
      try {
        res = await fetch(`${instances.bases[index]}${path}`, { headers: asService, signal: AbortSignal.timeout(timeoutMs) });
      } catch {
        continue;
      }
      if (res.status === 401) {
        // A deployment fault, not the user's: say so where the operator looks.
        log.error("the auth service refused this process's service secret: SERVICE_SECRET differs between auth and chat");
        throw unavailable();
      }
      if (res.status >= 500) continue;
      instances.answered(index);
      if (res.status === 404) throw new AppError("UNAUTHORIZED", "invalid or expired token");
      if (!res.ok) throw unavailable();
      return (await res.json()) as T;
    }
    throw unavailable();
  }

  return {
    // The auth role applies its brute-force limits and hashing lanes to the caller's address,
    // forwarded here.
    register: (input: RegisterInput, clientIp: string) =>
      mutate((i) => clientFor(instances.bases[i] as string, { "X-Forwarded-For": clientIp }).auth.register.mutate(input)),
    login: (input: LoginInput, clientIp: string) =>
      mutate((i) => clientFor(instances.bases[i] as string, { "X-Forwarded-For": clientIp }).auth.login.mutate(input)),
    refresh: (refreshToken: string) => mutate((i) => (anonymous[i] as (typeof anonymous)[number]).auth.refresh.mutate({ refreshToken })),
    logout: (refreshToken: string) => mutate((i) => (anonymous[i] as (typeof anonymous)[number]).auth.logout.mutate({ refreshToken })),
    me: (userId: number) => internal<User>(`/internal/users/${userId}`),
    verifyAccessToken: (token: string) => tokens.verify(token),
    verifyAccessTokenFresh: (token: string) => tokens.verifyFresh(token),
    isSessionActive: async (sessionId: string) =>
      (await internal<{ active: boolean }>(`/internal/sessions/${encodeURIComponent(sessionId)}`)).active,
  };
}
