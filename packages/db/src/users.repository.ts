import type { Kysely } from "kysely";
import type { User } from "@anonchat/shared";
import type { Database } from "./schema.js";
import { isUniqueViolation } from "./errors.js";

type Db = Kysely<Database>;

export type InsertUserResult = { ok: true; user: User } | { ok: false; taken: "login" | "email" };

export async function insertUser(
  db: Db,
  input: { login: string; email: string; passwordHash: string },
): Promise<InsertUserResult> {
  try {
    const row = await db
      .insertInto("users")
      .values({ login: input.login, email: input.email, password_hash: input.passwordHash })
      .returning(["id", "login", "email"])
      .executeTakeFirstOrThrow();
    return { ok: true, user: row };
  } catch (e) {
    if (isUniqueViolation(e, "users_login_lower_key")) return { ok: false, taken: "login" };
    if (isUniqueViolation(e, "users_email_key")) return { ok: false, taken: "email" };
    throw e;
  }
}

export async function findUserCredentialsByEmail(
  db: Db,
  email: string,
): Promise<{ user: User; passwordHash: string } | undefined> {
  const row = await db
    .selectFrom("users")
    .select(["id", "login", "email", "password_hash"])
    .where("email", "=", email)
    .executeTakeFirst();
  if (!row) return undefined;
  return { user: { id: row.id, login: row.login, email: row.email }, passwordHash: row.password_hash };
}

export async function findUserById(db: Db, id: number): Promise<User | undefined> {
  return db.selectFrom("users").select(["id", "login", "email"]).where("id", "=", id).executeTakeFirst();
}

export async function updatePasswordHash(db: Db, id: number, passwordHash: string): Promise<void> {
  await db.updateTable("users").set({ password_hash: passwordHash }).where("id", "=", id).execute();
}
