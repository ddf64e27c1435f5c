import { skipToken, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import type { Message, RoomEvent } from "@anonchat/shared";
import type { ConnectionMonitor } from "../../lib/connection";
import { describeError, errorFacts, type UserMessage } from "../../lib/errors";
import { newClientMsgId } from "../../lib/format";
import type { SessionStore } from "../../lib/session";
import { useTRPC, useTRPCClient } from "../../lib/trpc";
import { initialRoomMessages, roomReducer, type Ended } from "./messages-state";

const PAGE_SIZE = 50;

/** What a refusal from the room's procedures means for the view, if it ends it. */
function endedBy(err: unknown): Ended | null {
  const { code } = errorFacts(err);
  if (code === "NOT_FOUND") return { kind: "removed" };
  if (code === "FORBIDDEN") return { kind: "notMember" };
  return null;
}

/** The room's ephemeral events: never stored, never replayed. */
export type LiveEvent = Extract<RoomEvent, { type: "presence" | "presence.change" | "typing" }>;

export interface RoomStreamHandlers {
  /** A new timeline item arrived (a chat message or a membership event). */
  onItem?: (message: Message) => void;
  onLive?: (event: LiveEvent) => void;
}

/** Tracked events arrive as { id, data }; untracked ones (presence, typing) as the event itself. */
function unwrap(d: { id: string; data: RoomEvent } | RoomEvent): { id: string | undefined; event: RoomEvent } {
  return "data" in d && "id" in d ? { id: d.id, event: d.data } : { id: undefined, event: d };
}

/** A kick or ban about me ends my view of the room (the stream completes right after it). */
function endedByItem(m: Message, myId: number): Ended | null {
  if (m.subjectId !== myId) return null;
  if (m.kind === "kick") return { kind: "kicked", by: m.senderLogin };
  if (m.kind === "ban") return { kind: "banned", by: m.senderLogin };
  return null;
}

/**
 * One room's messages: the newest history page, then the live stream from the last seq that page
 * held (so nothing falls in between), older pages on demand, and optimistic sends that carry a
 * clientMsgId so a retry never stores a message twice.
 */
export function useRoomMessages(
  roomId: string,
  store: SessionStore,
  monitor: ConnectionMonitor,
  myId: number,
  handlers: RoomStreamHandlers = {},
) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const [state, dispatch] = useReducer(roomReducer, initialRoomMessages);
  const stateRef = useRef(state);
  stateRef.current = state;
  const [loadError, setLoadError] = useState<UserMessage | null>(null);
  const [olderError, setOlderError] = useState<UserMessage | null>(null);
  const [attempt, setAttempt] = useState(0);
  /** The last seq the live stream (or the first page) delivered: where a resubscription resumes. */
  const lastEventSeq = useRef<number | null>(null);
  const [subInput, setSubInput] = useState<{ roomId: string; lastEventId: string } | null>(null);
  const olderInFlight = useRef(false);
  const handlersRef = useRef(handlers);
  handlersRef.current = handlers;

  const end = useCallback(
    (ended: Ended) => {
      dispatch({ type: "ended", ended });
      void queryClient.invalidateQueries({ queryKey: trpc.room.list.queryKey() });
    },
    [queryClient, trpc],
  );

  // The newest page, then subscribe after its last seq.
  useEffect(() => {
    let cancelled = false;
    setLoadError(null);
    client.room.history.query({ roomId, limit: PAGE_SIZE }).then(
      (page) => {
        if (cancelled) return;
        dispatch({ type: "history", page, older: false });
        const seq = page.messages.at(-1)?.seq ?? 0;
        lastEventSeq.current = seq;
        setSubInput({ roomId, lastEventId: String(seq) });
      },
      (err: unknown) => {
        if (cancelled) return;
        const ended = endedBy(err);
        if (ended) end(ended);
        else setLoadError(describeError(err, "load"));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [client, roomId, attempt, end]);

  const subscription = useSubscription(
    trpc.room.onMessage.subscriptionOptions(subInput ?? skipToken, {
      enabled: subInput !== null && state.ended === null,
      onData: (raw) => {
        const { id, event } = unwrap(raw);
        const seq = Number(id);
        if (id !== undefined && Number.isSafeInteger(seq)) lastEventSeq.current = Math.max(lastEventSeq.current ?? 0, seq);
        switch (event.type) {
          case "message": {
            dispatch({ type: "received", message: event.message });
            handlersRef.current.onItem?.(event.message);
            const ended = endedByItem(event.message, myId);
            if (ended) end(ended);
            break;
          }
          case "edit":
            dispatch({ type: "edited", edit: event.edit });
            break;
          case "delete":
            dispatch({ type: "deleted", deletion: event.delete });
            break;
          case "removed":
            end({ kind: "removed" });
            break;
          default:
            handlersRef.current.onLive?.(event);
        }
      },
      onError: (err) => {
        const ended = endedBy(err);
        if (ended) return end(ended);
        // Refused token (it expired between connect and subscribe) or a server hiccup:
        // resume from the last event we hold.
        if (errorFacts(err).code === "UNAUTHORIZED") store.rejected();
        setTimeout(() => resubscribe(), errorFacts(err).code === "UNAUTHORIZED" ? 0 : 1000);
      },
    }),
  );
  const resetRef = useRef(subscription.reset);
  resetRef.current = subscription.reset;

  const resubscribe = useCallback(() => {
    const lastEventId = String(lastEventSeq.current ?? 0);
    setSubInput((prev) => {
      if (prev && prev.lastEventId === lastEventId) {
        queueMicrotask(() => resetRef.current());
        return prev;
      }
      return { roomId, lastEventId };
    });
  }, [roomId]);

  const send = useCallback(
    async (text: string, clientMsgId: string = newClientMsgId()) => {
      const existing = stateRef.current.pending.find((p) => p.clientMsgId === clientMsgId);
      dispatch({
        type: "sending",
        pending: { clientMsgId, text, createdAt: existing?.createdAt ?? new Date().toISOString(), status: "sending", error: null },
      });
      try {
        const message = await client.room.send.mutate({ roomId, text, clientMsgId });
        dispatch({ type: "sent", message });
      } catch (err) {
        dispatch({ type: "failed", clientMsgId, error: describeError(err, "send") });
        const ended = endedBy(err);
        if (ended) end(ended);
      }
    },
    [client, roomId, end],
  );

  const loadOlder = useCallback(async () => {
    const s = stateRef.current;
    const first = s.messages[0];
    if (!s.hasMore || !first || olderInFlight.current) return;
    olderInFlight.current = true;
    setOlderError(null);
    dispatch({ type: "loadingOlder", on: true });
    try {
      const page = await client.room.history.query({ roomId, beforeSeq: first.seq, limit: PAGE_SIZE });
      dispatch({ type: "history", page, older: true });
    } catch (err) {
      dispatch({ type: "loadingOlder", on: false });
      setOlderError(describeError(err, "load"));
    } finally {
      olderInFlight.current = false;
    }
  }, [client, roomId]);

  /** Edits one of my messages; throws what the server refused, for the editor to show. */
  const edit = useCallback(
    async (seq: number, text: string) => {
      const sentAfter = stateRef.current.lastSeq;
      const message = await client.message.edit.mutate({ roomId, seq, text });
      dispatch({ type: "updated", message, sentAfter });
    },
    [client, roomId],
  );

  /** Deletes a message (mine, or anyone's as the owner); it stays as a tombstone. */
  const remove = useCallback(
    async (seq: number) => {
      const sentAfter = stateRef.current.lastSeq;
      const message = await client.message.delete.mutate({ roomId, seq });
      dispatch({ type: "updated", message, sentAfter });
    },
    [client, roomId],
  );

  // Back from an outage: reload a page that failed and resend what could not reach the server.
  useEffect(
    () =>
      monitor.onRecovered(() => {
        const s = stateRef.current;
        if (!s.loaded) setAttempt((n) => n + 1);
        for (const p of s.pending) if (p.status === "failed" && p.error?.kind === "unreachable") void send(p.text, p.clientMsgId);
      }),
    [monitor, send],
  );

  return {
    state,
    loadError,
    olderError,
    live: subscription.status,
    retryLoad: () => setAttempt((n) => n + 1),
    send,
    retry: (clientMsgId: string) => {
      const p = stateRef.current.pending.find((x) => x.clientMsgId === clientMsgId);
      if (p) void send(p.text, p.clientMsgId);
    },
    discard: (clientMsgId: string) => dispatch({ type: "discard", clientMsgId }),
    loadOlder,
    edit,
    remove,
  };
}
