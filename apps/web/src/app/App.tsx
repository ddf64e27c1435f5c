import { QueryClientProvider, useMutation, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useState, useSyncExternalStore } from "react";
import type { User } from "@anonchat/shared";
import { ConnectionStatus, OfflineBanner } from "../components/ConnectionStatus";
import { AuthScreen } from "../features/auth/AuthScreen";
import { RoomRoute } from "../features/room/RoomRoute";
import { Lobby } from "../features/rooms/Lobby";
import { RoomList } from "../features/rooms/RoomList";
import { useRoomActivity } from "../features/rooms/useRoomActivity";
import type { ConnectionMonitor } from "../lib/connection";
import type { SessionStore } from "../lib/session";
import { TRPCProvider, useTRPC, type createApiClient } from "../lib/trpc";
import { navigate, useRoute } from "./router";

export interface AppDeps {
  store: SessionStore;
  monitor: ConnectionMonitor;
  api: ReturnType<typeof createApiClient>;
  queryClient: QueryClient;
}

export function App(deps: AppDeps) {
  return (
    <QueryClientProvider client={deps.queryClient}>
      <TRPCProvider trpcClient={deps.api.client} queryClient={deps.queryClient}>
        <Shell {...deps} />
      </TRPCProvider>
    </QueryClientProvider>
  );
}

function Shell({ store, monitor }: AppDeps) {
  const { user, notice } = useSyncExternalStore(store.subscribe, store.getSnapshot);
  const route = useRoute();

  return (
    <div className="app">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <a
          href="/"
          className="brand"
          onClick={(e) => {
            e.preventDefault();
            navigate("/");
          }}
        >
          <img src="/favicon.svg" alt="" width="24" height="24" />
          AnonChat
        </a>
        <ConnectionStatus monitor={monitor} />
        {user ? <Account user={user} store={store} /> : null}
      </header>
      <OfflineBanner monitor={monitor} />
      {user ? (
        <SignedIn key={user.id} user={user} store={store} monitor={monitor} />
      ) : (
        <AuthScreen store={store} notice={notice} pendingRoom={route.name === "room"} />
      )}
    </div>
  );
}

function Account({ user, store }: { user: User; store: SessionStore }) {
  const trpc = useTRPC();
  const logout = useMutation(trpc.auth.logout.mutationOptions());
  async function logOut() {
    const refreshToken = store.refreshToken;
    // Revoke on the server when it answers quickly; sign out here regardless.
    if (refreshToken) {
      await Promise.race([logout.mutateAsync({ refreshToken }).catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
    }
    store.signOut("You're logged out.");
    navigate("/");
  }
  return (
    <div className="account">
      <span className="who">
        <span className="muted who-label">Signed in as</span> <strong>{user.login}</strong>
      </span>
      <button type="button" className="btn btn-small" onClick={logOut} disabled={logout.isPending}>
        Log out
      </button>
    </div>
  );
}

function SignedIn({ user, store, monitor }: { user: User; store: SessionStore; monitor: ConnectionMonitor }) {
  const route = useRoute();
  const queryClient = useQueryClient();
  const [flash, setFlash] = useState<string | null>(null);
  const onFlash = useCallback((text: string) => setFlash(text), []);
  useRoomActivity(user.id, route.name === "room" ? route.roomId : undefined, store);

  useEffect(() => monitor.onRecovered(() => void queryClient.invalidateQueries()), [monitor, queryClient]);
  // A flash belongs to the screen it was shown on.
  useEffect(() => {
    if (route.name !== "home") setFlash(null);
  }, [route.name]);

  if (route.name === "home") return <Lobby flash={flash} myId={user.id} />;
  if (route.name === "badLink") {
    return (
      <main id="main" className="lobby">
        <div className="card">
          <h1>Nothing here</h1>
          <p>This address doesn't point to a room. Room links look like …/r/ followed by the room id.</p>
          <button type="button" className="btn btn-primary" onClick={() => navigate("/")}>
            Back to my rooms
          </button>
        </div>
      </main>
    );
  }
  return (
    <div className="with-sidebar">
      <aside className="sidebar card" aria-label="My rooms">
        <RoomList activeRoomId={route.roomId} myId={user.id} />
        <button type="button" className="btn btn-block" onClick={() => navigate("/")}>
          New or join room
        </button>
      </aside>
      <main id="main" className="room-main">
        <RoomRoute key={route.roomId} roomId={route.roomId} user={user} store={store} monitor={monitor} onFlash={onFlash} />
      </main>
    </div>
  );
}
