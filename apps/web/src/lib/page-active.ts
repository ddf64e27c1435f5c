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
