import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type DatabaseHandle } from "./connect.js";
import { migrateToLatest } from "./migrate.js";
import { appendMessages, listMessagesPage } from "./messages.repository.js";
import { insertRoom, joinRoom } from "./rooms.repository.js";
import { insertUser } from "./users.repository.js";

describe("appendMessages (group commit)", () => {
  let h: DatabaseHandle;
  let alice: number;
  let bob: number;
  let eve: number;
  beforeAll(async () => {
    h = await openDatabase({ dataDir: "memory" });
    await migrateToLatest(h.db);
    const mk = async (login: string) => {
      const r = await insertUser(h.db, { login, email: `${login}@x.test`, passwordHash: "h" });
      if (!r.ok) throw new Error("user");
      return r.user.id;
    };
    [alice, bob, eve] = [await mk("alice"), await mk("bobby"), await mk("eveee")];
    await insertRoom(h.db, { id: "RoomAAAAAAAAAAAA", name: "a", ownerId: alice, maxMembers: 5, maxRoomsPerUser: 100 });
    await insertRoom(h.db, { id: "RoomBBBBBBBBBBBB", name: "b", ownerId: bob, maxMembers: 5, maxRoomsPerUser: 100 });
    await joinRoom(h.db, { roomId: "RoomAAAAAAAAAAAA", userId: bob, login: "bobby", viaLegacy: false, maxRoomsPerUser: 100 });
  });
  afterAll(async () => {
    await h.close();
  });

  const msg = (roomId: string, senderId: number, text: string, clientMsgId: string | null = null) => ({
    roomId,
    senderId,
    senderLogin: `u${senderId}`,
    text,
    clientMsgId,
  });

  it("assigns gap-free seqs per room, one result per input, in input order", async () => {
    const r = await appendMessages(h.db, [
      msg("RoomAAAAAAAAAAAA", alice, "a1", "c1"),
      msg("RoomBBBBBBBBBBBB", bob, "b1"),
      msg("RoomAAAAAAAAAAAA", bob, "a2"),
      msg("RoomAAAAAAAAAAAA", alice, "a1 again", "c1"),
      msg("RoomBBBBBBBBBBBB", eve, "not a member"),
      msg("Nope000000000000", alice, "no room"),
      msg("RoomAAAAAAAAAAAA", alice, "a3"),
    ]);
    expect(r.map((x) => x.status)).toEqual(["stored", "stored", "stored", "duplicate", "not_member", "not_found", "stored"]);
    const seqs = r.map((x) => ("message" in x ? `${x.message.roomId[4]}${x.message.seq}:${x.message.text}` : null));
    // Room A's seq 1 is bob's join event: membership events share the ordered stream.
    expect(seqs).toEqual(["A2:a1", "B1:b1", "A3:a2", "A2:a1", null, null, "A4:a3"]);
  });

  it("returns the stored message for a clientMsgId repeated in a later batch", async () => {
    const [again] = await appendMessages(h.db, [msg("RoomAAAAAAAAAAAA", alice, "different text", "c1")]);
    expect(again).toMatchObject({ status: "duplicate", message: { seq: 2, text: "a1" } });
    const page = await listMessagesPage(h.db, "RoomAAAAAAAAAAAA", undefined, 10);
    expect(page.messages.map((m) => `${m.seq}:${m.kind}`)).toEqual(["1:join", "2:text", "3:text", "4:text"]);
  });

  it("keeps seqs gap-free under concurrent batches", async () => {
    await Promise.all(
      Array.from({ length: 10 }, (_, b) =>
        appendMessages(h.db, Array.from({ length: 5 }, (_, i) => msg("RoomBBBBBBBBBBBB", bob, `x${b}-${i}`))),
      ),
    );
    const page = await listMessagesPage(h.db, "RoomBBBBBBBBBBBB", undefined, 100);
    expect(page.messages.map((m) => m.seq)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
  });
});
