import { useEffect, useId, useRef, useState, type KeyboardEvent } from "react";
import { LIMITS, type Message } from "@anonchat/shared";
import { ErrorNotice } from "../../components/Notice";
import { describeError, type UserMessage } from "../../lib/errors";
import { fullTime, shortTime } from "../../lib/format";
import { systemText } from "./timeline";

interface Props {
  message: Message;
  mine: boolean;
  /** Only the author may edit; the owner may delete anyone's message. */
  canEdit: boolean;
  canDelete: boolean;
  onEdit: (seq: number, text: string) => Promise<void>;
  onDelete: (message: Message) => void;
}

/** One timeline item: a chat message (with its edit and delete actions), or a membership line. */
export function MessageItem(props: Props) {
  if (props.message.kind !== "text") return <SystemLine message={props.message} />;
  return <ChatMessage {...props} />;
}

function SystemLine({ message }: { message: Message }) {
  return (
    <li className="sys" data-seq={message.seq} data-kind={message.kind}>
      <span className="sys-text">{systemText(message)}</span>{" "}
      <time dateTime={message.createdAt} title={fullTime(message.createdAt)}>
        {shortTime(message.createdAt)}
      </time>
    </li>
  );
}

function ChatMessage({ message, mine, canEdit: mayEdit, canDelete: mayDelete, onEdit, onDelete }: Props) {
  const [editing, setEditing] = useState(false);
  const textId = useId();
  const editButton = useRef<HTMLButtonElement>(null);
  const refocus = useRef(false);
  const deleted = message.deletedAt !== null;
  const canEdit = mayEdit && !deleted;
  const canDelete = mayDelete && !deleted;
  useEffect(() => {
    if (!editing && refocus.current) {
      refocus.current = false;
      editButton.current?.focus();
    }
  }, [editing]);

  function close() {
    refocus.current = true;
    setEditing(false);
  }

  return (
    <li className={`msg${mine ? " mine" : ""}${deleted ? " deleted" : ""}`} data-seq={message.seq}>
      <div className="msg-head">
        <span className="msg-author">{mine ? "You" : message.senderLogin}</span>
        <time dateTime={message.createdAt} title={fullTime(message.createdAt)}>
          {shortTime(message.createdAt)}
        </time>
        {message.editedAt !== null && !deleted ? (
          <span className="msg-edited" title={`Edited ${fullTime(message.editedAt)}`}>
            (edited)
          </span>
        ) : null}
      </div>
      {editing ? (
        <MessageEditor initial={message.text} onSave={(text) => onEdit(message.seq, text)} onDone={close} />
      ) : deleted ? (
        <p className="msg-text msg-tombstone">message deleted</p>
      ) : (
        <p className="msg-text" id={textId}>
          {message.text}
        </p>
      )}
      {!editing && !deleted && (canEdit || canDelete) ? (
        <div className="msg-tools">
          {canEdit ? (
            <button type="button" className="btn-link msg-tool" ref={editButton} aria-describedby={textId} onClick={() => setEditing(true)}>
              Edit
            </button>
          ) : null}
          {canDelete ? (
            <button type="button" className="btn-link msg-tool" aria-describedby={textId} onClick={() => onDelete(message)}>
              Delete
            </button>
          ) : null}
        </div>
      ) : null}
    </li>
  );
}

/** The inline editor: Enter saves, Shift+Enter breaks the line, Escape cancels. */
function MessageEditor({ initial, onSave, onDone }: { initial: string; onSave: (text: string) => Promise<void>; onDone: () => void }) {
  const [text, setText] = useState(initial);
  const [error, setError] = useState<UserMessage | null>(null);
  const [busy, setBusy] = useState(false);
  const hintId = useId();
  const trimmed = text.trim();

  async function save() {
    if (busy) return;
    if (trimmed === initial) return onDone();
    if (trimmed.length === 0) return setError({ kind: "refused", text: "A message can't be empty. Delete it instead." });
    if (trimmed.length > LIMITS.messageTextMax) {
      return setError({ kind: "refused", text: `Too long: at most ${LIMITS.messageTextMax} characters.` });
    }
    setBusy(true);
    setError(null);
    try {
      await onSave(trimmed);
      onDone();
    } catch (err) {
      setBusy(false);
      setError(describeError(err, "edit"));
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void save();
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      onDone();
    }
  }

  return (
    <div className="msg-editor">
      <textarea
        aria-label="Edit message"
        aria-describedby={hintId}
        rows={Math.min(6, Math.max(2, text.split("\n").length))}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        onFocus={(e) => e.currentTarget.setSelectionRange(e.currentTarget.value.length, e.currentTarget.value.length)}
        autoFocus
        readOnly={busy}
        aria-busy={busy || undefined}
      />
      <p id={hintId} className="msg-editor-hint">
        Enter to save · Escape to cancel
      </p>
      <div className="msg-actions">
        <button type="button" className="btn btn-small btn-primary" onClick={() => void save()} disabled={busy}>
          {busy ? "Saving…" : "Save"}
        </button>
        <button type="button" className="btn btn-small" onClick={onDone} disabled={busy}>
          Cancel
        </button>
        <ErrorNotice error={error} />
      </div>
    </div>
  );
}
