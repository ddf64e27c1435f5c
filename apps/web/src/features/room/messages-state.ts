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

/** An edit or a deletion from the stream, by its own seq (the order the server stored them in). */
export type Change =
  | { kind: "edit"; seq: number; text: string; editedAt: string }
  | { kind: "delete"; seq: number; deletedAt: string };

export interface RoomMessages {
  /** Stored messages, by seq ascending, each seq once. */
  messages: Message[];
  /** The seq of the last edit or deletion applied to a held message, by the message's seq. */
  changeSeqs: Readonly<Record<number, number>>;
  /**
   * Changes to messages not held yet (older than the first page we hold), by the message's seq:
   * applied when an older page brings the message in, since that page may have been read before
   * the change was stored.
   */
  unapplied: Readonly<Record<number, Change>>;
  /** The newest stored event seen (a message, an edit or a deletion): what can be marked read. */
  lastSeq: number;
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
  /**
   * A message as the server returned it from message.edit / message.delete; `sentAfter` is the
   * state's lastSeq when the call was made (a change the stream brought since then is newer or
   * the same, and wins).
   */
  | { type: "updated"; message: Message; sentAfter: number };

export const initialRoomMessages: RoomMessages = {
  messages: [],
  changeSeqs: {},
  unapplied: {},
  lastSeq: 0,
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

/** The message with a change applied. A deletion is final: nothing changes a tombstone. */
export function applyChange(m: Message, c: Change): Message {
  if (m.deletedAt !== null) return m;
  return c.kind === "delete" ? { ...m, text: "", deletedAt: c.deletedAt } : { ...m, text: c.text, editedAt: c.editedAt };
}

/** Of two changes to one message, the one that decides it: a deletion, else the later seq. */
function laterChange(a: Change | undefined, b: Change): Change {
  if (!a) return b;
  if (a.kind === "delete") return a;
  if (b.kind === "delete") return b;
  return b.seq > a.seq ? b : a;
}

function changeOf(action: Extract<RoomAction, { type: "edited" | "deleted" }>): [target: number, change: Change] {
  if (action.type === "edited") {
    const { targetSeq, seq, text, editedAt } = action.edit;
    return [targetSeq, { kind: "edit", seq, text, editedAt }];
  }
  const { targetSeq, seq, deletedAt } = action.deletion;
  return [targetSeq, { kind: "delete", seq, deletedAt }];
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
      let incoming = action.page.messages;
      let { unapplied, changeSeqs } = state;
      if (incoming.some((m) => m.seq in unapplied)) {
        const left = { ...unapplied };
        const seqs = { ...changeSeqs };
        incoming = incoming.map((m) => {
          const c = left[m.seq];
          if (!c) return m;
          delete left[m.seq];
          seqs[m.seq] = c.seq;
          return applyChange(m, c);
        });
        unapplied = left;
        changeSeqs = seqs;
      }
      const messages = mergeMessages(state.messages, incoming);
      return {
        ...state,
        messages,
        changeSeqs,
        unapplied,
        lastSeq: Math.max(state.lastSeq, action.page.messages.at(-1)?.seq ?? 0),
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
      const lastSeq = Math.max(state.lastSeq, action.message.seq);
      return messages === state.messages && pending === state.pending && lastSeq === state.lastSeq
        ? state
        : { ...state, messages, pending, lastSeq };
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
    case "deleted": {
      const [target, change] = changeOf(action);
      const lastSeq = Math.max(state.lastSeq, change.seq);
      const at = state.messages.findIndex((m) => m.seq === target);
      if (at < 0) {
        // Not held: older than the first page we hold (one may be loading). Keep it for when a
        // page brings the message in; past the beginning of the room there is nothing to change.
        const first = state.messages[0];
        const older = !state.loaded || (state.hasMore && (first === undefined || target < first.seq));
        if (!older) return lastSeq === state.lastSeq ? state : { ...state, lastSeq };
        const unapplied = { ...state.unapplied, [target]: laterChange(state.unapplied[target], change) };
        return { ...state, unapplied, lastSeq };
      }
      // Ordered by the change's seq, never by its timestamp (two can tie, or come out inverted).
      if (change.seq <= (state.changeSeqs[target] ?? 0)) return lastSeq === state.lastSeq ? state : { ...state, lastSeq };
      const before = state.messages[at]!;
      const after = applyChange(before, change);
      return {
        ...state,
        messages: after === before ? state.messages : state.messages.with(at, after),
        changeSeqs: { ...state.changeSeqs, [target]: change.seq },
        lastSeq,
      };
    }
    case "updated": {
      // The answer to my own edit or deletion. The stream brings the same change too, with its
      // seq: a change it brought after the call was made is this one or a later one.
      const { message, sentAfter } = action;
      const at = state.messages.findIndex((m) => m.seq === message.seq);
      if (at < 0) return state;
      const before = state.messages[at]!;
      if (before.deletedAt !== null) return state;
      if (message.deletedAt === null && (state.changeSeqs[message.seq] ?? 0) > sentAfter) return state;
      const after =
        message.deletedAt !== null
          ? { ...before, text: "", deletedAt: message.deletedAt }
          : { ...before, text: message.text, editedAt: message.editedAt };
      if (after.text === before.text && after.editedAt === before.editedAt && after.deletedAt === before.deletedAt) return state;
      return { ...state, messages: state.messages.with(at, after) };
    }
  }
}
