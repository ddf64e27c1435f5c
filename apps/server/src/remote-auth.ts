import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import type { AppRouter } from "@anonchat/api";
import type { AccessTokens, AuthApi } from "@anonchat/core";
import { AppError, ERROR_CODES, type ErrorCode, type LoginInput, type RegisterInput, type User } from "@anonchat/shared";
import type { Logger } from "./logger";
import { SERVICE_SECRET_HEADER } from "./service-secret";

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

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asAppError(err);
  }
}

/**
 * AuthApi for a chat process: sessions and users live in the auth role, reached over HTTP with
 * the service secret (auth's internal routes demand it, and it believes the X-Forwarded-For of a
 * login only with it); access tokens are verified here with the published public key, without a call.
 */
export function createRemoteAuth(authUrl: string, tokens: AccessTokens, serviceSecret: string, log: Logger): AuthApi {
  const base = authUrl.replace(/\/+$/, "");
  const asService = { [SERVICE_SECRET_HEADER]: serviceSecret };
  const client = (headers: Record<string, string> = {}) =>
    createTRPCClient<AppRouter>({ links: [httpLink({ url: `${base}/trpc`, headers: { ...headers, ...asService } })] });
  const anonymous = client();

  async function internal<T>(path: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { headers: asService, signal: AbortSignal.timeout(5000) });
    } catch {
      throw new AppError("SERVICE_UNAVAILABLE", "the auth service is unavailable, try again shortly", 1);
    }
    if (res.status === 401) {
      // A deployment fault, not the user's: say so where the operator looks.
      log.error("the auth service refused this process's service secret: SERVICE_SECRET differs between auth and chat");
      throw new AppError("SERVICE_UNAVAILABLE", "the auth service is unavailable, try again shortly", 1);
    }
    if (res.status === 404) throw new AppError("UNAUTHORIZED", "invalid or expired token");
    if (!res.ok) throw new AppError("SERVICE_UNAVAILABLE", "the auth service is unavailable, try again shortly", 1);
    return (await res.json()) as T;
  }

  return {
    // The auth role applies its brute-force limits and hashing lanes to the caller's address,
    // forwarded here.
    register: (input: RegisterInput, clientIp: string) =>
      call(() => client({ "X-Forwarded-For": clientIp }).auth.register.mutate(input)),
    login: (input: LoginInput, clientIp: string) =>
      call(() => client({ "X-Forwarded-For": clientIp }).auth.login.mutate(input)),
    refresh: (refreshToken: string) => call(() => anonymous.auth.refresh.mutate({ refreshToken })),
    logout: (refreshToken: string) => call(() => anonymous.auth.logout.mutate({ refreshToken })),
    me: (userId: number) => internal<User>(`/internal/users/${userId}`),
    verifyAccessToken: (token: string) => tokens.verify(token),
    isSessionActive: async (sessionId: string) =>
      (await internal<{ active: boolean }>(`/internal/sessions/${encodeURIComponent(sessionId)}`)).active,
  };
}
