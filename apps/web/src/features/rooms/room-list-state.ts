import { LIMITS, type ActivityEvent, type ReadMarker, type Room, type RoomSummary } from "@anonchat/shared";

export interface ActivityContext {
  myId: number;
  /** True when this room is on screen and the page has the user's attention (read as it arrives). */
  isReading: (roomId: string) => boolean;
}

export interface ActivityResult {
  list: RoomSummary[] | undefined;
  /** The event could not be applied here (a summary to read again, a room we do not hold). */
  refetch: boolean;
}

const at = (iso: string) => {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : t;
};

/** Newest activity first; rooms with the same time keep the order they had (the server's). */
export function byActivity(list: RoomSummary[]): RoomSummary[] {
  const sorted = list.toSorted((a, b) => at(b.lastActivityAt) - at(a.lastActivityAt));
  return sorted.every((r, i) => r === list[i]) ? list : sorted;
}

/** A room just created or joined, as the list holds it until room.list says more. */
export function summaryOf(room: Room): RoomSummary {
  return { ...room, lastMessage: null, lastSeq: 0, lastReadSeq: 0, unreadCount: 0, lastActivityAt: room.createdAt };
}

/** The badge's text: the server counts up to LIMITS.unreadCountMax. */
export function unreadLabel(n: number): string {
  return n >= LIMITS.unreadCountMax ? `${LIMITS.unreadCountMax}+` : String(n);
}

/**
 * room.list's cached value after my read marker moved (the answer to room.markRead, or a "read"
 * event from any of my devices). The server counted what was unread when it moved the marker;
 * messages this list has counted since, after the marker, may have been stored after that count.
 * So when the list knows of anything after the marker, it keeps its own count and asks for the
 * list again rather than take a count that may leave them out.
 */
export function applyReadMarker(list: RoomSummary[] | undefined, marker: ReadMarker): ActivityResult {
  if (!list) return { list, refetch: false };
  const { roomId, lastReadSeq, unreadCount } = marker;
  const room = list.find((r) => r.id === roomId);
  if (!room) return { list, refetch: false };
  // Markers only move forward: an older answer must not bring a cleared badge back.
  if (lastReadSeq < room.lastReadSeq) return { list, refetch: false };
  const later = room.lastSeq > lastReadSeq;
  const next = { ...room, lastReadSeq, unreadCount: later ? room.unreadCount : unreadCount };
  return { list: list.map((r) => (r === room ? next : r)), refetch: later };
}

/** room.list's cached value after one room.onActivity event. */
export function applyActivity(list: RoomSummary[] | undefined, ev: ActivityEvent, ctx: ActivityContext): ActivityResult {
  if (!list) return { list, refetch: ev.type !== "left" };
  switch (ev.type) {
    case "message": {
      const room = list.find((r) => r.id === ev.roomId);
      if (!room) return { list, refetch: true };
      const m = ev.message;
      if (m.seq <= room.lastSeq) return { list, refetch: false }; // already counted (a refetch raced it)
      const chat = m.kind === "text" && m.deletedAt === null;
      // A message at or before my read marker is read already (the marker came first).
      const counts = chat && m.senderId !== ctx.myId && m.seq > room.lastReadSeq && !ctx.isReading(room.id);
      const next: RoomSummary = {
        ...room,
        lastSeq: m.seq,
        ...(chat ? { lastMessage: m, lastActivityAt: m.createdAt } : {}),
        unreadCount: counts ? Math.min(LIMITS.unreadCountMax, room.unreadCount + 1) : room.unreadCount,
      };
      return { list: byActivity(list.map((r) => (r === room ? next : r))), refetch: false };
    }
    case "read":
      return applyReadMarker(list, ev.marker);
    case "joined":
      return { list: byActivity([ev.room, ...list.filter((r) => r.id !== ev.room.id)]), refetch: false };
    case "left": {
      const next = list.filter((r) => r.id !== ev.roomId);
      return { list: next.length === list.length ? list : next, refetch: false };
    }
    case "changed":
      return { list, refetch: true };
  }
}
