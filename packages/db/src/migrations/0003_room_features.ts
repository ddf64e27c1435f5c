import { sql, type Kysely } from "kysely";

// Frozen. Room features: membership events, edits and deletions as rows of the ordered stream;
// read markers; bans; the activity order of the room list; presence across replicas.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("messages")
    // text | join | leave | kick | ban | owner | edit | delete
    .addColumn("kind", "text", (c) => c.notNull().defaultTo("text"))
    .addColumn("target_seq", "integer")
    .addColumn("subject_id", "integer")
    .addColumn("subject_login", "text")
    .addColumn("edited_at", "timestamptz")
    .addColumn("deleted_at", "timestamptz")
    .execute();
  await sql`alter table messages add constraint messages_kind_check
    check (kind in ('text','join','leave','kick','ban','owner','edit','delete'))`.execute(db);
  // Edits and deletions of one message, found when it is deleted (to erase earlier texts).
  await sql`create index messages_target_idx on messages (room_id, target_seq) where target_seq is not null`.execute(db);

  await db.schema
    .alterTable("rooms")
    .addColumn("last_activity_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`update rooms set last_activity_at = coalesce(
    (select max(created_at) from messages where messages.room_id = rooms.id), rooms.created_at)`.execute(db);

  await db.schema
    .alterTable("room_members")
    .addColumn("last_read_seq", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`update room_members set last_read_seq = rooms.last_seq from rooms where rooms.id = room_members.room_id`.execute(db);

  await db.schema
    .createTable("room_bans")
    .addColumn("room_id", "text", (c) => c.notNull().references("rooms.id").onDelete("cascade"))
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("banned_by", "integer", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("room_bans_pkey", ["room_id", "user_id"])
    .execute();

  // One row per (room, user, process) with live connections; seen_at is refreshed by a heartbeat
  // so a process that dies without cleaning up stops counting after a TTL.
  await db.schema
    .createTable("room_presence")
    .addColumn("room_id", "text", (c) => c.notNull().references("rooms.id").onDelete("cascade"))
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("instance_id", "text", (c) => c.notNull())
    .addColumn("seen_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("room_presence_pkey", ["room_id", "user_id", "instance_id"])
    .execute();
  await db.schema.createIndex("room_presence_instance_idx").on("room_presence").column("instance_id").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("room_presence").execute();
  await db.schema.dropTable("room_bans").execute();
  await db.schema.alterTable("room_members").dropColumn("last_read_seq").execute();
  await db.schema.alterTable("rooms").dropColumn("last_activity_at").execute();
  await sql`drop index messages_target_idx`.execute(db);
  await sql`alter table messages drop constraint messages_kind_check`.execute(db);
  await db.schema
    .alterTable("messages")
    .dropColumn("kind")
    .dropColumn("target_seq")
    .dropColumn("subject_id")
    .dropColumn("subject_login")
    .dropColumn("edited_at")
    .dropColumn("deleted_at")
    .execute();
}
