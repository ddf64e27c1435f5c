export type ConnectionStatus = "connected" | "reconnecting" | "offline";

/** The wsClient's connectionState, as far as we read it. */
interface SocketState {
  state: "idle" | "connecting" | "pending";
  error: unknown;
}
interface Subscribable<T> {
  subscribe(observer: { next: (value: T) => void }): { unsubscribe(): void };
}

/** A short blip (the socket following a new token) stays invisible; longer trouble is shown. */
const SHOW_RECONNECTING_AFTER_MS = 2000;
/** Trouble this long means the server is unreachable: shown as offline (still retrying). */
const OFFLINE_AFTER_MS = 10_000;

/**
 * One connection state for the whole app, from three sources: the browser's online flag, the
 * WebSocket's state, and whether HTTP calls reach the server. While HTTP calls fail, it probes
 * /healthz with a growing delay and tells listeners when the server answers again.
 */
export class ConnectionMonitor {
  private browserOffline = typeof navigator !== "undefined" && navigator.onLine === false;
  private socketTrouble = false;
  private httpTrouble = false;
  private troubleSince: number | null = null;
  private shown: ConnectionStatus;
  private readonly listeners = new Set<() => void>();
  private readonly recoveryListeners = new Set<() => void>();
  private tick: ReturnType<typeof setTimeout> | undefined;
  private probe: ReturnType<typeof setTimeout> | undefined;
  private probeDelay = 1000;

  constructor(private readonly healthUrl = "/healthz") {
    this.shown = this.browserOffline ? "offline" : "connected";
    window.addEventListener("online", () => {
      this.browserOffline = false;
      if (this.httpTrouble) this.scheduleProbe(0);
      this.update();
    });
    window.addEventListener("offline", () => {
      this.browserOffline = true;
      this.update();
    });
    // Say so at once when the server is down as the page opens (before any call is made).
    void fetch(this.healthUrl, { cache: "no-store" }).then(
      (res) => (res.ok ? undefined : this.httpFailed()),
      () => this.httpFailed(),
    );
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): ConnectionStatus => this.shown;

  /** Called when the server can be reached again after trouble (to refetch what failed). */
  onRecovered(listener: () => void): () => void {
    this.recoveryListeners.add(listener);
    return () => this.recoveryListeners.delete(listener);
  }

  watchSocket(states: Subscribable<SocketState>): void {
    states.subscribe({
      next: (s) => {
        const trouble = s.state === "connecting" && s.error != null;
        if (s.state === "pending") this.httpOk();
        if (trouble !== this.socketTrouble) {
          this.socketTrouble = trouble;
          this.update();
        }
      },
    });
  }

  httpOk(): void {
    if (!this.httpTrouble) return;
    this.httpTrouble = false;
    clearTimeout(this.probe);
    this.probeDelay = 1000;
    this.update();
    for (const l of this.recoveryListeners) l();
  }

  httpFailed(): void {
    if (this.httpTrouble) return;
    this.httpTrouble = true;
    this.scheduleProbe(this.probeDelay);
    this.update();
  }

  private scheduleProbe(delay: number): void {
    clearTimeout(this.probe);
    this.probe = setTimeout(async () => {
      try {
        const res = await fetch(this.healthUrl, { cache: "no-store" });
        if (res.ok) return this.httpOk();
      } catch {
        // still unreachable
      }
      this.probeDelay = Math.min(this.probeDelay * 2, 15_000);
      if (this.httpTrouble) this.scheduleProbe(this.probeDelay);
    }, delay);
  }

  private update(): void {
    clearTimeout(this.tick);
    const trouble = this.socketTrouble || this.httpTrouble;
    if (!trouble) this.troubleSince = null;
    else this.troubleSince ??= Date.now();
    let next: ConnectionStatus = "connected";
    if (this.browserOffline) next = "offline";
    else if (this.troubleSince !== null) {
      const age = Date.now() - this.troubleSince;
      // An HTTP call that found no server is news at once; a socket blip is given a moment.
      if (age >= OFFLINE_AFTER_MS) next = "offline";
      else if (this.httpTrouble || age >= SHOW_RECONNECTING_AFTER_MS) next = "reconnecting";
      else next = this.shown === "connected" ? "connected" : this.shown;
      const wait = age < SHOW_RECONNECTING_AFTER_MS ? SHOW_RECONNECTING_AFTER_MS - age : OFFLINE_AFTER_MS - age;
      if (wait > 0) this.tick = setTimeout(() => this.update(), wait);
    }
    if (next !== this.shown) {
      this.shown = next;
      for (const l of this.listeners) l();
    }
  }
}
