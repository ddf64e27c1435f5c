import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import type { Room, User } from "@anonchat/shared";
import { ErrorNotice } from "../../components/Notice";
import type { ConnectionMonitor } from "../../lib/connection";
import { describeError, type UserMessage } from "../../lib/errors";
import type { SessionStore } from "../../lib/session";
import { useTRPC } from "../../lib/trpc";
import { navigate } from "../../app/router";
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

  useEffect(() => {
    if (listed || started.current || (!rooms.data && !rooms.isError)) return;
    started.current = true;
    join.mutateAsync({ roomId }).then(
      (room) => {
        setJoined(room);
        void queryClient.invalidateQueries({ queryKey: trpc.room.list.queryKey() });
      },
      (err: unknown) => setJoinError(describeError(err, "join")),
    );
  }, [listed, rooms.data, rooms.isError, roomId, join, queryClient, trpc]);

  const room = listed ?? joined;
  if (room) return <RoomView room={room} user={user} store={store} monitor={monitor} onFlash={onFlash} />;
  if (joinError) {
    return (
      <section className="room-gate" aria-labelledby="gate-heading">
        <h1 id="gate-heading">Can't open this room</h1>
        <ErrorNotice error={joinError} />
        <div className="row">
          <button
            type="button"
            className="btn"
            onClick={() => {
              started.current = false;
              setJoinError(null);
              void rooms.refetch();
            }}
          >
            Try again
          </button>
          <button type="button" className="btn btn-primary" onClick={() => navigate("/")}>
            Back to my rooms
          </button>
        </div>
      </section>
    );
  }
  return (
    <p className="muted loading" role="status">
      {listed === undefined && rooms.data ? "Joining the room…" : "Opening the room…"}
    </p>
  );
}
