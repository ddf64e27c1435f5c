import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { usePageActive } from "../../lib/page-active";
import { useTRPC, useTRPCClient } from "../../lib/trpc";
import { applyReadMarker } from "../rooms/room-list-state";

const DEBOUNCE_MS = 500;
/** In a busy room the debounce would restart with every message: mark at least this often. */
const MAX_WAIT_MS = 2000;

/**
 * While the room is on screen and the page has the user's attention, moves my read marker to the
 * newest seq shown (debounced, so a burst of messages is one call, but never put off longer than
 * MAX_WAIT_MS) and clears the room's badge.
 */
export function useMarkRead(roomId: string, newestSeq: number | undefined, enabled: boolean): void {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const active = usePageActive();
  const marked = useRef(0);
  /** Since when something shown has been waiting to be marked read. */
  const waitingSince = useRef<number | null>(null);

  useEffect(() => {
    if (!enabled || !active || newestSeq === undefined || newestSeq < 1 || newestSeq <= marked.current) {
      waitingSince.current = null;
      return;
    }
    const now = Date.now();
    waitingSince.current ??= now;
    const delay = Math.max(0, Math.min(DEBOUNCE_MS, waitingSince.current + MAX_WAIT_MS - now));
    const id = setTimeout(() => {
      waitingSince.current = null;
      const before = marked.current;
      marked.current = newestSeq;
      const listKey = trpc.room.list.queryKey();
      // The badge goes at once, unless the list knows of messages after what is marked.
      queryClient.setQueryData(listKey, (old) =>
        old?.map((r) => (r.id === roomId && r.lastSeq <= newestSeq && r.unreadCount > 0 ? { ...r, unreadCount: 0 } : r)),
      );
      client.room.markRead.mutate({ roomId, seq: newestSeq }).then(
        (marker) => {
          let refetch = false;
          queryClient.setQueryData(listKey, (old) => {
            const result = applyReadMarker(old, marker);
            refetch = result.refetch;
            return result.list;
          });
          if (refetch) void queryClient.invalidateQueries({ queryKey: listKey });
        },
        () => {
          // Try again with the next message or the next time the page is looked at.
          if (marked.current === newestSeq) marked.current = before;
        },
      );
    }, delay);
    return () => clearTimeout(id);
  }, [roomId, newestSeq, enabled, active, client, queryClient, trpc]);
}
