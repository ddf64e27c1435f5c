import { useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { LIMITS } from "@anonchat/shared";

interface Props {
  disabled: boolean;
  onSend: (text: string) => void;
  /** Every change to the text, for the typing indicator. */
  onTextChange?: (text: string) => void;
  autoFocus: boolean;
}

/** Enter sends, Shift+Enter breaks the line; the box grows with its text up to a few lines. */
export function Composer({ disabled, onSend, onTextChange, autoFocus }: Props) {
  const [text, setText] = useState("");
  const ref = useRef<HTMLTextAreaElement>(null);
  const trimmed = text.trim();
  const tooLong = trimmed.length > LIMITS.messageTextMax;

  function submit(e?: FormEvent) {
    e?.preventDefault();
    if (disabled || trimmed.length === 0 || tooLong) return;
    onSend(trimmed);
    setText("");
    ref.current?.focus();
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    }
  }

  const rows = Math.min(6, Math.max(1, text.split("\n").length));
  return (
    <form className="composer" onSubmit={submit}>
      <label htmlFor="composer-text" className="sr-only">
        Message
      </label>
      <textarea
        id="composer-text"
        ref={ref}
        rows={rows}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          onTextChange?.(e.target.value);
        }}
        onKeyDown={onKeyDown}
        placeholder={disabled ? "You can't send messages here" : "Write a message…"}
        disabled={disabled}
        autoFocus={autoFocus}
        aria-describedby="composer-hint"
        aria-invalid={tooLong || undefined}
      />
      <button type="submit" className="btn btn-primary" disabled={disabled || trimmed.length === 0 || tooLong}>
        Send
      </button>
      <p id="composer-hint" className={tooLong ? "composer-hint error-text" : "composer-hint"}>
        {tooLong
          ? `Too long: ${trimmed.length} of at most ${LIMITS.messageTextMax} characters.`
          : "Enter to send · Shift+Enter for a new line"}
      </p>
    </form>
  );
}
