import { migrateToLatest, openDatabase } from "@anonchat/db";
import { ConfigError, loadConfig } from "./config.js";

/** One-shot: apply pending migrations to DATABASE_URL (or the embedded database) and exit. */
async function main() {
  const config = loadConfig(process.env);
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    const applied = await migrateToLatest(database.db);
    process.stdout.write(`${JSON.stringify({ msg: "migrations applied", applied })}\n`);
  } finally {
    await database.close();
  }
}

main().catch((err) => {
  process.stderr.write(`migration failed: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
