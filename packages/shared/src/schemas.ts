import { z } from "zod";

/**
 * The one set of input schemas for every boundary: tRPC procedures, the /api/v1 adapter and the
 * web client all parse with these, so a rule changes in one place.
 */

export const LIMITS = {
  loginMin: 4,
  loginMax: 32,
  passwordMin: 8,
  passwordMax: 128,
  emailMax: 254,
  roomNameMax: 64,
  maxMembersMin: 1,
  maxMembersMax: 1000,
  messageTextMax: 4000,
  clientMsgIdMax: 64,
  historyDefault: 50,
  historyMax: 100,
  /** room.list counts unread messages up to this many (a client shows "999+"). */
  unreadCountMax: 999,
} as const;

export const ROOM_ID_PATTERN = /^[A-Za-z0-9]{16,20}$/;

/** seq is a PostgreSQL integer: larger values are refused at the edge, not by the database. */
export const MAX_SEQ = 2_147_483_647;

/** Characters as people count them (code points), not UTF-16 units: an emoji is one. */
export function charCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** An unpaired UTF-16 surrogate: it has no UTF-8 form, so it would be stored as U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * What the database can store exactly: PostgreSQL text holds no NUL, and a lone surrogate would
 * come back as U+FFFD (two different inputs becoming one). Refused with a message naming the field.
 */
const noNul = (field: string) =>
  [
    (s: string) => !s.includes("\u0000") && !LONE_SURROGATE.test(s),
    `${field} must be valid text (no NUL characters or unpaired surrogates)`,
  ] as const;

const maxChars = (field: string, max: number) =>
  [(s: string) => s.length <= max || charCount(s) <= max, `${field} must be at most ${max} characters`] as const;

export const loginSchema = z
  .string({ error: "login is required" })
  .regex(/^[A-Za-z0-9_-]{4,32}$/, "login must be 4 to 32 characters of letters, digits, _ or -");

export const emailSchema = z
  .string({ error: "email is required" })
  .trim()
  .max(LIMITS.emailMax, `email must be at most ${LIMITS.emailMax} characters`)
  .regex(/^[^\s@]+@[^\s@]+$/, "email must be an address like name@example.com")
  .refine(...noNul("email"))
  .transform((s) => s.toLowerCase());

export const passwordSchema = z
  .string({ error: "password is required" })
  .min(LIMITS.passwordMin, `password must be at least ${LIMITS.passwordMin} characters`)
  .max(LIMITS.passwordMax, `password must be at most ${LIMITS.passwordMax} characters`)
  .refine(...noNul("password"));

export const refreshTokenSchema = z
  .string({ error: "refresh token is required" })
  .min(1, "refresh token is required")
  .max(256, "refresh token is malformed");

export const roomIdSchema = z
  .string({ error: "roomId is required" })
  .regex(ROOM_ID_PATTERN, "roomId must be 16 to 20 letters or digits");

export const roomNameSchema = z
  .string({ error: "name is required" })
  .trim()
  .min(1, "name must not be empty")
  .refine(...maxChars("name", LIMITS.roomNameMax))
  .refine(...noNul("name"));

export const maxMembersSchema = z
  .number({ error: "maxMembers must be an integer" })
  .int("maxMembers must be an integer")
  .min(LIMITS.maxMembersMin, `maxMembers must be at least ${LIMITS.maxMembersMin}`)
  .max(LIMITS.maxMembersMax, `maxMembers must be at most ${LIMITS.maxMembersMax}`);

export const messageTextSchema = z
  .string({ error: "text is required" })
  .trim()
  .min(1, "text must not be empty")
  .refine(...maxChars("text", LIMITS.messageTextMax))
  .refine(...noNul("text"));

export const clientMsgIdSchema = z
  .string({ error: "clientMsgId must be a string" })
  .min(1, "clientMsgId must not be empty")
  .max(LIMITS.clientMsgIdMax, `clientMsgId must be at most ${LIMITS.clientMsgIdMax} characters`)
  .refine(...noNul("clientMsgId"));

export const seqSchema = z
  .number({ error: "beforeSeq must be an integer" })
  .int("beforeSeq must be an integer")
  .min(1, "beforeSeq must be at least 1")
  .max(MAX_SEQ, `beforeSeq must be at most ${MAX_SEQ}`);

// ---- auth ----
export const registerInput = z.object({
  login: loginSchema,
  email: emailSchema,
  password: passwordSchema,
});
export const loginInput = z.object({
  email: emailSchema,
  // Login does not enforce the minimum (old accounts), only the bound that protects the hasher.
  password: z
    .string({ error: "password is required" })
    .min(1, "password is required")
    .max(LIMITS.passwordMax, `password must be at most ${LIMITS.passwordMax} characters`),
});
export const refreshInput = z.object({ refreshToken: refreshTokenSchema });
export const logoutInput = refreshInput;

// ---- rooms ----
export const roomCreateInput = z.object({ name: roomNameSchema, maxMembers: maxMembersSchema });
export const roomIdInput = z.object({ roomId: roomIdSchema });
export const roomHistoryInput = z.object({
  roomId: roomIdSchema,
  beforeSeq: seqSchema.optional(),
  limit: z
    .number({ error: "limit must be an integer" })
    .int("limit must be an integer")
    .min(1, "limit must be at least 1")
    .max(LIMITS.historyMax, `limit must be at most ${LIMITS.historyMax}`)
    .default(LIMITS.historyDefault),
});
export const roomSendInput = z.object({
  roomId: roomIdSchema,
  text: messageTextSchema,
  clientMsgId: clientMsgIdSchema.optional(),
});
export const roomOnMessageInput = z.object({
  roomId: roomIdSchema,
  // tRPC's tracked() ids are strings; ours are the decimal seq.
  lastEventId: z
    .string()
    .regex(/^\d{1,10}$/, "lastEventId must be a message seq")
    .refine((s) => Number(s) <= MAX_SEQ, "lastEventId must be a message seq")
    .nullish(),
});

// ---- room features: edits, moderation, read markers, typing ----
const positiveSeq = (field: string) =>
  z
    .number({ error: `${field} must be an integer` })
    .int(`${field} must be an integer`)
    .min(1, `${field} must be at least 1`)
    .max(MAX_SEQ, `${field} must be at most ${MAX_SEQ}`);

export const userIdSchema = z
  .number({ error: "userId must be an integer" })
  .int("userId must be an integer")
  .min(1, "userId must be at least 1")
  .max(MAX_SEQ, `userId must be at most ${MAX_SEQ}`);

export const messageEditInput = z.object({ roomId: roomIdSchema, seq: positiveSeq("seq"), text: messageTextSchema });
export const messageDeleteInput = z.object({ roomId: roomIdSchema, seq: positiveSeq("seq") });
export const memberInput = z.object({ roomId: roomIdSchema, userId: userIdSchema });
export const roomMarkReadInput = z.object({ roomId: roomIdSchema, seq: positiveSeq("seq") });
export const roomTypingInput = z.object({
  roomId: roomIdSchema,
  typing: z.boolean({ error: "typing must be true or false" }).default(true),
});

// ---- /api/v1 bodies (the original's field names) ----
export const legacyRegisterBody = registerInput;
export const legacyLoginBody = loginInput;
export const legacyTokenBody = z.object({ token: refreshTokenSchema });
export const legacyCreateRoomBody = z.object({
  name: roomNameSchema,
  max_user: z
    .number({ error: "max_user must be an integer" })
    .int("max_user must be an integer")
    .min(LIMITS.maxMembersMin, `max_user must be at least ${LIMITS.maxMembersMin}`)
    .max(LIMITS.maxMembersMax, `max_user must be at most ${LIMITS.maxMembersMax}`),
});
export const legacyRoomIdBody = z.object({
  room_id: z.string({ error: "room_id is required" }).regex(ROOM_ID_PATTERN, "room_id must be 16 to 20 letters or digits"),
});
/** The owner's actions on a member, in the original's snake_case (ours: the original had none). */
export const legacyMemberBody = z.object({
  room_id: legacyRoomIdBody.shape.room_id,
  user_id: z
    .number({ error: "user_id must be an integer" })
    .int("user_id must be an integer")
    .min(1, "user_id must be at least 1")
    .max(MAX_SEQ, `user_id must be at most ${MAX_SEQ}`),
});
export const legacySocketQuery = z.object({
  room: z.string().regex(ROOM_ID_PATTERN),
  token: z.string().min(1).max(4096),
});

export type RegisterInput = z.infer<typeof registerInput>;
export type LoginInput = z.infer<typeof loginInput>;
export type RoomCreateInput = z.infer<typeof roomCreateInput>;
export type RoomHistoryInput = z.infer<typeof roomHistoryInput>;
export type RoomSendInput = z.infer<typeof roomSendInput>;
export type MessageEditInput = z.infer<typeof messageEditInput>;
export type MessageDeleteInput = z.infer<typeof messageDeleteInput>;
export type MemberInput = z.infer<typeof memberInput>;
export type RoomMarkReadInput = z.infer<typeof roomMarkReadInput>;
export type RoomTypingInput = z.infer<typeof roomTypingInput>;

/** "field: message; field: message" for a failed parse: the message names the field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path.map(String).join(".");
      return path && !i.message.startsWith(path) ? `${path}: ${i.message}` : i.message;
    })
    .join("; ");
}
