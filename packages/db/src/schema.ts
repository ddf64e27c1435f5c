import type { ColumnType, Generated } from "kysely";

/** Row types. They stay inside this package: repositories return @anonchat/shared types. */

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export interface UsersTable {
  id: Generated<number>;
  login: string;
  email: string;
  password_hash: string;
  created_at: CreatedAt;
}

export interface SessionsTable {
  id: string;
  user_id: number;
  created_at: CreatedAt;
  expires_at: Date;
  revoked_at: Date | null;
}

export interface RefreshTokensTable {
  token_hash: string;
  session_id: string;
  created_at: CreatedAt;
  expires_at: Date;
  /** Set when the token is rotated: when, and the successor it was rotated into. */
  used_at: Date | null;
  successor_hash: string | null;
  /** The successor sealed under a key only this token's holder can derive; kept for the grace. */
  successor_sealed: string | null;
}

export interface RoomsTable {
  id: string;
  name: string;
  owner_id: number;
  max_members: number;
  member_count: number;
  last_seq: number;
  created_at: CreatedAt;
  last_activity_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface RoomMembersTable {
  room_id: string;
  user_id: number;
  via_legacy: boolean;
  joined_at: CreatedAt;
  last_read_seq: ColumnType<number, number | undefined, number>;
}

export interface MessagesTable {
  room_id: string;
  seq: number;
  sender_id: number;
  sender_login: string;
  text: string;
  client_msg_id: string | null;
  created_at: CreatedAt;
  kind: ColumnType<EventKind, EventKind | undefined, EventKind>;
  target_seq: number | null;
  subject_id: number | null;
  subject_login: string | null;
  edited_at: Date | null;
  deleted_at: Date | null;
}

export type EventKind = "text" | "join" | "leave" | "kick" | "ban" | "owner" | "edit" | "delete";

export interface RoomBansTable {
  room_id: string;
  user_id: number;
  banned_by: number;
  created_at: CreatedAt;
}

export interface RoomPresenceTable {
  room_id: string;
  user_id: number;
  instance_id: string;
  seen_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  rooms: RoomsTable;
  room_members: RoomMembersTable;
  messages: MessagesTable;
  room_bans: RoomBansTable;
  room_presence: RoomPresenceTable;
}
