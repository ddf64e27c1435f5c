import { mkdir } from "node:fs/promises";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect, sql } from "kysely";
import { PGliteDialect } from "kysely-pglite-dialect";
import pg from "pg";
import type { Database } from "./schema.js";

/**
 * The first connection to DATABASE_URL failed. The message names the host, port and error code,
 * never the URL itself (which holds the password).
 */
export class DatabaseConnectError extends Error {
  readonly host: string;
  readonly port: number;
  readonly code: string;
  constructor(url: string, cause: unknown) {
    const { host, port } = databaseAddress(url);
    const e = cause as { code?: unknown; message?: unknown } | null;
    const code = typeof e?.code === "string" ? e.code : "unknown";
    const detail = typeof e?.message === "string" && e.message !== "" ? `: ${e.message}` : "";
    super(`could not connect to the database at ${host}:${port} (${code})${redactUrl(detail, url)}`);
    this.name = "DatabaseConnectError";
    this.host = host;
    this.port = port;
    this.code = code;
  }
}

/** Host and port of a postgres:// URL (a ?host= socket folder or the libpq defaults when absent). */
export function databaseAddress(url: string): { host: string; port: number } {
  try {
    const u = new URL(url);
    const host = u.hostname || u.searchParams.get("host") || "localhost";
    return { host, port: Number(u.port || u.searchParams.get("port") || 5432) };
  } catch {
    return { host: "(unparsable DATABASE_URL)", port: 5432 };
  }
}

/** Removes the URL's password from text that might quote it. */
function redactUrl(text: string, url: string): string {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password ? text.split(password).join("[redacted]") : text;
  } catch {
    return text;
  }
}

export type DatabaseKind = "pglite" | "postgres";

export interface DatabaseOptions {
  /** PostgreSQL connection string; when absent the embedded PGlite is used. */
  url?: string | undefined;
  /** Folder for the embedded database; "memory" keeps it in memory (tests). */
  dataDir: string;
  /** Connection pool size for PostgreSQL. */
  poolMax?: number;
  /** Called with pool errors (a backend that died), which must never crash the process. */
  onPoolError?: (err: Error) => void;
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  kind: DatabaseKind;
  /** The raw pg pool (PostgreSQL only), for LISTEN/NOTIFY and the rate-limiter store. */
  pool?: pg.Pool;
  /** True when a trivial query succeeds: readiness. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export async function openDatabase(opts: DatabaseOptions): Promise<DatabaseHandle> {
  if (opts.url) {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolMax ?? 10,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 5_000,
    });
    pool.on("error", (err) => opts.onPoolError?.(err));
    // The pool listens for errors only on idle clients. A client checked out (mid-transaction)
    // whose connection dies emits "error" itself, and with no listener that is an uncaught
    // exception that kills the process. Its pending query rejects anyway; report and move on.
    pool.on("connect", (client) => {
      client.on("error", (err) => opts.onPoolError?.(err));
    });
    // Connect once now, so an unreachable or refusing server is reported as what it is (not as
    // a failed migration) and the process stops before it listens.
    try {
      (await pool.connect()).release();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new DatabaseConnectError(opts.url, err);
    }
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return {
      db,
      kind: "postgres",
      pool,
      ping: () => ping(db),
      close: () => db.destroy(),
    };
  }
  let pglite: PGlite;
  if (opts.dataDir === "memory") {
    pglite = await PGlite.create();
  } else {
    const dir = path.resolve(opts.dataDir, "pgdata");
    await mkdir(dir, { recursive: true });
    pglite = await PGlite.create(dir);
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    kind: "pglite",
    ping: () => ping(db),
    close: () => db.destroy(),
  };
}

async function ping(db: Kysely<Database>): Promise<boolean> {
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}
