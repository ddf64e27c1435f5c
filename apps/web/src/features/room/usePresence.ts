import { useCallback, useState } from "react";
import type { LiveEvent } from "./useRoomMessages";

/**
 * Who is online in the room: the list every subscription starts with, then its changes.
 * null until the first list arrives (the member list's own online flags stand in meanwhile).
 */
export function usePresence() {
  const [online, setOnline] = useState<ReadonlyMap<number, string> | null>(null);

  const onPresence = useCallback((e: Extract<LiveEvent, { type: "presence" | "presence.change" }>) => {
    if (e.type === "presence") {
      setOnline(new Map(e.online.map((m) => [m.userId, m.login])));
      return;
    }
    setOnline((prev) => {
      if (prev === null) return prev; // not expected: every subscription starts with the full list
      const next = new Map(prev);
      if (e.online) next.set(e.userId, e.login);
      else next.delete(e.userId);
      return next;
    });
  }, []);

  return { online, onPresence };
}
