import { useQuery, useQueryClient } from "@tanstack/react-query";
import { memo, useEffect } from "react";
import type { Room, User } from "@anonchat/shared";
import { ErrorNotice } from "../../components/Notice";
import type { ConnectionMonitor } from "../../lib/connection";
import type { SessionStore } from "../../lib/session";
import { useTRPC } from "../../lib/trpc";
import { navigate } from "../../app/router";
import { Composer } from "./Composer";
import { MessageList } from "./MessageList";
import { RoomHeader } from "./RoomHeader";
import type { Ended } from "./messages-state";
import { useRoomMessages } from "./useRoomMessages";

interface Props {
  room: Room;
  user: User;
  store: SessionStore;
  monitor: ConnectionMonitor;
  onFlash: (text: string) => void;
}

const ENDED_TEXT: Record<Ended["kind"], string> = {
  removed: "This room was removed by its owner. You can still read what was said here, but no one can write.",
  notMember: "You're no longer a member of this room.",
  notFound: "This room no longer exists.",
};

// The header (and its dialogs) need not re-render with every message.
const RoomHeaderSlot = memo(RoomHeader);

const wide = () => window.matchMedia("(min-width: 48rem)").matches;

export function RoomView({ room: initial, user, store, monitor, onFlash }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const chat = useRoomMessages(initial.id, store, monitor, () => {
    void queryClient.invalidateQueries({ queryKey: trpc.room.get.queryKey({ roomId: initial.id }) });
  });
  const ended = chat.state.ended;
  // Member count and limit, kept fresh (there is no membership event yet).
  const fresh = useQuery(
    trpc.room.get.queryOptions({ roomId: initial.id }, { refetchInterval: 10_000, enabled: ended === null, retry: false }),
  );
  const room = fresh.data ?? initial;
  // The room list shows the same count: keep it in step.
  useEffect(() => {
    if (!fresh.data) return;
    const latest = fresh.data;
    queryClient.setQueryData(trpc.room.list.queryKey(), (old) => old?.map((r) => (r.id === latest.id ? latest : r)));
  }, [fresh.data, queryClient, trpc]);

  return (
    <section className="room" aria-labelledby="room-heading">
      <RoomHeaderSlot room={room} isOwner={room.ownerId === user.id} ended={ended !== null} onFlash={onFlash} />
      {ended ? (
        <div className="notice notice-error ended" role="alert">
          <span>{ENDED_TEXT[ended.kind]}</span>
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
      />
      <Composer disabled={ended !== null} onSend={(text) => void chat.send(text)} autoFocus={wide()} />
    </section>
  );
}
