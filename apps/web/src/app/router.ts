import { useSyncExternalStore } from "react";
import { ROOM_ID_PATTERN } from "@anonchat/shared";

export type Route = { name: "home" } | { name: "room"; roomId: string } | { name: "badLink"; path: string };

/** `/` is the room list; `/r/<roomId>` opens (and, for a shared link, joins) a room. */
export function parseRoute(pathname: string): Route {
  if (pathname === "/" || pathname === "") return { name: "home" };
  const m = /^\/r\/([^/]+)\/?$/.exec(pathname);
  if (m?.[1]) {
    const id = decodeURIComponent(m[1]);
    if (ROOM_ID_PATTERN.test(id)) return { name: "room", roomId: id };
  }
  return { name: "badLink", path: pathname };
}

export const roomPath = (roomId: string) => `/r/${roomId}`;
export const roomLink = (roomId: string) => `${window.location.origin}${roomPath(roomId)}`;

const listeners = new Set<() => void>();
window.addEventListener("popstate", () => listeners.forEach((l) => l()));

function subscribe(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useLocationPath(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname);
}

export function useRoute(): Route {
  return parseRoute(useLocationPath());
}

export function navigate(path: string, opts: { replace?: boolean } = {}): void {
  if (path === window.location.pathname) return;
  if (opts.replace) window.history.replaceState(null, "", path);
  else window.history.pushState(null, "", path);
  listeners.forEach((l) => l());
}
