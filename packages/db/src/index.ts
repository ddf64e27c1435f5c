export type { Database } from "./schema";
export { DatabaseConnectError, databaseAddress, openDatabase, type DatabaseHandle, type DatabaseKind, type DatabaseOptions } from "./connect";
export { migrateToLatest, migrateDownAll } from "./migrate";
export { isConnectionError, isUniqueViolation } from "./errors";
export * as users from "./users.repository";
export * as sessions from "./sessions.repository";
export * as rooms from "./rooms.repository";
export * as messages from "./messages.repository";
export * as edits from "./edits.repository";
export * as members from "./members.repository";
export * as presence from "./presence.repository";
export type { AppendInput, AppendNotice, AppendResult, StoredEvent } from "./messages.repository";
export type { ChangeResult } from "./edits.repository";
export type { ModerationResult } from "./members.repository";

import type { Kysely } from "kysely";
import type { Database } from "./schema";
/** The handle services receive; they never import kysely themselves. */
export type Db = Kysely<Database>;
export { createScratchDatabase } from "./testing";
export { createPgNotifier, type Notifier } from "./notify";
