import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { describeIssues, LIMITS, roomCreateInput } from "@anonchat/shared";
import { ErrorNotice } from "../../components/Notice";
import { describeError, type UserMessage } from "../../lib/errors";
import { useTRPC } from "../../lib/trpc";
import { navigate, roomPath } from "../../app/router";
import { summaryOf } from "./room-list-state";

export function CreateRoomForm() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [limit, setLimit] = useState("10");
  const [error, setError] = useState<UserMessage | null>(null);
  const create = useMutation(trpc.room.create.mutationOptions());

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const parsed = roomCreateInput.safeParse({ name, maxMembers: Number(limit) });
    if (!parsed.success) {
      setError({ kind: "refused", text: describeIssues(parsed.error) });
      return;
    }
    try {
      const room = await create.mutateAsync(parsed.data);
      queryClient.setQueryData(trpc.room.list.queryKey(), (old) => [summaryOf(room), ...(old ?? []).filter((r) => r.id !== room.id)]);
      void queryClient.invalidateQueries({ queryKey: trpc.room.list.queryKey() });
      setName("");
      navigate(roomPath(room.id));
    } catch (err) {
      setError(describeError(err, "create"));
    }
  }

  return (
    <section aria-labelledby="create-room">
      <h2 id="create-room">Create a room</h2>
      <form onSubmit={submit} noValidate className="inline-form">
        <div className="field grow">
          <label htmlFor="room-name">Room name</label>
          <input id="room-name" value={name} onChange={(e) => setName(e.target.value)} maxLength={LIMITS.roomNameMax} required />
        </div>
        <div className="field narrow">
          <label htmlFor="room-limit">Member limit</label>
          <input
            id="room-limit"
            type="number"
            inputMode="numeric"
            min={LIMITS.maxMembersMin}
            max={LIMITS.maxMembersMax}
            value={limit}
            onChange={(e) => setLimit(e.target.value)}
            required
          />
        </div>
        <button type="submit" className="btn btn-primary" disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Create room"}
        </button>
      </form>
      <ErrorNotice error={error} />
    </section>
  );
}
