import { useSyncExternalStore } from "react";
import type { ConnectionMonitor, ConnectionStatus as Status } from "../lib/connection";

const LABEL: Record<Status, string> = {
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

export function useConnectionStatus(monitor: ConnectionMonitor): Status {
  return useSyncExternalStore(monitor.subscribe, monitor.getSnapshot);
}

/** A dot and a word (colour is never the only signal), announced politely when it changes. */
export function ConnectionStatus({ monitor }: { monitor: ConnectionMonitor }) {
  const status = useConnectionStatus(monitor);
  return (
    <p className={`conn conn-${status}`} role="status" aria-live="polite" data-testid="connection-status" data-status={status}>
      <span className="conn-dot" aria-hidden="true" />
      <span>{LABEL[status]}</span>
    </p>
  );
}

/** The explanation under the header while the server cannot be reached. */
export function OfflineBanner({ monitor }: { monitor: ConnectionMonitor }) {
  const status = useConnectionStatus(monitor);
  if (status === "connected") return null;
  return (
    <div className={`banner banner-${status}`} role="status">
      {status === "offline"
        ? "You're offline: the server can't be reached. AnonChat keeps retrying and catches up when it's back."
        : "Connection lost. Reconnecting… messages that arrive meanwhile will appear when it's back."}
    </div>
  );
}
