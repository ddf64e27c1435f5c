import { createTRPCClient, createWSClient, httpBatchLink, splitLink, wsLink } from "@trpc/client";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import type { AppRouter } from "@anonchat/api";
import type { ConnectionMonitor } from "./connection";
import { authLink, reachabilityLink, tokenOf } from "./links";
import type { SessionStore } from "./session";

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

/** Close code the server uses for a socket whose token expired or was refused. */
const WS_UNAUTHORIZED = 4401;

/** Calls per HTTP batch: well within the server's MAX_BATCH_CALLS (32 by default). */
const MAX_BATCH_ITEMS = 16;

/**
 * The client recipe from the README, for the browser: queries and mutations over HTTP with a
 * fresh token per call; subscriptions over one lazy WebSocket whose connectionParams present a
 * fresh token on every (re)connect, so the socket follows token refreshes and resumes from the
 * last event id.
 */
export function createApiClient(store: SessionStore, monitor: ConnectionMonitor, origin = window.location.origin) {
  const httpUrl = `${origin}/trpc`;
  const wsUrl = httpUrl.replace(/^http/, "ws");

  const anonymous = createTRPCClient<AppRouter>({
    links: [reachabilityLink(monitor), httpBatchLink({ url: httpUrl, maxItems: MAX_BATCH_ITEMS })],
  });
  store.setRefresher((refreshToken) => anonymous.auth.refresh.mutate({ refreshToken }));

  let socketToken: string | null = null;
  const wsClient = createWSClient({
    url: wsUrl,
    lazy: { enabled: true, closeMs: 1500 },
    connectionParams: async () => {
      socketToken = await store.accessToken();
      return socketToken ? { token: socketToken } : {};
    },
    // First retry at once (a closed-on-expiry socket comes straight back), then back off.
    retryDelayMs: (attempt) => (attempt === 0 ? 0 : Math.min(500 * 2 ** (attempt - 1), 10_000)),
    onClose: (cause) => {
      if (cause?.code === WS_UNAUTHORIZED && socketToken) store.rejected(socketToken);
    },
  });
  monitor.watchSocket(wsClient.connectionState);

  const client = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: wsLink({ client: wsClient }),
        false: [
          authLink(store),
          reachabilityLink(monitor),
          httpBatchLink({
            url: httpUrl,
            maxItems: MAX_BATCH_ITEMS,
            headers: ({ opList }) => {
              const token = opList.map((op) => tokenOf(op.context)).find((t) => t !== undefined);
              return token ? { Authorization: `Bearer ${token}` } : {};
            },
          }),
        ],
      }),
    ],
  });

  return { client, anonymous, wsClient };
}

export type ApiClient = ReturnType<typeof createApiClient>["client"];
