import { useQuery } from "@tanstack/react-query";
import type { RoomSummary } from "@anonchat/shared";
import { ErrorNotice } from "../../components/Notice";
import { describeError } from "../../lib/errors";
import { fullTime, shortTime } from "../../lib/format";
import { useTRPC } from "../../lib/trpc";
import { navigate, roomPath } from "../../app/router";
import { byActivity, unreadLabel } from "./room-list-state";

/**
 * The rooms I am a member of, newest activity first, each with its last message and what I have
 * not read. room.onActivity (useRoomActivity) keeps the cached list live.
 */
export function RoomList({ activeRoomId, myId }: { activeRoomId?: string; myId: number }) {
  const trpc = useTRPC();
  const rooms = useQuery(trpc.room.list.queryOptions());
  const list = rooms.data ? byActivity(rooms.data) : undefined;
  return (
    <section className="room-list" aria-labelledby="my-rooms">
      <h2 id="my-rooms">My rooms</h2>
      {rooms.isPending ? <p className="muted">Loading your rooms…</p> : null}
      {rooms.isError ? <ErrorNotice error={describeError(rooms.error, "load")} /> : null}
      {list && list.length === 0 ? <p className="muted">No rooms yet. Create one or join with a link.</p> : null}
      {list && list.length > 0 ? (
        <ul>
          {list.map((r) => (
            <li key={r.id}>
              <a
                href={roomPath(r.id)}
                aria-current={r.id === activeRoomId ? "page" : undefined}
                className={r.unreadCount > 0 ? "unread" : undefined}
                onClick={(e) => {
                  if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
                  e.preventDefault();
                  navigate(roomPath(r.id));
                }}
              >
                <span className="room-line">
                  <span className="room-name">{r.name}</span>
                  {r.unreadCount > 0 ? (
                    <span className="badge" data-testid="unread">
                      {unreadLabel(r.unreadCount)}
                      <span className="sr-only"> unread</span>
                    </span>
                  ) : null}
                </span>
                <LastMessage room={r} myId={myId} />
              </a>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function LastMessage({ room, myId }: { room: RoomSummary; myId: number }) {
  const m = room.lastMessage;
  return (
    <span className="room-last">
      <span className="room-last-text">
        {m === null ? (
          <span className="muted-inline">No messages yet</span>
        ) : (
          <>
            <span className="room-last-sender">{m.senderId === myId ? "You" : m.senderLogin}:</span>{" "}
            {m.deletedAt !== null ? <em>message deleted</em> : m.text}
          </>
        )}
      </span>
      {m !== null ? (
        <time dateTime={room.lastActivityAt} title={fullTime(room.lastActivityAt)}>
          {shortTime(room.lastActivityAt)}
        </time>
      ) : null}
    </span>
  );
}
