import { useCallback, useEffect, useRef, useState } from "react";
import { useTRPCClient } from "../../lib/trpc";
import type { LiveEvent } from "./useRoomMessages";

/** The web client tells the room at most this often that the user is still typing. */
export const TYPING_EVERY_MS = 3000;

/**
 * Tells the room when I type: room.typing at most every TYPING_EVERY_MS while the text changes,
 * and typing:false once when the box is cleared or the message is sent, one call after the other.
 * Failures are ignored: typing is a courtesy, never worth an error on screen.
 */
export function useTypingSender(roomId: string) {
  const client = useTRPCClient();
  const lastSent = useRef(0);
  /**
   * Each call waits for the one before: separate HTTP requests may overtake each other, and a
   * "typing" that arrived after the "stopped" before it would show a notice for nothing.
   */
  const queue = useRef<Promise<unknown>>(Promise.resolve());
  const announce = useCallback(
    (typing: boolean) => {
      queue.current = queue.current.then(() => client.room.typing.mutate({ roomId, typing })).catch(() => undefined);
    },
    [client, roomId],
  );

  const stop = useCallback(() => {
    if (lastSent.current === 0) return;
    lastSent.current = 0;
    announce(false);
  }, [announce]);

  const onText = useCallback(
    (text: string) => {
      if (text.trim() === "") return stop();
      const now = Date.now();
      if (now - lastSent.current < TYPING_EVERY_MS) return;
      lastSent.current = now;
      announce(true);
    },
    [announce, stop],
  );

  // Leaving the room while typing: say so rather than leave the others waiting for the expiry.
  useEffect(() => stop, [stop]);
  return { onText, stop };
}

interface Typist {
  login: string;
  until: number;
}

/** Who else is typing, from the room's typing events; each entry expires after its expiresInMs. */
export function useTypists(myId: number) {
  const [typists, setTypists] = useState<ReadonlyMap<number, Typist>>(new Map());

  const onTyping = useCallback(
    (e: Extract<LiveEvent, { type: "typing" }>) => {
      if (e.userId === myId) return; // my other tab
      setTypists((prev) => {
        const next = new Map(prev);
        if (e.typing) next.set(e.userId, { login: e.login, until: Date.now() + e.expiresInMs });
        else next.delete(e.userId);
        return next;
      });
    },
    [myId],
  );

  /** Their message arrived (or they left): they are no longer typing it. */
  const clear = useCallback((userId: number) => {
    setTypists((prev) => {
      if (!prev.has(userId)) return prev;
      const next = new Map(prev);
      next.delete(userId);
      return next;
    });
  }, []);

  // Drop each entry when it expires.
  useEffect(() => {
    if (typists.size === 0) return;
    const soonest = Math.min(...[...typists.values()].map((t) => t.until));
    const id = setTimeout(
      () => {
        const now = Date.now();
        setTypists((prev) => new Map([...prev].filter(([, t]) => t.until > now)));
      },
      Math.max(0, soonest - Date.now()) + 10,
    );
    return () => clearTimeout(id);
  }, [typists]);

  const logins = [...typists.values()].map((t) => t.login).sort((a, b) => a.localeCompare(b));
  return { logins, onTyping, clear };
}
