import { useSyncExternalStore } from "react";

/** The page is on screen and has the user's attention: what is shown is being read. */
export function isPageActive(): boolean {
  return document.visibilityState === "visible" && document.hasFocus();
}

function subscribe(listener: () => void): () => void {
  document.addEventListener("visibilitychange", listener);
  window.addEventListener("focus", listener);
  window.addEventListener("blur", listener);
  return () => {
    document.removeEventListener("visibilitychange", listener);
    window.removeEventListener("focus", listener);
    window.removeEventListener("blur", listener);
  };
}

export function usePageActive(): boolean {
  return useSyncExternalStore(subscribe, isPageActive);
}

/** The room whose newest messages are on screen (its conversation scrolled to the bottom). */
let latestShown: string | null = null;

/** Says that this room's newest messages are on screen; the returned function takes it back. */
export function showingLatest(roomId: string): () => void {
  latestShown = roomId;
  return () => {
    if (latestShown === roomId) latestShown = null;
  };
}

/**
 * The room's newest messages are on screen and the page has the user's attention: a message that
 * arrives in it is read as it arrives (one the reader scrolled away from is not).
 */
export function isReadingLatest(roomId: string): boolean {
  return latestShown === roomId && isPageActive();
}
