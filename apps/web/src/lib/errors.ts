import { TRPCClientError } from "@trpc/client";
import { MESSAGES } from "@anonchat/shared";

/** What the server said about a failed call, read from the tRPC error shape. */
export interface ErrorFacts {
  /** The tRPC code (UNAUTHORIZED, FORBIDDEN, …); undefined when the server was not reached. */
  code: string | undefined;
  serverMessage: string;
  retryAfter: number | undefined;
  /** True when no answer came back at all: offline, server down, a proxy error page. */
  unreachable: boolean;
}

export function errorFacts(err: unknown): ErrorFacts {
  if (err instanceof TRPCClientError) {
    const data: unknown = err.data;
    if (typeof data === "object" && data !== null && "code" in data) {
      const d = data as { code?: unknown; retryAfter?: unknown };
      return {
        code: typeof d.code === "string" ? d.code : undefined,
        serverMessage: err.message,
        retryAfter: typeof d.retryAfter === "number" && d.retryAfter > 0 ? Math.ceil(d.retryAfter) : undefined,
        unreachable: false,
      };
    }
    return { code: undefined, serverMessage: err.message, retryAfter: undefined, unreachable: true };
  }
  if (err instanceof TypeError) return { code: undefined, serverMessage: err.message, retryAfter: undefined, unreachable: true };
  return { code: undefined, serverMessage: err instanceof Error ? err.message : String(err), retryAfter: undefined, unreachable: false };
}

export type Action = "login" | "register" | "join" | "create" | "send" | "leave" | "remove" | "load" | "edit" | "delete" | "moderate";

/** A message a person can act on; retryAfter (seconds) drives a countdown where it is set. */
export interface UserMessage {
  text: string;
  retryAfter?: number;
  kind: "unreachable" | "limited" | "refused";
}

export const UNREACHABLE_TEXT = "Can't reach the server. Check your connection; AnonChat keeps trying.";

export function describeError(err: unknown, action: Action): UserMessage {
  const f = errorFacts(err);
  if (f.unreachable) return { kind: "unreachable", text: UNREACHABLE_TEXT };
  const msg = f.serverMessage;
  switch (f.code) {
    case "TOO_MANY_REQUESTS":
      return {
        kind: "limited",
        text: action === "send" ? "You're sending messages too fast." : action === "login" ? "Too many login attempts." : "Too many requests.",
        ...(f.retryAfter !== undefined ? { retryAfter: f.retryAfter } : {}),
      };
    case "SERVICE_UNAVAILABLE":
      return { kind: "limited", text: "The server is busy.", retryAfter: f.retryAfter ?? 1 };
    case "UNAUTHORIZED":
      if (action === "login") return { kind: "refused", text: "Wrong email or password." };
      return { kind: "refused", text: "Your session has ended. Please log in again." };
    case "CONFLICT":
      if (msg === MESSAGES.messageDeleted) return { kind: "refused", text: "That message was deleted, so it can't be edited." };
      if (/login/i.test(msg)) return { kind: "refused", text: "That login is already taken. Choose another one." };
      if (/email/i.test(msg)) return { kind: "refused", text: "An account with this email already exists. Log in instead." };
      return { kind: "refused", text: sentence(msg) };
    case "NOT_FOUND":
      if (msg === MESSAGES.messageNotFound) return { kind: "refused", text: "That message no longer exists." };
      if (msg === MESSAGES.memberNotFound) return { kind: "refused", text: "They're no longer a member of this room." };
      return { kind: "refused", text: action === "join" ? "No room has this id. Check the link or id." : "This room no longer exists." };
    case "FORBIDDEN":
      if (msg === MESSAGES.roomFull) return { kind: "refused", text: "This room is full: it has reached its member limit." };
      if (msg === MESSAGES.notOwner) return { kind: "refused", text: "Only the room's owner can do that." };
      if (msg === MESSAGES.notMember) return { kind: "refused", text: "You're not a member of this room any more." };
      if (msg === MESSAGES.banned) return { kind: "refused", text: "You're banned from this room: its owner removed you and barred you from joining again." };
      if (msg === MESSAGES.notAuthor) return { kind: "refused", text: "You can only change your own messages." };
      return { kind: "refused", text: sentence(msg) };
    case "BAD_REQUEST":
    case "PAYLOAD_TOO_LARGE":
      return { kind: "refused", text: sentence(msg) };
    default:
      return { kind: "refused", text: "Something went wrong on the server. Please try again." };
  }
}

function sentence(s: string): string {
  const t = s.trim();
  if (!t) return "The request was refused.";
  const cap = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(cap) ? cap : `${cap}.`;
}
