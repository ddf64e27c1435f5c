import { useState, type FormEvent } from "react";
import { ErrorNotice } from "../../components/Notice";
import type { UserMessage } from "../../lib/errors";
import { roomIdFrom } from "../../lib/room-link";
import { navigate, roomPath } from "../../app/router";

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
