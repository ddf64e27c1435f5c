import type { Session, User } from "@anonchat/shared";
import { errorFacts } from "./errors";
import { SessionStorage, STORAGE_KEY, type Stored } from "./session-storage";
import { localExpiry, refreshMargin } from "./token-clock";

const LOCK_NAME = "anonchat.session.refresh";
export const SESSION_ENDED = "Your session has ended. Please log in again.";

export interface SessionSnapshot {
  user: User | null;
  /** Why the user was signed out, shown on the login screen. */
  notice: string | null;
}

/** Thrown to calls waiting for a token when the session can no longer be refreshed. */
export class SessionEndedError extends Error {
  override readonly name = "SessionEndedError";
  constructor() {
    super(SESSION_ENDED);
  }
}

type Refresher = (refreshToken: string) => Promise<Session>;

/**
 * The signed-in session, kept in the browser so a reload stays signed in. Hands out access tokens
 * that are good for a while longer: it refreshes ahead of expiry (on a timer and on demand), and
 * once more when the server refuses a token. One refresh runs at a time, in this tab (a shared
 * promise) and across tabs (a Web Lock, under which a tab that finds a newer pair saved by another
 * adopts it instead of spending its own refresh token, whose reuse would revoke the session).
 */
export class SessionStore {
  private state: Stored | null;
  private snapshot: SessionSnapshot;
  private refreshing: Promise<void> | null = null;
  private forceRefresh = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<() => void>();
  private refresher: Refresher | undefined;
  private readonly storage: SessionStorage;

  constructor(local: Storage = window.localStorage) {
    this.storage = new SessionStorage(local);
    this.state = this.storage.readSync();
    this.snapshot = { user: this.state?.session.user ?? null, notice: null };
    window.addEventListener("storage", (e) => {
      if (e.key === STORAGE_KEY || e.key === null) this.adoptFrom(this.storage.readSync());
    });
    this.schedule();
  }

  setRefresher(fn: Refresher): void {
    this.refresher = fn;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): SessionSnapshot => this.snapshot;

  get refreshToken(): string | null {
    return this.state?.session.refreshToken ?? null;
  }

  signIn(session: Session): void {
    void this.accept(session, Date.now());
  }

  /** Forgets the session here (and in other tabs, through storage). */
  signOut(notice: string | null = null): void {
    this.state = null;
    this.forceRefresh = false;
    clearTimeout(this.timer);
    void this.storage.save(null);
    this.publish(notice);
  }

  /** An access token with some life left, refreshing first if needed; null when signed out. */
  async accessToken(): Promise<string | null> {
    if (this.state && (this.forceRefresh || this.expiresSoon(this.state))) await this.refresh();
    return this.state?.session.accessToken ?? null;
  }

  /**
   * The server refused this token (UNAUTHORIZED, or a socket closed with 4401): the next request
   * refreshes first, unless the token was already replaced. Without a token, always.
   */
  rejected(token?: string): void {
    if (this.state && (token === undefined || this.state.session.accessToken === token)) this.forceRefresh = true;
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.lockedRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async lockedRefresh(): Promise<void> {
    const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
    if (locks) await locks.request(LOCK_NAME, () => this.refreshNow());
    else await this.refreshNow();
  }

  private async refreshNow(): Promise<void> {
    const mine = this.state;
    if (!mine) return;
    const latest = await this.storage.readLatest();
    // Signed out in another tab (both copies agree; a lost write must not sign us out).
    if (!latest && !this.storage.readSync() && this.storage.persisted) return this.signOut(null);
    if (latest && latest.session.refreshToken !== mine.session.refreshToken && this.isNewer(latest, mine)) {
      // Another tab refreshed: its pair is the live one, and ours is spent.
      this.adopt(latest);
      if (!this.expiresSoon(latest)) return;
    }
    const current = this.state;
    if (!current || !this.refresher) return;
    let next: Session;
    const startedAt = Date.now();
    try {
      next = await this.refresher(current.session.refreshToken);
    } catch (err) {
      if (errorFacts(err).code === "UNAUTHORIZED") {
        this.signOut(SESSION_ENDED);
        throw new SessionEndedError();
      }
      throw err;
    }
    // Signed out (or switched user) meanwhile: the answer is for a session we no longer hold.
    if (this.state?.session.refreshToken !== current.session.refreshToken) return;
    // Saved (IndexedDB committed) before the lock is released, so the next tab sees it.
    await this.accept(next, startedAt);
  }

  private async accept(session: Session, receivedAt: number): Promise<void> {
    const expiresAt = localExpiry(session.accessToken, session.accessTokenExpiresAt, receivedAt);
    const stored: Stored = { session, expiresAt, lifetime: Math.max(0, expiresAt - receivedAt) };
    this.adopt(stored);
    await this.storage.save(stored);
  }

  private adopt(stored: Stored): void {
    this.state = stored;
    this.forceRefresh = false;
    this.schedule();
    this.publish(null);
  }

  /** Another tab saved (or cleared) the session. */
  private adoptFrom(stored: Stored | null): void {
    if (!stored) {
      if (this.state && this.storage.persisted) this.signOut(null);
      return;
    }
    if (stored.session.refreshToken === this.state?.session.refreshToken) return;
    // A late event about an older pair (this tab has refreshed since) is not news.
    if (this.state && !this.isNewer(stored, this.state)) return;
    this.adopt(stored);
  }

  /** Another user's session always replaces ours; our own only by a later pair. */
  private isNewer(candidate: Stored, current: Stored): boolean {
    return candidate.session.user.id !== current.session.user.id || candidate.expiresAt >= current.expiresAt;
  }

  private expiresSoon(s: Stored): boolean {
    return s.expiresAt - Date.now() < refreshMargin(s.lifetime);
  }

  /** Refreshes ahead of expiry even when nothing is being called, so a live socket never waits. */
  private schedule(): void {
    clearTimeout(this.timer);
    const s = this.state;
    if (!s) return;
    // A little earlier by a random amount, so tabs rarely contend for the lock at the same moment.
    const margin = refreshMargin(s.lifetime);
    const delay = Math.max(0, s.expiresAt - margin - Math.random() * (margin / 3) - Date.now());
    this.timer = setTimeout(() => {
      this.accessToken().catch((err: unknown) => {
        // Unreachable server: try again shortly; an ended session has already signed out.
        if (!(err instanceof SessionEndedError) && this.state) this.timer = setTimeout(() => this.schedule(), 3000);
      });
    }, Math.min(delay, 2 ** 31 - 1));
  }

  private publish(notice: string | null): void {
    const user = this.state?.session.user ?? null;
    if (user?.id === this.snapshot.user?.id && user?.login === this.snapshot.user?.login && notice === this.snapshot.notice) return;
    this.snapshot = { user, notice };
    for (const l of this.listeners) l();
  }
}
