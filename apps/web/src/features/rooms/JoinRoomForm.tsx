import { useState, type FormEvent } from "react";
import { ROOM_ID_PATTERN } from "@anonchat/shared";
import { ErrorNotice } from "../../components/Notice";
import type { UserMessage } from "../../lib/errors";
import { navigate, roomPath } from "../../app/router";

/** Accepts a bare room id or a shared link (…/r/<roomId>). */
export function roomIdFrom(text: string): string | null {
  const t = text.trim();
  if (ROOM_ID_PATTERN.test(t)) return t;
  const m = /\/r\/([A-Za-z0-9]+)\/?(?:[?#].*)?$/.exec(t);
  return m?.[1] && ROOM_ID_PATTERN.test(m[1]) ? m[1] : null;
}

export function JoinRoomForm() {
  const [value, setValue] = useState("");
  const [error, setError] = useState<UserMessage | null>(null);

  function submit(e: FormEvent) {
    e.preventDefault();
    const id = roomIdFrom(value);
    if (!id) {
      setError({ kind: "refused", text: "Enter a room id (16 to 20 letters or digits) or a room link." });
      return;
    }
    setError(null);
    setValue("");
    navigate(roomPath(id));
  }

  return (
    <section aria-labelledby="join-room">
      <h2 id="join-room">Join a room</h2>
      <form onSubmit={submit} noValidate className="inline-form">
        <div className="field grow">
          <label htmlFor="join-id">Room id or link</label>
          <input id="join-id" value={value} onChange={(e) => setValue(e.target.value)} autoComplete="off" spellCheck={false} required />
        </div>
        <button type="submit" className="btn">
          Join room
        </button>
      </form>
      <ErrorNotice error={error} />
    </section>
  );
}
