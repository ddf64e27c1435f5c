import { useEffect, useMemo, useState } from "react";
import type { UserMessage } from "../lib/errors";

/** Seconds left until `until` (epoch ms), ticking once a second; 0 when passed. */
export function useCountdown(until: number | null): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (until === null || until <= Date.now()) return;
    const id = setInterval(() => {
      setNow(Date.now());
      if (Date.now() >= until) clearInterval(id);
    }, 250);
    return () => clearInterval(id);
  }, [until]);
  return until === null ? 0 : Math.max(0, Math.ceil((until - now) / 1000));
}

/**
 * An error a person can act on, announced by screen readers. For rate limits it counts down the
 * wait and then says the user may try again.
 */
export function ErrorNotice({ error, id, onDismiss }: { error: UserMessage | null; id?: string; onDismiss?: () => void }) {
  // A new error object restarts the countdown.
  const until = useMemo(() => (error?.retryAfter ? Date.now() + error.retryAfter * 1000 : null), [error]);
  const left = useCountdown(until);
  if (!error) return null;
  let text = error.text;
  if (error.retryAfter !== undefined) {
    text += left > 0 ? ` Try again in ${left} ${left === 1 ? "second" : "seconds"}.` : " You can try again now.";
  }
  return (
    <div className={`notice notice-error notice-${error.kind}`} role="alert" id={id}>
      <span>{text}</span>
      {onDismiss ? (
        <button type="button" className="btn-link" onClick={onDismiss}>
          Dismiss
        </button>
      ) : null}
    </div>
  );
}

export function InfoNotice({ children }: { children: React.ReactNode }) {
  return (
    <div className="notice notice-info" role="status">
      {children}
    </div>
  );
}
