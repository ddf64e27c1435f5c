import type { HistoryPage, Message, MessageDelete, MessageEdit } from "@anonchat/shared";
import type { UserMessage } from "../../lib/errors";

/** A message on its way: shown at once, replaced by the stored one when the server has it. */
export interface PendingMessage {
  clientMsgId: string;
  text: string;
  createdAt: string;
  status: "sending" | "failed";
  error: UserMessage | null;
}

export type Ended =
  | { kind: "removed" }
  | { kind: "notMember" }
  | { kind: "notFound" }
  /** The owner removed me (kick) or removed and barred me (ban): `by` is the owner's login. */
  | { kind: "kicked"; by: string }
  | { kind: "banned"; by: string };

export interface RoomMessages {
  /** Stored messages, by seq ascending, each seq once. */
  messages: Message[];
  pending: PendingMessage[];
  hasMore: boolean;
  loaded: boolean;
  loadingOlder: boolean;
  ended: Ended | null;
}

export type RoomAction =
  | { type: "history"; page: HistoryPage; older: boolean }
  | { type: "loadingOlder"; on: boolean }
  | { type: "received"; message: Message }
  | { type: "sending"; pending: PendingMessage }
  | { type: "sent"; message: Message }
  | { type: "failed"; clientMsgId: string; error: UserMessage }
  | { type: "discard"; clientMsgId: string }
  | { type: "ended"; ended: Ended }
  | { type: "edited"; edit: MessageEdit }
  | { type: "deleted"; deletion: MessageDelete }
  /** A message as the server returned it from message.edit / message.delete. */
  | { type: "updated"; message: Message };

export const initialRoomMessages: RoomMessages = {
  messages: [],
  pending: [],
  hasMore: false,
  loaded: false,
  loadingOlder: false,
  ended: null,
};

/** Adds messages, keeping seq order and dropping ones already held (replays after reconnect). */
export function mergeMessages(current: Message[], incoming: Message[]): Message[] {
  if (incoming.length === 0) return current;
  const last = current.at(-1);
  // The common case: one live message after everything we hold.
  if (incoming.length === 1 && (!last || incoming[0]!.seq > last.seq)) return [...current, incoming[0]!];
  const bySeq = new Map<number, Message>();
  for (const m of current) bySeq.set(m.seq, m);
  let changed = false;
  for (const m of incoming) {
    if (!bySeq.has(m.seq)) {
      bySeq.set(m.seq, m);
      changed = true;
    }
  }
  return changed ? [...bySeq.values()].sort((a, b) => a.seq - b.seq) : current;
}

const time = (iso: string | null) => (iso === null ? -Infinity : Date.parse(iso));

/**
 * The newer of two states of one message. A deletion is final; otherwise the later edit wins, so
 * a mutation's answer that arrives after the live event of a later edit does not undo it.
 */
export function newerState(current: Message, next: Message): Message {
  if (current.deletedAt !== null) return current;
  if (next.deletedAt !== null) return next;
  return time(next.editedAt) > time(current.editedAt) ? next : current;
}

/** Replaces the message with this seq by update(message), when it is held and actually changes. */
function patch(messages: Message[], seq: number, update: (m: Message) => Message): Message[] {
  const at = messages.findIndex((m) => m.seq === seq);
  if (at < 0) return messages;
  const before = messages[at]!;
  const after = update(before);
  return after === before ? messages : messages.with(at, after);
}

function settle(pending: PendingMessage[], messages: Message[]): PendingMessage[] {
  if (pending.length === 0) return pending;
  const ids = new Set(messages.map((m) => m.clientMsgId).filter((id): id is string => id !== null));
  const left = pending.filter((p) => !ids.has(p.clientMsgId));
  return left.length === pending.length ? pending : left;
}

export function roomReducer(state: RoomMessages, action: RoomAction): RoomMessages {
  switch (action.type) {
    case "history": {
      const messages = mergeMessages(state.messages, action.page.messages);
      return {
        ...state,
        messages,
        pending: settle(state.pending, action.page.messages),
        // The newest page says whether anything is older than it; an older page says so of itself.
        hasMore: action.older || !state.loaded ? action.page.hasMore : state.hasMore,
        loaded: true,
        loadingOlder: action.older ? false : state.loadingOlder,
      };
    }
    case "loadingOlder":
      return { ...state, loadingOlder: action.on };
    case "received":
    case "sent": {
      const messages = mergeMessages(state.messages, [action.message]);
      const pending = settle(state.pending, [action.message]);
      return messages === state.messages && pending === state.pending ? state : { ...state, messages, pending };
    }
    case "sending": {
      // A retry keeps its place in the queue.
      const at = state.pending.findIndex((p) => p.clientMsgId === action.pending.clientMsgId);
      const pending = at < 0 ? [...state.pending, action.pending] : state.pending.with(at, action.pending);
      return { ...state, pending };
    }
    case "failed":
      return {
        ...state,
        pending: state.pending.map((p) => (p.clientMsgId === action.clientMsgId ? { ...p, status: "failed", error: action.error } : p)),
      };
    case "discard":
      return { ...state, pending: state.pending.filter((p) => p.clientMsgId !== action.clientMsgId) };
    case "ended":
      return state.ended ? state : { ...state, ended: action.ended };
    case "edited":
    case "deleted":
    case "updated": {
      const [seq, next] =
        action.type === "updated"
          ? [action.message.seq, (m: Message) => newerState(m, action.message)]
          : action.type === "edited"
            ? [action.edit.targetSeq, (m: Message) => newerState(m, { ...m, text: action.edit.text, editedAt: action.edit.editedAt })]
            : [action.deletion.targetSeq, (m: Message) => newerState(m, { ...m, text: "", deletedAt: action.deletion.deletedAt })];
      const messages = patch(state.messages, seq, next);
      return messages === state.messages ? state : { ...state, messages };
    }
  }
}
