import { Migrator, type MigrationResultSet } from "kysely/migration";
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";
import { migrationProvider } from "./migrations/index.js";

function check(result: MigrationResultSet): string[] {
  if (result.error) {
    const failed = result.results?.find((r) => r.status === "Error")?.migrationName;
    throw new Error(`migration ${failed ?? "?"} failed: ${String(result.error)}`);
  }
  return (result.results ?? []).map((r) => `${r.direction} ${r.migrationName}`);
}

const migrator = (db: Kysely<Database>) => new Migrator({ db, provider: migrationProvider });

/** Applies every pending migration; returns what ran. Safe to call from several processes at once. */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  return check(await migrator(db).migrateToLatest());
}

/** Reverts every migration (tests and operators rolling back). */
export async function migrateDownAll(db: Kysely<Database>): Promise<string[]> {
  const m = migrator(db);
  const applied: string[] = [];
  for (;;) {
    const r = await m.migrateDown();
    const ran = check(r);
    if (ran.length === 0) return applied;
    applied.push(...ran);
  }
}
