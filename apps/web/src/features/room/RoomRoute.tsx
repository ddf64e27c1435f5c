import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import type { Room, User } from "@anonchat/shared";
import { ErrorNotice } from "../../components/Notice";
import type { ConnectionMonitor } from "../../lib/connection";
import { describeError, type UserMessage } from "../../lib/errors";
import type { SessionStore } from "../../lib/session";
import { useTRPC } from "../../lib/trpc";
import { navigate } from "../../app/router";
import { useScreen } from "../../app/useScreen";
import { RoomView } from "./RoomView";

interface Props {
  roomId: string;
  user: User;
  store: SessionStore;
  monitor: ConnectionMonitor;
  onFlash: (text: string) => void;
}

/**
 * Opens a room of mine, or joins it first when I came by its link. Joining a room I am already in
 * is harmless (the server returns it), so a stale list only costs one call.
 */
export function RoomRoute({ roomId, user, store, monitor, onFlash }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const rooms = useQuery(trpc.room.list.queryOptions());
  const join = useMutation(trpc.room.join.mutationOptions());
  const [joined, setJoined] = useState<Room | null>(null);
  const [joinError, setJoinError] = useState<UserMessage | null>(null);
  const started = useRef(false);
  const listed = rooms.data?.find((r) => r.id === roomId);
  // Once open, the room stays on screen even when it leaves the list (removed, or left in another
  // tab): the room view explains what happened instead of the join gate.
  const opened = useRef<Room | null>(null);
  const room = listed ?? joined ?? opened.current;
  opened.current = room;

  useEffect(() => {
    if (listed || opened.current || started.current || (!rooms.data && !rooms.isError)) return;
    started.current = true;
    join.mutateAsync({ roomId }).then(
      (room) => {
        setJoined(room);
        void queryClient.invalidateQueries({ queryKey: trpc.room.list.queryKey() });
      },
      (err: unknown) => setJoinError(describeError(err, "join")),
    );
  }, [listed, rooms.data, rooms.isError, roomId, join, queryClient, trpc]);

  if (room) return <RoomView room={room} user={user} store={store} monitor={monitor} onFlash={onFlash} />;
  if (joinError) {
    return (
      <JoinGate
        error={joinError}
        onRetry={() => {
          started.current = false;
          setJoinError(null);
          void rooms.refetch();
        }}
      />
    );
  }
  return (
    <p className="muted loading" role="status">
      {listed === undefined && rooms.data ? "Joining the room…" : "Opening the room…"}
    </p>
  );
}

function JoinGate({ error, onRetry }: { error: UserMessage; onRetry: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useScreen("Can't open this room", heading);
  return (
    <section className="room-gate" aria-labelledby="gate-heading">
      <h1 id="gate-heading" ref={heading} tabIndex={-1}>
        Can't open this room
      </h1>
      <ErrorNotice error={error} />
      <div className="row">
        <button type="button" className="btn" onClick={onRetry}>
          Try again
        </button>
        <button type="button" className="btn btn-primary" onClick={() => navigate("/")}>
          Back to my rooms
        </button>
      </div>
    </section>
  );
}
