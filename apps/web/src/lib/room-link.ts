import { ROOM_ID_PATTERN } from "@anonchat/shared";

/** A room id from what a person pasted: a bare id, or a shared link (…/r/<roomId>). */
export function roomIdFrom(text: string): string | null {
  const t = text.trim();
  if (ROOM_ID_PATTERN.test(t)) return t;
  const m = /\/r\/([A-Za-z0-9]+)\/?(?:[?#].*)?$/.exec(t);
  return m?.[1] && ROOM_ID_PATTERN.test(m[1]) ? m[1] : null;
}
