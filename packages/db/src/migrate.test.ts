import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { migrateDownAll, migrateToLatest } from "./migrate.js";
import { openDatabase, type DatabaseHandle } from "./connect.js";

describe("migrations", () => {
  let h: DatabaseHandle;
  beforeAll(async () => {
    h = await openDatabase({ dataDir: "memory" });
  });
  afterAll(async () => {
    await h.close();
  });

  const tables = async () =>
    (
      await sql<{ tablename: string }>`select tablename from pg_tables where schemaname = 'public' order by tablename`.execute(h.db)
    ).rows
      .map((r) => r.tablename)
      .filter((t) => !t.startsWith("kysely_"));

  it("apply, revert completely, and apply again", async () => {
    expect(await migrateToLatest(h.db)).toEqual(["Up 0001_init", "Up 0002_rate_limits", "Up 0003_room_features", "Up 0004_refresh_successor", "Up 0005_append_messages"]);
    expect(await tables()).toEqual(["messages", "rate_limits", "refresh_tokens", "room_bans", "room_members", "room_presence", "rooms", "sessions", "users"]);
    expect(await migrateToLatest(h.db)).toEqual([]);
    expect(await migrateDownAll(h.db)).toEqual(["Down 0005_append_messages", "Down 0004_refresh_successor", "Down 0003_room_features", "Down 0002_rate_limits", "Down 0001_init"]);
    expect(await tables()).toEqual([]);
    expect(await migrateToLatest(h.db)).toEqual(["Up 0001_init", "Up 0002_rate_limits", "Up 0003_room_features", "Up 0004_refresh_successor", "Up 0005_append_messages"]);
  });
});
