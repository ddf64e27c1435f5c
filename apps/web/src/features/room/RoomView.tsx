import { useQuery, useQueryClient } from "@tanstack/react-query";
import { memo, useCallback, useEffect, useState } from "react";
import type { Message, Room, User } from "@anonchat/shared";
import { ErrorNotice } from "../../components/Notice";
import type { ConnectionMonitor } from "../../lib/connection";
import { showingLatest } from "../../lib/page-active";
import type { SessionStore } from "../../lib/session";
import { useTRPC } from "../../lib/trpc";
import { navigate } from "../../app/router";
import { Composer } from "./Composer";
import { MembersPanel } from "./MembersPanel";
import { MessageList } from "./MessageList";
import { RoomHeader } from "./RoomHeader";
import type { Ended } from "./messages-state";
import { changesMembers, typingText } from "./timeline";
import { useMarkRead } from "./useMarkRead";
import { usePresence } from "./usePresence";
import { useRoomMessages, type LiveEvent } from "./useRoomMessages";
import { useTypingSender, useTypists } from "./useTyping";

interface Props {
  room: Room;
  user: User;
  store: SessionStore;
  monitor: ConnectionMonitor;
  onFlash: (text: string) => void;
}

type StaysEnded = Exclude<Ended["kind"], "kicked" | "banned">;
const ENDED_TEXT: Record<StaysEnded, string> = {
  removed: "This room was removed by its owner. You can still read what was said here, but no one can write.",
  notMember: "You're no longer a member of this room.",
  notFound: "This room no longer exists.",
};

/** What the room list says after the owner removed me (the room is gone from it). */
function removedText(ended: Extract<Ended, { kind: "kicked" | "banned" }>, room: Room): string {
  return ended.kind === "kicked"
    ? `${ended.by} removed you from “${room.name}”. You can join again with its link.`
    : `${ended.by} banned you from “${room.name}”. You can't join it again.`;
}

// The header (and its dialogs) need not re-render with every message.
const RoomHeaderSlot = memo(RoomHeader);
const MEMBERS_PANEL_ID = "members-panel";

const wide = () => window.matchMedia("(min-width: 48rem)").matches;

export function RoomView({ room: initial, user, store, monitor, onFlash }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const roomId = initial.id;
  const { online, onPresence } = usePresence();
  const { logins: typingLogins, onTyping, clear: clearTypist } = useTypists(user.id);
  const typing = useTypingSender(roomId);
  const [membersOpen, setMembersOpen] = useState(wide);
  /** The conversation shows its newest messages (MessageList says when that changes). */
  const [atBottom, setAtBottom] = useState(true);

  const onItem = useCallback(
    (m: Message) => {
      // Whoever this item says is no longer typing: the author of a message, whoever left, the
      // member a kick or ban removed (not the owner who did it). An ownership change says nothing.
      if (m.kind === "kick" || m.kind === "ban") {
        if (m.subjectId !== null) clearTypist(m.subjectId);
      } else if (m.kind !== "owner") clearTypist(m.senderId);
      if (changesMembers(m)) {
        void queryClient.invalidateQueries({ queryKey: trpc.room.get.queryKey({ roomId }) });
        void queryClient.invalidateQueries({ queryKey: trpc.member.list.queryKey({ roomId }) });
        // A ban made elsewhere (the owner's other device) shows in the owner's Banned list.
        if (m.kind === "ban") void queryClient.invalidateQueries({ queryKey: trpc.member.bans.queryKey({ roomId }) });
      }
    },
    [clearTypist, queryClient, trpc, roomId],
  );
  const onLive = useCallback(
    (e: LiveEvent) => {
      if (e.type === "typing") onTyping(e);
      else {
        onPresence(e);
        // Gone from the room (the tab closed): no "stopped typing" will come.
        if (e.type === "presence.change" && !e.online) clearTypist(e.userId);
      }
    },
    [onTyping, onPresence, clearTypist],
  );
  const chat = useRoomMessages(roomId, store, monitor, user.id, { onItem, onLive });
  const ended = chat.state.ended;
  const removedMe = ended?.kind === "kicked" || ended?.kind === "banned" ? ended : null;

  // Member count, limit and owner, kept fresh (membership events refetch it at once).
  const fresh = useQuery(trpc.room.get.queryOptions({ roomId }, { refetchInterval: 30_000, enabled: ended === null, retry: false }));
  const room = fresh.data ?? initial;
  // The room list shows the same room: keep it in step.
  useEffect(() => {
    if (!fresh.data) return;
    const latest = fresh.data;
    queryClient.setQueryData(trpc.room.list.queryKey(), (old) => old?.map((r) => (r.id === latest.id ? { ...r, ...latest } : r)));
  }, [fresh.data, queryClient, trpc]);

  // Removed by the owner: back to the list, which says so (the room is gone from it).
  useEffect(() => {
    if (!removedMe) return;
    queryClient.setQueryData(trpc.room.list.queryKey(), (old) => old?.filter((r) => r.id !== roomId));
    onFlash(removedText(removedMe, room));
    navigate("/");
  }, [removedMe, queryClient, trpc, roomId, room, onFlash]);

  // Up to the newest stored event (an edit's seq too: the list's lastSeq counts it), and only
  // while the newest messages are in view: scrolled up with "N new messages" showing, the reader
  // has not seen them, however long the page has the focus.
  useMarkRead(roomId, chat.state.lastSeq, chat.state.loaded && ended === null && atBottom);
  // The room list does not count what arrives while they are in view.
  useEffect(() => (atBottom ? showingLatest(roomId) : undefined), [roomId, atBottom]);

  const toggleMembers = useCallback(() => setMembersOpen((open) => !open), []);
  const typingLine = ended === null ? typingText(typingLogins) : "";

  return (
    <section className="room" aria-labelledby="room-heading">
      <RoomHeaderSlot
        room={room}
        isOwner={room.ownerId === user.id}
        ended={ended !== null}
        onFlash={onFlash}
        membersPanelId={MEMBERS_PANEL_ID}
        membersOpen={membersOpen}
        onlineCount={online?.size ?? null}
        onToggleMembers={toggleMembers}
      />
      {ended && !removedMe ? (
        <div className="notice notice-error ended" role="alert">
          <span>{ENDED_TEXT[ended.kind as StaysEnded]}</span>
          <button type="button" className="btn btn-small" onClick={() => navigate("/")}>
            Back to my rooms
          </button>
        </div>
      ) : null}
      {chat.loadError ? (
        <div className="room-load-error">
          <ErrorNotice error={chat.loadError} />
          <button type="button" className="btn btn-small" onClick={chat.retryLoad}>
            Try again
          </button>
        </div>
      ) : null}
      {!chat.state.loaded && !chat.loadError && !ended ? <p className="muted loading">Loading messages…</p> : null}
      <div className="room-body">
        <MessageList
          messages={chat.state.messages}
          pending={chat.state.pending}
          myId={user.id}
          hasMore={chat.state.hasMore}
          loaded={chat.state.loaded}
          loadingOlder={chat.state.loadingOlder}
          olderError={chat.olderError}
          onLoadOlder={() => void chat.loadOlder()}
          onRetry={chat.retry}
          onDiscard={chat.discard}
          isOwner={room.ownerId === user.id}
          canChange={ended === null}
          onEdit={chat.edit}
          onDelete={chat.remove}
          onAtBottomChange={setAtBottom}
        />
        <div hidden={!membersOpen} className="members-slot">
          <MembersPanel id={MEMBERS_PANEL_ID} room={room} myId={user.id} online={online} ended={ended !== null} />
        </div>
      </div>
      <p className="typing" aria-live="polite" data-testid="typing">
        {typingLine}
      </p>
      <Composer
        disabled={ended !== null}
        onSend={(text) => {
          typing.stop();
          void chat.send(text);
        }}
        onTextChange={typing.onText}
        autoFocus={wide()}
      />
    </section>
  );
}
