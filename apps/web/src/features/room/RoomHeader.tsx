import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import type { Room } from "@anonchat/shared";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ErrorNotice } from "../../components/Notice";
import { describeError, type UserMessage } from "../../lib/errors";
import { useTRPC } from "../../lib/trpc";
import { navigate, roomLink } from "../../app/router";
import { useScreen } from "../../app/useScreen";

interface Props {
  room: Room;
  isOwner: boolean;
  ended: boolean;
  onFlash: (text: string) => void;
  membersPanelId: string;
  membersOpen: boolean;
  /** Members online now, when known. */
  onlineCount: number | null;
  onToggleMembers: () => void;
}

type Confirming = "leave" | "remove" | null;

/** Name, members against the limit, the shareable link, and leave / delete with a confirmation. */
export function RoomHeader({ room, isOwner, ended, onFlash, membersPanelId, membersOpen, onlineCount, onToggleMembers }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState<Confirming>(null);
  const [error, setError] = useState<UserMessage | null>(null);
  const [copied, setCopied] = useState(false);
  const leave = useMutation(trpc.room.leave.mutationOptions());
  const remove = useMutation(trpc.room.remove.mutationOptions());
  const link = roomLink(room.id);
  const heading = useRef<HTMLHeadingElement>(null);
  useScreen(room.name, heading);

  async function confirm() {
    const action = confirming;
    if (!action) return;
    setError(null);
    try {
      if (action === "leave") await leave.mutateAsync({ roomId: room.id });
      else await remove.mutateAsync({ roomId: room.id });
      setConfirming(null);
      queryClient.setQueryData(trpc.room.list.queryKey(), (old) => old?.filter((r) => r.id !== room.id));
      void queryClient.invalidateQueries({ queryKey: trpc.room.list.queryKey() });
      onFlash(action === "leave" ? `You left “${room.name}”.` : `“${room.name}” was deleted.`);
      navigate("/");
    } catch (err) {
      setConfirming(null);
      setError(describeError(err, action));
    }
  }

  async function copy() {
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
      setTimeout(() => setCopied(false), 2500);
    } catch {
      // No clipboard (a non-secure origin): the link is selectable in the field instead.
      document.getElementById("room-link")?.focus();
    }
  }

  return (
    <header className="room-header">
      <div className="room-title">
        <a
          href="/"
          className="back-link"
          onClick={(e) => {
            e.preventDefault();
            navigate("/");
          }}
        >
          <span aria-hidden="true">←</span> Rooms
        </a>
        <h1 id="room-heading" ref={heading} tabIndex={-1}>
          {room.name}
        </h1>
        <p className="members" data-testid="member-count">
          {room.memberCount} / {room.maxMembers} members
        </p>
      </div>
      <div className="room-actions">
        <button type="button" className="btn btn-small" aria-expanded={membersOpen} aria-controls={membersPanelId} onClick={onToggleMembers}>
          Members{onlineCount !== null ? <span className="muted-inline"> · {onlineCount} online</span> : null}
        </button>
        <div className="share">
          <label htmlFor="room-link" className="sr-only">
            Link to this room
          </label>
          <input id="room-link" readOnly value={link} onFocus={(e) => e.currentTarget.select()} />
          <button type="button" className="btn btn-small" onClick={copy}>
            {copied ? "Copied" : "Copy link"}
          </button>
          <span className="sr-only" role="status">
            {copied ? "Link copied" : ""}
          </span>
        </div>
        {!ended ? (
          <button type="button" className="btn btn-small" onClick={() => setConfirming("leave")}>
            Leave
          </button>
        ) : null}
        {isOwner && !ended ? (
          <button type="button" className="btn btn-small btn-danger" onClick={() => setConfirming("remove")}>
            Delete room
          </button>
        ) : null}
      </div>
      <ErrorNotice error={error} onDismiss={() => setError(null)} />
      <ConfirmDialog
        open={confirming === "leave"}
        title={`Leave “${room.name}”?`}
        confirmLabel="Leave room"
        busy={leave.isPending}
        onConfirm={confirm}
        onCancel={() => setConfirming(null)}
      >
        <p>It disappears from your rooms. You can come back with its link while it has space.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={confirming === "remove"}
        title={`Delete “${room.name}” for everyone?`}
        confirmLabel="Delete room"
        danger
        busy={remove.isPending}
        onConfirm={confirm}
        onCancel={() => setConfirming(null)}
      >
        <p>All its messages are deleted and every member is removed. This can't be undone.</p>
      </ConfirmDialog>
    </header>
  );
}
