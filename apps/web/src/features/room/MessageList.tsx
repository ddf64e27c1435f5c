import { useLayoutEffect, useRef, useState } from "react";
import type { Message } from "@anonchat/shared";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ErrorNotice } from "../../components/Notice";
import { describeError, type UserMessage } from "../../lib/errors";
import { MessageItem } from "./MessageItem";
import type { PendingMessage } from "./messages-state";

interface Props {
  messages: Message[];
  pending: PendingMessage[];
  myId: number;
  hasMore: boolean;
  loaded: boolean;
  loadingOlder: boolean;
  olderError: UserMessage | null;
  onLoadOlder: () => void;
  onRetry: (clientMsgId: string) => void;
  onDiscard: (clientMsgId: string) => void;
  /** The owner may delete anyone's message. */
  isOwner: boolean;
  /** False once the room has ended for me: nothing can be changed any more. */
  canChange: boolean;
  onEdit: (seq: number, text: string) => Promise<void>;
  onDelete: (seq: number) => Promise<void>;
  /**
   * Whether the newest messages are in view (the list is at or near its bottom) changed. Only
   * then can the reader have seen them: the room view marks them read no further than that.
   */
  onAtBottomChange?: (atBottom: boolean) => void;
}

const NEAR_BOTTOM_PX = 80;
const NEAR_TOP_PX = 200;

/**
 * The conversation, oldest at the top. It sticks to the bottom while you are there, keeps your
 * place when older messages load above, and loads them as you scroll up.
 */
export function MessageList(props: Props) {
  const { messages, pending, myId, hasMore, loaded, loadingOlder, olderError, onLoadOlder } = props;
  const scrollRef = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const prev = useRef<{ firstSeq: number | undefined; lastKey: string | undefined; height: number } | null>(null);
  const [unseen, setUnseen] = useState(0);
  const [deleting, setDeleting] = useState<Message | null>(null);
  const [deleteError, setDeleteError] = useState<UserMessage | null>(null);
  const [deleteBusy, setDeleteBusy] = useState(false);

  const lastMessage = messages.at(-1);
  const lastPending = pending.at(-1);
  const lastKey = lastPending ? `p:${lastPending.clientMsgId}:${pending.length}` : lastMessage ? `m:${lastMessage.seq}` : undefined;
  const lastIsMine = lastPending !== undefined || lastMessage?.senderId === myId;

  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const before = prev.current;
    const firstSeq = messages[0]?.seq;
    if (!before || before.lastKey === undefined) {
      el.scrollTop = el.scrollHeight;
    } else if (firstSeq !== undefined && before.firstSeq !== undefined && firstSeq < before.firstSeq) {
      // Older messages went in above: keep what the reader was looking at in place.
      el.scrollTop += el.scrollHeight - before.height;
    } else if (lastKey !== before.lastKey) {
      if (atBottom.current || lastIsMine) {
        el.scrollTop = el.scrollHeight;
        setUnseen(0);
      } else setUnseen((n) => n + 1);
    }
    prev.current = { firstSeq, lastKey, height: el.scrollHeight };
  }, [messages, lastKey, lastIsMine]);

  function onScroll() {
    const el = scrollRef.current;
    if (!el) return;
    const now = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
    if (now !== atBottom.current) {
      atBottom.current = now;
      props.onAtBottomChange?.(now);
    }
    if (now && unseen) setUnseen(0);
    if (el.scrollTop < NEAR_TOP_PX && hasMore && !loadingOlder && !olderError) onLoadOlder();
  }

  async function confirmDelete() {
    if (!deleting) return;
    setDeleteBusy(true);
    setDeleteError(null);
    try {
      await props.onDelete(deleting.seq);
      setDeleting(null);
      // The button that opened the dialog went with the message: continue from the conversation.
      scrollRef.current?.focus({ preventScroll: true });
    } catch (err) {
      setDeleteError(describeError(err, "delete"));
    } finally {
      setDeleteBusy(false);
    }
  }

  function jumpToLatest() {
    const el = scrollRef.current;
    if (el) el.scrollTop = el.scrollHeight;
    setUnseen(0);
  }

  return (
    <div className="messages-wrap">
      <div className="messages" ref={scrollRef} onScroll={onScroll} tabIndex={0} role="region" aria-label="Messages">
        <div className="history-edge">
          {hasMore ? (
            <button type="button" className="btn btn-small" onClick={onLoadOlder} disabled={loadingOlder}>
              {loadingOlder ? "Loading older messages…" : "Load older messages"}
            </button>
          ) : loaded && messages.length > 0 ? (
            <p className="muted small">This is the beginning of the room.</p>
          ) : null}
          <ErrorNotice error={olderError} />
        </div>
        {loaded && messages.length === 0 && pending.length === 0 ? (
          <p className="empty muted">No messages yet. Say hello!</p>
        ) : null}
        <div role="log" aria-live="polite" aria-relevant="additions" aria-label="Conversation">
          <ol className="message-log">
            {messages.map((m) => (
              <MessageItem
                key={m.seq}
                message={m}
                mine={m.senderId === myId}
                canEdit={props.canChange && m.senderId === myId}
                canDelete={props.canChange && (m.senderId === myId || props.isOwner)}
                onEdit={props.onEdit}
                onDelete={(target) => {
                  setDeleteError(null);
                  setDeleting(target);
                }}
              />
            ))}
            {pending.map((p) => (
              <PendingItem key={p.clientMsgId} pending={p} onRetry={props.onRetry} onDiscard={props.onDiscard} />
            ))}
          </ol>
        </div>
      </div>
      {unseen > 0 ? (
        <button type="button" className="btn btn-small jump" onClick={jumpToLatest}>
          {unseen === 1 ? "1 new message" : `${unseen} new messages`} ↓
        </button>
      ) : null}
      <ConfirmDialog
        open={deleting !== null}
        title="Delete this message?"
        confirmLabel="Delete message"
        danger
        busy={deleteBusy}
        onConfirm={() => void confirmDelete()}
        onCancel={() => setDeleting(null)}
      >
        <p>
          {deleting && deleting.senderId !== myId
            ? `${deleting.senderLogin}'s message is replaced by “message deleted” for everyone.`
            : "It is replaced by “message deleted” for everyone. This can't be undone."}
        </p>
        <ErrorNotice error={deleteError} />
      </ConfirmDialog>
    </div>
  );
}

function PendingItem({ pending, onRetry, onDiscard }: { pending: PendingMessage; onRetry: (id: string) => void; onDiscard: (id: string) => void }) {
  const failed = pending.status === "failed";
  return (
    <li className={failed ? "msg mine pending failed" : "msg mine pending"} aria-busy={!failed}>
      <div className="msg-head">
        <span className="msg-author">You</span>
        <span className="msg-state">{failed ? "Not sent" : "Sending…"}</span>
      </div>
      <p className="msg-text">{pending.text}</p>
      {failed ? (
        <div className="msg-actions">
          <ErrorNotice error={pending.error} />
          <button type="button" className="btn btn-small" onClick={() => onRetry(pending.clientMsgId)}>
            Retry
          </button>
          <button type="button" className="btn btn-small btn-quiet" onClick={() => onDiscard(pending.clientMsgId)}>
            Discard
          </button>
        </div>
      ) : null}
    </li>
  );
}
