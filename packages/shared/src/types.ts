/** The shapes every client sees. Times are ISO-8601 strings, so JSON needs no transformer. */

export interface User {
  id: number;
  login: string;
  email: string;
}

export interface Session {
  user: User;
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: string;
}

export interface Room {
  id: string;
  name: string;
  ownerId: number;
  maxMembers: number;
  memberCount: number;
  createdAt: string;
}

/**
 * What a timeline item is. "text" is a chat message; the others are membership events, stored in
 * the same ordered stream with their own seq: "join", "leave", "kick" (removed by the owner, may
 * rejoin), "ban" (removed and barred) and "owner" (ownership passed to subjectId).
 */
export const TIMELINE_KINDS = ["text", "join", "leave", "kick", "ban", "owner"] as const;
export type TimelineKind = (typeof TIMELINE_KINDS)[number];

export interface Message {
  roomId: string;
  seq: number;
  /** Who wrote it, or who acted (the member who joined or left, the owner who kicked). */
  senderId: number;
  senderLogin: string;
  /** The latest text; "" for a deleted message and for membership events. */
  text: string;
  createdAt: string;
  clientMsgId: string | null;
  kind: TimelineKind;
  /** Set once the message has been edited (the time of the latest edit). */
  editedAt: string | null;
  /** Set when the message was deleted: it stays as a tombstone with empty text. */
  deletedAt: string | null;
  /** The member a membership event is about (the kicked, banned or new owner); else null. */
  subjectId: number | null;
  subjectLogin: string | null;
}

/** An edit, as an event of its own in the ordered stream (seq) that changes message targetSeq. */
export interface MessageEdit {
  roomId: string;
  seq: number;
  targetSeq: number;
  text: string;
  editedAt: string;
  senderId: number;
}

/** A deletion, as an event of its own in the ordered stream (seq) of message targetSeq. */
export interface MessageDelete {
  roomId: string;
  seq: number;
  targetSeq: number;
  deletedAt: string;
  /** The author, or the room owner deleting as moderator. */
  senderId: number;
}

/** A member who is online in a room: at least one live subscription (tRPC or legacy socket). */
export interface PresenceMember {
  userId: number;
  login: string;
}

/**
 * The room's stream. Stored events (message, edit, delete) are tracked with their own seq;
 * presence and typing are ephemeral (never stored, never replayed) and are tracked with the seq
 * of the last stored event before them, so resuming from any id loses nothing.
 */
export type RoomEvent =
  | { type: "message"; message: Message }
  | { type: "edit"; edit: MessageEdit }
  | { type: "delete"; delete: MessageDelete }
  | { type: "removed" }
  /** The first event of every subscription: who is online now. */
  | { type: "presence"; online: PresenceMember[] }
  /** A member came online or went offline. */
  | { type: "presence.change"; userId: number; login: string; online: boolean }
  /** Someone else is typing (never the subscriber); shown until expiresInMs passes or they send. */
  | { type: "typing"; userId: number; login: string; typing: boolean; expiresInMs: number };

export interface HistoryPage {
  messages: Message[];
  hasMore: boolean;
}

export type MemberRole = "owner" | "member";

export interface RoomMember {
  userId: number;
  login: string;
  role: MemberRole;
  joinedAt: string;
  /** The last seq this member has read (their read marker). */
  lastReadSeq: number;
  online: boolean;
}

/** room.list's item: the room, the newest message and what the caller has not read yet. */
export interface RoomSummary extends Room {
  /** The newest chat message that is not deleted, or null. */
  lastMessage: Message | null;
  /** The room's newest seq (any event). */
  lastSeq: number;
  /** The caller's read marker. */
  lastReadSeq: number;
  /** Chat messages from others after the read marker (capped, see LIMITS.unreadCountMax). */
  unreadCount: number;
  /** The newest chat message's time, or the room's creation: the list's order, newest first. */
  lastActivityAt: string;
}

export interface BannedUser {
  userId: number;
  login: string;
  bannedAt: string;
}

export interface ReadMarker {
  roomId: string;
  lastReadSeq: number;
  unreadCount: number;
}

/**
 * room.onActivity: what changes the caller's room list, across all of their rooms.
 * "message" is a new chat message (the client bumps the room, and counts it unread unless it is
 * its own); "read" is the caller's read marker moving (from any device); "joined" a room the
 * caller now belongs to; "left" a room the caller no longer belongs to (left, kicked, banned or
 * removed); "changed" a room whose summary should be read again (an edit or a deletion).
 */
export type ActivityEvent =
  | { type: "message"; roomId: string; message: Message }
  | { type: "read"; marker: ReadMarker }
  | { type: "joined"; room: RoomSummary }
  | { type: "left"; roomId: string; reason: "left" | "kick" | "ban" | "removed" }
  | { type: "changed"; roomId: string };
