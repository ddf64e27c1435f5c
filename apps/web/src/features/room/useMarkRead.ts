import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { usePageActive } from "../../lib/page-active";
import { useTRPC, useTRPCClient } from "../../lib/trpc";
import { applyReadMarker } from "../rooms/room-list-state";

const DEBOUNCE_MS = 500;

/**
 * While the room is on screen and the page has the user's attention, moves my read marker to the
 * newest seq shown (debounced, so a burst of messages is one call) and clears the room's badge.
 */
export function useMarkRead(roomId: string, newestSeq: number | undefined, enabled: boolean): void {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const active = usePageActive();
  const marked = useRef(0);

  useEffect(() => {
    if (!enabled || !active || newestSeq === undefined || newestSeq < 1 || newestSeq <= marked.current) return;
    const id = setTimeout(() => {
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
    }, DEBOUNCE_MS);
    return () => clearTimeout(id);
  }, [roomId, newestSeq, enabled, active, client, queryClient, trpc]);
}
