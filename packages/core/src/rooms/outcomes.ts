import type { ChangeResult, ModerationResult } from "@anonchat/db";
import { AppError, charCount, MESSAGES } from "@anonchat/shared";

/**
 * What the repositories' outcomes mean to a caller: each refusal becomes its AppError, and what
 * succeeded is returned for the service to publish.
 */

export function changed(r: ChangeResult, action: "edit" | "delete"): Extract<ChangeResult, { status: "changed" | "unchanged" }> {
  switch (r.status) {
    case "not_found":
      throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    case "not_member":
      throw new AppError("FORBIDDEN", MESSAGES.notMember);
    case "message_not_found":
      throw new AppError("NOT_FOUND", MESSAGES.messageNotFound);
    case "forbidden":
      throw new AppError("FORBIDDEN", action === "edit" ? MESSAGES.notAuthor : MESSAGES.notAuthorOrOwner);
    case "deleted":
      throw new AppError("CONFLICT", MESSAGES.messageDeleted);
    default:
      return r;
  }
}

export function moderated(r: ModerationResult): Extract<ModerationResult, { status: "ok" | "unchanged" }> {
  switch (r.status) {
    case "not_found":
      throw new AppError("NOT_FOUND", MESSAGES.roomNotFound);
    case "not_owner":
      throw new AppError("FORBIDDEN", MESSAGES.notOwner);
    case "self":
      throw new AppError("BAD_REQUEST", MESSAGES.notYourself);
    case "member_not_found":
      throw new AppError("NOT_FOUND", MESSAGES.memberNotFound);
    case "user_not_found":
      throw new AppError("NOT_FOUND", MESSAGES.userNotFound);
    default:
      return r;
  }
}

/** Message text as stored: checked here as well as in the schema (legacy frames reach sends without one). */
export function checkedText(raw: string, maxLength: number): string {
  const text = raw.trim();
  if (text.length === 0) throw new AppError("BAD_REQUEST", "text must not be empty");
  if (text.length > maxLength && charCount(text) > maxLength) {
    throw new AppError("BAD_REQUEST", `text must be at most ${maxLength} characters`);
  }
  if (text.includes("\u0000")) throw new AppError("BAD_REQUEST", "text must not contain NUL characters");
  return text;
}
