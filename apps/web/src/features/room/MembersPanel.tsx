import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import type { BannedUser, Room, RoomMember } from "@anonchat/shared";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ErrorNotice, InfoNotice } from "../../components/Notice";
import { describeError, type UserMessage } from "../../lib/errors";
import { fullTime, shortTime } from "../../lib/format";
import { useTRPC } from "../../lib/trpc";

interface Props {
  id: string;
  room: Room;
  myId: number;
  /** Who is online now from the room's stream; null until its first presence list. */
  online: ReadonlyMap<number, string> | null;
  ended: boolean;
}

type Action = "kick" | "ban" | "owner";
interface Confirming {
  action: Action;
  member: RoomMember;
}

const CONFIRM: Record<Action, { title: (login: string, room: string) => string; label: string; body: (login: string) => string }> = {
  kick: {
    title: (login, room) => `Remove ${login} from “${room}”?`,
    label: "Kick",
    body: (login) => `${login} is removed at once and can join again with the room's link.`,
  },
  ban: {
    title: (login, room) => `Ban ${login} from “${room}”?`,
    label: "Ban",
    body: (login) => `${login} is removed at once and can't join again unless you unban them.`,
  },
  owner: {
    title: (login, room) => `Make ${login} the owner of “${room}”?`,
    label: "Make owner",
    body: (login) => `${login} gets the owner's controls: removing members and deleting the room. You stay a member without them.`,
  },
};

/** Everyone in the room, online first, with the owner's moderation controls. */
export function MembersPanel({ id, room, myId, online, ended }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const members = useQuery(trpc.member.list.queryOptions({ roomId: room.id }, { enabled: !ended, retry: false }));
  const kick = useMutation(trpc.member.kick.mutationOptions());
  const ban = useMutation(trpc.member.ban.mutationOptions());
  const unban = useMutation(trpc.member.unban.mutationOptions());
  const transfer = useMutation(trpc.room.transfer.mutationOptions());
  const [confirming, setConfirming] = useState<Confirming | null>(null);
  const [error, setError] = useState<UserMessage | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const isOwner = room.ownerId === myId && !ended;
  // Only the owner may read the bans; the query waits until this client is the owner.
  const bansKey = trpc.member.bans.queryKey({ roomId: room.id });
  const bans = useQuery(trpc.member.bans.queryOptions({ roomId: room.id }, { enabled: isOwner, retry: false }));
  const bansHeading = useRef<HTMLHeadingElement>(null);
  const unbanButtons = useRef(new Map<number, HTMLButtonElement>());
  /** After an unban its button is gone: focus goes to the next one in the list, else the heading. */
  const [focusAfterUnban, setFocusAfterUnban] = useState<number | null>(null);
  const membersHeading = useRef<HTMLHeadingElement>(null);
  const kickButtons = useRef(new Map<number, HTMLButtonElement>());
  /**
   * After a kick or ban the member's row (and the button the dialog would give focus back to) goes
   * once the list no longer shows them: focus goes to the next member's Kick, else the heading.
   */
  const [focusAfterRemove, setFocusAfterRemove] = useState<{ userId: number; index: number } | null>(null);
  /**
   * After "Make owner" the owner's controls (the button the dialog would give focus back to among
   * them) are gone: focus goes to the members heading, once the dialog has closed.
   */
  const [focusHeading, setFocusHeading] = useState(false);

  const all = withPresence(members.data ?? [], online, room.ownerId);
  const onlineNow = all.filter((m) => m.online);
  const offline = all.filter((m) => !m.online);
  const busy = kick.isPending || ban.isPending || transfer.isPending;
  /** The members with moderation controls, in the order shown. */
  const others = [...onlineNow, ...offline].filter((m) => m.userId !== myId);

  async function confirm() {
    if (!confirming) return;
    const { action, member } = confirming;
    const input = { roomId: room.id, userId: member.userId };
    const index = others.findIndex((m) => m.userId === member.userId);
    setFocusAfterRemove(null);
    setError(null);
    setDone(null);
    try {
      if (action === "kick") {
        await kick.mutateAsync(input);
        setFocusAfterRemove({ userId: member.userId, index });
        setDone(`${member.login} was removed from the room.`);
      } else if (action === "ban") {
        await ban.mutateAsync(input);
        setFocusAfterRemove({ userId: member.userId, index });
        setDone(`${member.login} is banned from the room. You can unban them under Banned.`);
      } else {
        const updated = await transfer.mutateAsync(input);
        queryClient.setQueryData(trpc.room.get.queryKey({ roomId: room.id }), updated);
        setFocusHeading(true);
        setDone(`${member.login} is now the owner.`);
      }
    } catch (err) {
      setError(describeError(err, "moderate"));
    }
    setConfirming(null);
    void queryClient.invalidateQueries({ queryKey: trpc.member.list.queryKey({ roomId: room.id }) });
    if (action === "ban") void queryClient.invalidateQueries({ queryKey: bansKey });
  }

  async function undoBan(banned: BannedUser, index: number) {
    // Not disabled while one is pending: a disabled button would drop the keyboard focus.
    if (unban.isPending) return;
    setError(null);
    setDone(null);
    try {
      await unban.mutateAsync({ roomId: room.id, userId: banned.userId });
      // Gone from the list at once; the refetch below confirms it with the server.
      queryClient.setQueryData(bansKey, (old) => old?.filter((b) => b.userId !== banned.userId));
      setFocusAfterUnban(index);
      setDone(`${banned.login} is no longer banned and can join again with the room's link.`);
    } catch (err) {
      setError(describeError(err, "moderate"));
    }
    void queryClient.invalidateQueries({ queryKey: bansKey });
  }

  useEffect(() => {
    if (focusAfterUnban === null || !bans.data) return;
    setFocusAfterUnban(null);
    const next = bans.data[Math.min(focusAfterUnban, bans.data.length - 1)];
    // Not `button?.focus() ?? heading.focus()`: focus() returns undefined, so that always took the heading.
    ((next && unbanButtons.current.get(next.userId)) || bansHeading.current)?.focus();
  }, [focusAfterUnban, bans.data]);

  useEffect(() => {
    if (focusAfterRemove === null || !members.data) return;
    // Still listed (the refetch or the presence change has not come yet): wait for it.
    if (others.some((m) => m.userId === focusAfterRemove.userId)) return;
    setFocusAfterRemove(null);
    const next = others[Math.min(focusAfterRemove.index, others.length - 1)];
    ((next && kickButtons.current.get(next.userId)) || membersHeading.current)?.focus();
  });

  // The dialog's effect (a child's) has closed it and tried to give focus back by now.
  useEffect(() => {
    if (!focusHeading || confirming !== null) return;
    setFocusHeading(false);
    membersHeading.current?.focus();
  }, [focusHeading, confirming]);

  const row = (m: RoomMember) => (
    <li key={m.userId} className="member" data-user-id={m.userId}>
      <span className={m.online ? "presence-dot online" : "presence-dot"} aria-hidden="true" />
      <span className="member-name">
        {m.login}
        {m.userId === myId ? <span className="muted-inline"> (you)</span> : null}
      </span>
      {m.role === "owner" ? <span className="role-tag">owner</span> : null}
      {isOwner && m.userId !== myId ? (
        <span className="member-actions">
          <button
            type="button"
            className="btn-link"
            aria-label={`Kick ${m.login}`}
            ref={(el) => {
              if (el) kickButtons.current.set(m.userId, el);
              else kickButtons.current.delete(m.userId);
            }}
            onClick={() => setConfirming({ action: "kick", member: m })}
          >
            Kick
          </button>
          <button type="button" className="btn-link" aria-label={`Ban ${m.login}`} onClick={() => setConfirming({ action: "ban", member: m })}>
            Ban
          </button>
          <button
            type="button"
            className="btn-link"
            aria-label={`Make owner: ${m.login}`}
            onClick={() => setConfirming({ action: "owner", member: m })}
          >
            Make owner
          </button>
        </span>
      ) : null}
    </li>
  );

  const c = confirming ? CONFIRM[confirming.action] : null;
  return (
    <aside id={id} className="members-panel" aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`} ref={membersHeading} tabIndex={-1}>
        Members
      </h2>
      {members.isPending && !ended ? <p className="muted small">Loading members…</p> : null}
      {members.isError ? <ErrorNotice error={describeError(members.error, "load")} /> : null}
      {done ? (
        <InfoNotice>
          <span>{done}</span>
        </InfoNotice>
      ) : null}
      <ErrorNotice error={error} onDismiss={() => setError(null)} />
      <h3 id={`${id}-online`}>Online — {onlineNow.length}</h3>
      <ul className="member-list" aria-labelledby={`${id}-online`}>
        {onlineNow.map(row)}
      </ul>
      {offline.length > 0 ? (
        <>
          <h3 id={`${id}-offline`}>Offline — {offline.length}</h3>
          <ul className="member-list" aria-labelledby={`${id}-offline`}>
            {offline.map(row)}
          </ul>
        </>
      ) : null}
      {isOwner ? (
        <>
          {bans.isError ? <ErrorNotice error={describeError(bans.error, "load")} /> : null}
          {bans.data ? (
            <>
              <h3 id={`${id}-banned`} ref={bansHeading} tabIndex={-1}>
                Banned — {bans.data.length}
              </h3>
              {bans.data.length === 0 ? (
                <p className="muted small">No one is banned.</p>
              ) : (
                <ul className="member-list" aria-labelledby={`${id}-banned`}>
                  {bans.data.map((b, i) => (
                    <li key={b.userId} className="member banned" data-user-id={b.userId}>
                      <span className="member-name">{b.login}</span>
                      <time className="muted small" dateTime={b.bannedAt} title={fullTime(b.bannedAt)}>
                        since {shortTime(b.bannedAt)}
                      </time>
                      <span className="member-actions">
                        <button
                          type="button"
                          className="btn-link"
                          aria-label={`Unban ${b.login}`}
                          ref={(el) => {
                            if (el) unbanButtons.current.set(b.userId, el);
                            else unbanButtons.current.delete(b.userId);
                          }}
                          onClick={() => void undoBan(b, i)}
                        >
                          Unban
                        </button>
                      </span>
                    </li>
                  ))}
                </ul>
              )}
            </>
          ) : null}
        </>
      ) : null}
      <ConfirmDialog
        open={confirming !== null}
        title={c && confirming ? c.title(confirming.member.login, room.name) : ""}
        confirmLabel={c?.label ?? ""}
        danger={confirming?.action !== "owner"}
        busy={busy}
        onConfirm={() => void confirm()}
        onCancel={() => setConfirming(null)}
      >
        <p>{c && confirming ? c.body(confirming.member.login) : ""}</p>
      </ConfirmDialog>
    </aside>
  );
}

/**
 * The member list with the live presence applied: online from the stream when it has spoken,
 * someone online who is not listed yet (they joined a moment ago) added, the owner from the room.
 */
function withPresence(members: RoomMember[], online: ReadonlyMap<number, string> | null, ownerId: number): RoomMember[] {
  const out: RoomMember[] = members.map((m) => ({
    ...m,
    online: online ? online.has(m.userId) : m.online,
    role: m.userId === ownerId ? "owner" : "member",
  }));
  if (online) {
    const listed = new Set(members.map((m) => m.userId));
    for (const [userId, login] of online) {
      if (!listed.has(userId)) {
        out.push({ userId, login, role: userId === ownerId ? "owner" : "member", joinedAt: "", lastReadSeq: 0, online: true });
      }
    }
  }
  return out.sort((a, b) => (a.role === b.role ? a.login.localeCompare(b.login) : a.role === "owner" ? -1 : 1));
}
