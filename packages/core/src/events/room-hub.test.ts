import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { messages, presence, rooms, type DatabaseHandle } from "@anonchat/db";
import { addUser, memoryDatabase, until } from "../test-db.js";
import { InProcessBus } from "./bus.js";
import { RoomHub, type HubEvent } from "./room-hub.js";

/**
 * A replica hears of another's stored event by id only and must read it; a typing notice carries
 * everything and could be passed on at once. It must still come after the stored events announced
 * before it: a client clears a member's typing notice when that member's message arrives, and a
 * kicked member must get the kick before anything that follows it.
 */
describe("RoomHub ordering of ephemeral events", () => {
  const ROOM = "HubOrderRoomAAAA";
  let h: DatabaseHandle;
  let bus: InProcessBus;
  let hub: RoomHub;
  let alice: number;

  beforeAll(async () => {
    h = await memoryDatabase();
    alice = await addUser(h.db, "alice");
    await rooms.insertRoom(h.db, { id: ROOM, name: "o", ownerId: alice, maxMembers: 5, maxRoomsPerUser: 100 });
    bus = new InProcessBus();
    hub = new RoomHub(h.db, bus);
  });
  afterAll(async () => {
    hub.close();
    await h.close();
  });

  const describeEvent = (e: HubEvent) => (e.type === "event" ? `seq ${e.event.seq}` : e.type);

  it("passes on a typing notice only after the stored events announced before it, read from the database", async () => {
    const got: string[] = [];
    const detach = hub.attach(ROOM, { userId: alice, wantsPresence: false, deliver: (e) => got.push(describeEvent(e)) });
    // Let the feed learn where the room stands before anything happens.
    await new Promise((r) => setTimeout(r, 200));
    const stored = await messages.appendMessages(h.db, [
      { roomId: ROOM, senderId: alice, senderLogin: "alice", text: "one", clientMsgId: null },
      { roomId: ROOM, senderId: alice, senderLogin: "alice", text: "two", clientMsgId: null },
    ]);
    const seqs = stored.map((s) => (s.status === "stored" ? s.message.seq : -1));
    // As another replica announces them: ids only, so the feed must read them, then a typing notice.
    await bus.publishMany([
      { type: "message", roomId: ROOM, seq: seqs[0] as number },
      { type: "message", roomId: ROOM, seq: seqs[1] as number },
      { type: "typing", roomId: ROOM, userId: alice, login: "alice", typing: true },
    ]);
    await until("the typing notice", () => got.includes("typing"));
    expect(got).toEqual([`seq ${seqs[0]}`, `seq ${seqs[1]}`, "typing"]);
    // With nothing to wait for, a notice goes straight through.
    await bus.publish({ type: "typing", roomId: ROOM, userId: alice, login: "alice", typing: false });
    expect(got.at(-1)).toBe("typing");
    expect(got).toHaveLength(4);
    detach();
  });
});

/**
 * A new subscriber's first list of who is online must hold everyone whose row was written before
 * it asked, whether or not this process has heard of them yet: another replica's NOTIFY may still
 * be in flight (here: never sent), or this feed may be mid-read of an earlier change.
 */
describe("RoomHub presence snapshot", () => {
  const ROOM = "HubPresenceRoomA";
  let h: DatabaseHandle;
  let hub: RoomHub;
  let alice: number;
  let bob: number;

  beforeAll(async () => {
    h = await memoryDatabase();
    [alice, bob] = [await addUser(h.db, "alice"), await addUser(h.db, "bobby")];
    await rooms.insertRoom(h.db, { id: ROOM, name: "p", ownerId: alice, maxMembers: 5, maxRoomsPerUser: 100 });
    await rooms.joinRoom(h.db, { roomId: ROOM, userId: bob, login: "bobby", viaLegacy: false, maxRoomsPerUser: 100 });
    hub = new RoomHub(h.db, new InProcessBus());
  });
  afterAll(async () => {
    hub.close();
    await h.close();
  });

  const ids = (list: Array<{ userId: number }> | undefined) => (list ?? []).map((p) => p.userId).sort((a, b) => a - b);

  it("holds a member another replica marked online before the ask, though its announcement never came", async () => {
    // Alice's subscription starts the feed and its presence view: nobody online yet.
    const detachAlice = hub.attach(ROOM, { userId: alice, wantsPresence: true, deliver: () => {} });
    expect(ids(await hub.presenceSnapshot(ROOM))).toEqual([]);
    // Bob comes online through another process: its row is written, its bus message not heard here.
    await presence.markOnline(h.db, ROOM, bob, "another-replica");
    await presence.markOnline(h.db, ROOM, alice, "this-replica");
    const detachBob = hub.attach(ROOM, { userId: bob, wantsPresence: true, deliver: () => {} });
    expect(ids(await hub.presenceSnapshot(ROOM))).toEqual([alice, bob].sort((a, b) => a - b));
    detachBob();
    detachAlice();
  });

  it("answers concurrent asks from one shared read, each with the rows written before it asked", async () => {
    await presence.clearAll(h.db);
    const got: Array<Promise<Array<{ userId: number }> | undefined>> = [];
    const detach = hub.attach(ROOM, { userId: alice, wantsPresence: true, deliver: () => {} });
    got.push(hub.presenceSnapshot(ROOM));
    await presence.markOnline(h.db, ROOM, alice, "this-replica");
    got.push(hub.presenceSnapshot(ROOM));
    await presence.markOnline(h.db, ROOM, bob, "another-replica");
    got.push(hub.presenceSnapshot(ROOM), hub.presenceSnapshot(ROOM));
    const [, second, third, fourth] = await Promise.all(got);
    expect(ids(second)).toContain(alice);
    expect(ids(third)).toEqual([alice, bob].sort((a, b) => a - b));
    expect(ids(fourth)).toEqual(ids(third));
    detach();
  });
});
