export type { Database } from "./schema.js";
export { DatabaseConnectError, databaseAddress, openDatabase, type DatabaseHandle, type DatabaseKind, type DatabaseOptions } from "./connect.js";
export { migrateToLatest, migrateDownAll } from "./migrate.js";
export { isConnectionError, isUniqueViolation } from "./errors.js";
export * as users from "./users.repository.js";
export * as sessions from "./sessions.repository.js";
export * as rooms from "./rooms.repository.js";
export * as messages from "./messages.repository.js";
export * as edits from "./edits.repository.js";
export * as members from "./members.repository.js";
export * as presence from "./presence.repository.js";
export type { AppendInput, AppendNotice, AppendResult, StoredEvent } from "./messages.repository.js";
export type { ChangeResult } from "./edits.repository.js";
export type { ModerationResult } from "./members.repository.js";

import type { Kysely } from "kysely";
import type { Database } from "./schema.js";
/** The handle services receive; they never import kysely themselves. */
export type Db = Kysely<Database>;
export { createScratchDatabase } from "./testing.js";
export { createPgNotifier, type Notifier } from "./notify.js";
