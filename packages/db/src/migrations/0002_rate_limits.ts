import type { Kysely } from "kysely";

// Frozen. The table rate-limiter-flexible's PostgreSQL store expects (its own DDL, made ours so
// the schema is versioned with the rest): counters shared by every replica of a limiter.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("rate_limits")
    .addColumn("key", "varchar(255)", (c) => c.primaryKey())
    .addColumn("points", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("expire", "bigint")
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("rate_limits").execute();
}
