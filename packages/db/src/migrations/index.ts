import type { Migration, MigrationProvider } from "kysely/migration";
import * as m0001 from "./0001_init.js";
import * as m0002 from "./0002_rate_limits.js";
import * as m0003 from "./0003_room_features.js";
import * as m0004 from "./0004_refresh_successor.js";
import * as m0005 from "./0005_append_messages.js";

/** Numbered migrations, listed statically so they work from source, a bundle, or a container. */
const MIGRATIONS: Record<string, Migration> = {
  "0001_init": m0001,
  "0002_rate_limits": m0002,
  "0003_room_features": m0003,
  "0004_refresh_successor": m0004,
  "0005_append_messages": m0005,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
