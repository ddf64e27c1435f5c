import { TRPCClientError, type TRPCLink } from "@trpc/client";
import { observable, type Unsubscribable } from "@trpc/server/observable";
import type { AppRouter } from "@anonchat/api";
import type { ConnectionMonitor } from "./connection";
import { errorFacts } from "./errors";
import type { SessionStore } from "./session";

/** Procedures that take no access token: a refusal from them is never about the token. */
const PUBLIC_PATHS = new Set(["auth.register", "auth.login", "auth.refresh", "auth.logout"]);

/**
 * Puts a fresh access token in the operation's context (the HTTP link sends it as a header) and,
 * when the server answers UNAUTHORIZED, refreshes once and tries once more.
 */
export function authLink(store: SessionStore): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        let inner: Unsubscribable | undefined;
        let stopped = false;
        const attempt = (isRetry: boolean) => {
          if (PUBLIC_PATHS.has(op.path)) {
            inner = next(op).subscribe(observer);
            return;
          }
          store.accessToken().then(
            (token) => {
              if (stopped) return;
              inner = next({ ...op, context: { ...op.context, token } }).subscribe({
                next: (v) => observer.next(v),
                complete: () => observer.complete(),
                error: (err) => {
                  if (!isRetry && token && errorFacts(err).code === "UNAUTHORIZED") {
                    store.rejected(token);
                    attempt(true);
                  } else observer.error(err);
                },
              });
            },
            (err: unknown) => observer.error(TRPCClientError.from(err instanceof Error ? err : new Error(String(err)))),
          );
        };
        attempt(false);
        return () => {
          stopped = true;
          inner?.unsubscribe();
        };
      });
}

/** Tells the connection monitor whether HTTP calls reach the server. */
export function reachabilityLink(monitor: ConnectionMonitor): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) =>
        next(op).subscribe({
          next: (v) => {
            monitor.httpOk();
            observer.next(v);
          },
          complete: () => observer.complete(),
          error: (err) => {
            if (errorFacts(err).unreachable) monitor.httpFailed();
            else monitor.httpOk();
            observer.error(err);
          },
        }),
      );
}

/** The token the auth link chose for an operation. */
export function tokenOf(context: Record<string, unknown>): string | undefined {
  return typeof context.token === "string" ? context.token : undefined;
}
