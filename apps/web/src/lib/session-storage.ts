import type { Session } from "@anonchat/shared";

export interface Stored {
  session: Session;
  /** Access-token expiry on this browser's clock (epoch ms). */
  expiresAt: number;
  /** Its lifetime when received (ms), for the refresh margin. */
  lifetime: number;
}

export const STORAGE_KEY = "anonchat.session";
const DB_NAME = "anonchat";
const DB_STORE = "kv";

/**
 * Where the session is kept. localStorage is read synchronously at start and tells other tabs of
 * changes (storage events), but Chromium hands a write to other tabs' copies asynchronously: a tab
 * that takes the refresh lock right after another released it may still read the spent pair. So
 * the copy consulted under the lock is IndexedDB's, whose committed writes every tab sees at once.
 */
export class SessionStorage {
  private db: Promise<IDBDatabase | null> | undefined;
  /** False when localStorage refuses writes (then this tab alone holds the session). */
  persisted = true;

  constructor(private readonly local: Storage) {}

  /** The last session this tab's copy of localStorage knows. */
  readSync(): Stored | null {
    try {
      return parse(this.local.getItem(STORAGE_KEY));
    } catch {
      return null;
    }
  }

  /** The latest session any tab saved (IndexedDB; localStorage when it is unavailable). */
  async readLatest(): Promise<Stored | null> {
    const db = await this.open();
    if (!db) return this.readSync();
    const value = await request<unknown>(db.transaction(DB_STORE, "readonly").objectStore(DB_STORE).get(STORAGE_KEY)).catch(
      () => undefined,
    );
    return typeof value === "string" ? parse(value) : value === undefined ? this.readSync() : null;
  }

  /** Saves to both; resolves once IndexedDB has committed (before a lock may be released). */
  async save(stored: Stored | null): Promise<void> {
    const raw = stored ? JSON.stringify(stored) : null;
    try {
      if (raw) this.local.setItem(STORAGE_KEY, raw);
      else this.local.removeItem(STORAGE_KEY);
      this.persisted = true;
    } catch {
      this.persisted = false;
    }
    const db = await this.open();
    if (!db) return;
    const tx = db.transaction(DB_STORE, "readwrite");
    // A signed-out state is stored as null (not deleted), so "nothing saved yet" stays distinct.
    tx.objectStore(DB_STORE).put(raw, STORAGE_KEY);
    await new Promise<void>((resolve) => {
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => resolve();
    });
  }

  private open(): Promise<IDBDatabase | null> {
    this.db ??= new Promise((resolve) => {
      if (typeof indexedDB === "undefined") return resolve(null);
      try {
        const req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = () => req.result.createObjectStore(DB_STORE);
        req.onsuccess = () => resolve(req.result);
        req.onerror = req.onblocked = () => resolve(null);
      } catch {
        resolve(null);
      }
    });
    return this.db;
  }
}

function request<T>(req: IDBRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result as T);
    req.onerror = () => reject(req.error);
  });
}

function parse(raw: string | null): Stored | null {
  if (!raw) return null;
  try {
    const v = JSON.parse(raw) as Partial<Stored> | null;
    const s = v?.session;
    if (!s || typeof s.accessToken !== "string" || typeof s.refreshToken !== "string" || !s.user) return null;
    if (typeof v.expiresAt !== "number" || typeof v.lifetime !== "number") return null;
    return { session: s, expiresAt: v.expiresAt, lifetime: v.lifetime };
  } catch {
    return null;
  }
}
