import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { presence, rooms, type DatabaseHandle } from "@anonchat/db";
import { addUser, memoryDatabase, until } from "../test-db.js";
import { InProcessBus, type BusEvent } from "../events/bus.js";
import { PresenceTracker } from "./presence-tracker.js";

/**
 * The tracker's heartbeat keeps this process's rows equal to what it holds. A row it does not hold
 * (a delete that failed or was overtaken) must not be kept alive for ever, and a row it holds that
 * vanished (swept while the database was away) must come back; either way the others are told.
 */
describe("PresenceTracker heartbeat", () => {
  const TTL = 3; // a tick every second
  const ROOM = "PresenceRoomAAAA";
  let h: DatabaseHandle;
  let tracker: PresenceTracker;
  const announced: Array<{ roomId: string; userId: number }> = [];
  let alice: number;
  let bob: number;

  beforeAll(async () => {
    h = await memoryDatabase();
    [alice, bob] = [await addUser(h.db, "alice"), await addUser(h.db, "bobby")];
    await rooms.insertRoom(h.db, { id: ROOM, name: "p", ownerId: alice, maxMembers: 5, maxRoomsPerUser: 100 });
    await rooms.joinRoom(h.db, { roomId: ROOM, userId: bob, login: "bobby", viaLegacy: false, maxRoomsPerUser: 100 });
    const bus = new InProcessBus();
    bus.subscribe((e: BusEvent) => {
      if (e.type === "presence") announced.push({ roomId: e.roomId, userId: e.userId });
    });
    tracker = new PresenceTracker(h.db, bus, { ttlSeconds: TTL });
  });
  afterAll(async () => {
    await tracker.close();
    await h.close();
  });

  const online = async () => (await tracker.list(ROOM)).map((p) => p.userId).sort((a, b) => a - b);
  it("connect and disconnect write and drop the row, and announce each change", async () => {
    announced.length = 0;
    await tracker.connect(ROOM, alice);
    expect(await online()).toEqual([alice]);
    tracker.disconnect(ROOM, alice);
    await until("alice offline", async () => (await online()).length === 0);
    expect(announced.filter((a) => a.userId === alice)).toHaveLength(2);
  });

  it("drops a row of this process that it no longer holds, at the next heartbeat", async () => {
    announced.length = 0;
    // As if bob's disconnect had failed to reach the database: his row stays, nothing holds it.
    await presence.markOnline(h.db, ROOM, bob, tracker.instanceId);
    expect(await online()).toEqual([bob]);
    await until("the stale row dropped", async () => (await online()).length === 0);
    expect(announced).toContainEqual({ roomId: ROOM, userId: bob });
  });

  it("writes back a row it holds that vanished, at the next heartbeat", async () => {
    await tracker.connect(ROOM, alice);
    announced.length = 0;
    await presence.clearAll(h.db);
    expect(await online()).toEqual([]);
    await until("the held row back", async () => (await online()).includes(alice));
    expect(announced).toContainEqual({ roomId: ROOM, userId: alice });
    tracker.disconnect(ROOM, alice);
    await until("alice offline", async () => (await online()).length === 0);
  });

  it("counts only members: a row of someone no longer in the room is not online", async () => {
    await tracker.connect(ROOM, bob);
    expect(await online()).toEqual([bob]);
    await rooms.leaveRoom(h.db, { roomId: ROOM, userId: bob, login: "bobby" });
    expect(await online()).toEqual([]);
    expect([...(await tracker.isOnline(ROOM, [alice, bob]))]).toEqual([]);
    tracker.disconnect(ROOM, bob);
  });
});
