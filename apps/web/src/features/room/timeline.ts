import type { Message } from "@anonchat/shared";

/** A membership event in words, as the room's centred system line shows it. */
export function systemText(m: Message): string {
  const actor = m.senderLogin;
  const subject = m.subjectLogin ?? "someone";
  switch (m.kind) {
    case "join":
      return `${actor} joined`;
    case "leave":
      return `${actor} left`;
    case "kick":
      return `${subject} was removed by ${actor}`;
    case "ban":
      return `${subject} was banned by ${actor}`;
    case "owner":
      return `${actor} made ${subject} the owner`;
    case "text":
      return m.text;
  }
}

/** Membership events change who is in the room (and who owns it): the member list is stale. */
export const changesMembers = (m: Message) => m.kind !== "text";

/** "alice is typing…", "alice and bob are typing…", "alice, bob and carol are typing…". */
export function typingText(logins: string[]): string {
  if (logins.length === 0) return "";
  if (logins.length === 1) return `${logins[0]} is typing…`;
  if (logins.length > 3) return "Several people are typing…";
  return `${logins.slice(0, -1).join(", ")} and ${logins.at(-1)} are typing…`;
}
