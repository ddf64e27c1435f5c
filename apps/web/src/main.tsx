import "./zod-config";
import { QueryClient } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app/App";
import { ConnectionMonitor } from "./lib/connection";
import { errorFacts } from "./lib/errors";
import { SessionStore } from "./lib/session";
import { createApiClient } from "./lib/trpc";
import "./styles.css";

const store = new SessionStore();
const monitor = new ConnectionMonitor();
const api = createApiClient(store, monitor);
const queryClient = new QueryClient({
  defaultOptions: {
    // Only "no answer" is worth repeating at once; a refusal will not change by asking again.
    queries: { retry: (n, err) => errorFacts(err).unreachable && n < 2, staleTime: 5_000 },
    mutations: { retry: false },
  },
});

// A different user (or none): nothing of the previous one may linger, its socket included. This
// runs before React renders the change, so the next user's screens start from a clean cache.
let userId = store.getSnapshot().user?.id;
store.subscribe(() => {
  const next = store.getSnapshot().user?.id;
  if (next === userId) return;
  userId = next;
  void api.wsClient.close().catch(() => undefined);
  queryClient.clear();
});

const root = document.getElementById("root");
if (!root) throw new Error("#root is missing from index.html");
createRoot(root).render(
  <StrictMode>
    <App store={store} monitor={monitor} api={api} queryClient={queryClient} />
  </StrictMode>,
);
