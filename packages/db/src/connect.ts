import { mkdir } from "node:fs/promises";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect, sql } from "kysely";
import { PGliteDialect } from "kysely-pglite-dialect";
import pg from "pg";
import type { Database } from "./schema.js";

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
