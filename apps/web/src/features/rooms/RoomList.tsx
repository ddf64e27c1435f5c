import { useQuery } from "@tanstack/react-query";
import { ErrorNotice } from "../../components/Notice";
import { describeError } from "../../lib/errors";
import { useTRPC } from "../../lib/trpc";
import { navigate, roomPath } from "../../app/router";

/** The rooms I am a member of, newest activity first as the server orders them. */
export function RoomList({ activeRoomId }: { activeRoomId?: string }) {
  const trpc = useTRPC();
  const rooms = useQuery(trpc.room.list.queryOptions(undefined, { refetchInterval: 30_000 }));
  return (
    <section className="room-list" aria-labelledby="my-rooms">
      <h2 id="my-rooms">My rooms</h2>
      {rooms.isPending ? <p className="muted">Loading your rooms…</p> : null}
      {rooms.isError ? <ErrorNotice error={describeError(rooms.error, "load")} /> : null}
      {rooms.data && rooms.data.length === 0 ? <p className="muted">No rooms yet. Create one or join with a link.</p> : null}
      {rooms.data && rooms.data.length > 0 ? (
        <ul>
          {rooms.data.map((r) => (
            <li key={r.id}>
              <a
                href={roomPath(r.id)}
                aria-current={r.id === activeRoomId ? "page" : undefined}
                onClick={(e) => {
                  if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
                  e.preventDefault();
                  navigate(roomPath(r.id));
                }}
              >
                <span className="room-name">{r.name}</span>
                <span className="room-meta">
                  {r.memberCount}/{r.maxMembers}
                  <span className="sr-only"> members</span>
                </span>
              </a>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
