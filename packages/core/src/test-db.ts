import { migrateToLatest, openDatabase, users, type DatabaseHandle, type Db } from "@anonchat/db";

/** For unit tests of core against a real database: an embedded one in memory, migrated. */
export async function memoryDatabase(): Promise<DatabaseHandle> {
  const h = await openDatabase({ dataDir: "memory" });
  await migrateToLatest(h.db);
  return h;
}

export async function addUser(db: Db, login: string): Promise<number> {
  const r = await users.insertUser(db, { login, email: `${login}@x.test`, passwordHash: "h" });
  if (!r.ok) throw new Error(`could not add user ${login}`);
  return r.user.id;
}

/** Polls until ok() holds, or fails naming what it waited for. */
export async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
