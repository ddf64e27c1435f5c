import { migrateToLatest, openDatabase } from "@anonchat/db";
import { loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { logStartupFailure } from "./startup-failure.js";

/** One-shot: apply pending migrations to DATABASE_URL (or the embedded database) and exit. */
async function main() {
  const config = loadConfig(process.env);
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    const applied = await migrateToLatest(database.db);
    createLogger("info").info("migrations applied", { applied });
  } finally {
    await database.close();
  }
}

main().catch((err) => {
  logStartupFailure(createLogger("info"), err);
  process.exit(1);
});
