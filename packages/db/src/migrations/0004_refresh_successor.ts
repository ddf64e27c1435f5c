import type { Kysely } from "kysely";

// Frozen. A rotated refresh token remembers its successor, for the reuse grace: by hash, to tell
// whether the successor has been rotated in turn, and sealed (AES-256-GCM under a key derived from
// the rotated token, which only its holder has) so a holder who presents the rotated token again
// moments later can be handed that same successor. The server still stores no usable token.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("refresh_tokens")
    .addColumn("successor_hash", "text")
    .addColumn("successor_sealed", "text")
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("refresh_tokens").dropColumn("successor_sealed").dropColumn("successor_hash").execute();
}
