import { useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useEffect, useRef } from "react";
import { errorFacts } from "../../lib/errors";
import { isReadingLatest } from "../../lib/page-active";
import type { SessionStore } from "../../lib/session";
import { useTRPC } from "../../lib/trpc";
import { applyActivity } from "./room-list-state";

/**
 * Keeps room.list live from room.onActivity: new messages bump and count, read markers clear,
 * joined and left rooms come and go. The stream is not replayed after a reconnect, so every
 * (re)start reads the whole list again.
 */
export function useRoomActivity(myId: number, openRoomId: string | undefined, store: SessionStore): void {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const openRef = useRef(openRoomId);
  openRef.current = openRoomId;
  const listKey = trpc.room.list.queryKey();
  const retry = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const subscription = useSubscription(
    trpc.room.onActivity.subscriptionOptions(undefined, {
      onStarted: () => void queryClient.invalidateQueries({ queryKey: listKey }),
      onData: (ev) => {
        let refetch = false;
        queryClient.setQueryData(listKey, (old) => {
          const result = applyActivity(old, ev, { myId, isReading: (id) => id === openRef.current && isReadingLatest(id) });
          refetch = result.refetch;
          return result.list;
        });
        if (refetch) void queryClient.invalidateQueries({ queryKey: listKey });
      },
      onError: (err) => {
        // A refused token (it expired between connect and subscribe) or a server hiccup: start
        // again; the restart reads the list again, so nothing is missed.
        const unauthorized = errorFacts(err).code === "UNAUTHORIZED";
        if (unauthorized) store.rejected();
        clearTimeout(retry.current);
        retry.current = setTimeout(() => resetRef.current(), unauthorized ? 0 : 1000);
      },
    }),
  );
  const resetRef = useRef(subscription.reset);
  resetRef.current = subscription.reset;
  useEffect(() => () => clearTimeout(retry.current), []);
}
