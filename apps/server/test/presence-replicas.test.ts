import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DB_KIND, httpClient, registerUser, waitFor } from "./harness.js";
import { attached, Cleanups, idOf, type RoomLog, type User } from "./helpers/room-features.js";
import { startSplit, type SplitDeployment } from "./split-harness.js";

/**
 * Issue 7, presence across chat replicas, with the subscribers pinned to a replica each (straight
 * to its port, not through the gateway) so the test knows which process holds whom: a member
 * online on one replica is online for subscribers of the other, and a replica that dies without a
 * goodbye has its members dropped after PRESENCE_TTL_SECONDS (docs/api.md, Presence).
 */
describe.runIf(DB_KIND === "postgres")("presence across chat replicas", () => {
  const TTL = 3;
  let d: SplitDeployment;
  const cleanups = new Cleanups();
  beforeAll(async () => {
    d = await startSplit({ env: { PRESENCE_TTL_SECONDS: String(TTL) } });
  }, 180_000);
  afterAll(async () => {
    await d?.stop();
  });
  afterEach(() => cleanups.run());

  const direct = (name: string) => `http://127.0.0.1:${d.procs.get(name)?.port}`;
  const changesAbout = (log: RoomLog, u: User) => log.presenceChanges().filter((c) => c.userId === idOf(u));
  const presenceOn = async (url: string, u: User, roomId: string) => {
    return (await httpClient(url, u.session.accessToken).room.presence.query({ roomId })).map((p) => p.userId).sort((x, y) => x - y);
  };

  it("a member subscribed on one replica is online for a subscriber on the other, and offline when they go", async () => {
    const a = await registerUser(d.url, "pa");
    const b = await registerUser(d.url, "pb");
    const room = await a.client.room.create.mutate({ name: "replicas", maxMembers: 5 });
    await b.client.room.join.mutate({ roomId: room.id });
    const onChat2 = await attached(cleanups, direct("chat2"), a, room.id);
    const onChat1 = await attached(cleanups, direct("chat1"), b, room.id);
    expect((onChat1.snapshot() ?? []).map((p) => p.userId).sort((x, y) => x - y)).toEqual([idOf(a), idOf(b)].sort((x, y) => x - y));
    await waitFor(() => changesAbout(onChat2, b).some((c) => c.online), 10_000, "b online on chat2");
    for (const url of [direct("chat1"), direct("chat2"), d.url]) {
      expect(await presenceOn(url, a, room.id)).toEqual([idOf(a), idOf(b)].sort((x, y) => x - y));
    }
    // Typing crosses too.
    await b.client.room.typing.mutate({ roomId: room.id });
    await waitFor(() => onChat2.typing().some((t) => t.userId === idOf(b)), 10_000, "typing on chat2");
    onChat1.close();
    await waitFor(() => changesAbout(onChat2, b).some((c) => !c.online), 10_000, "b offline on chat2");
    expect(await presenceOn(direct("chat2"), a, room.id)).toEqual([idOf(a)]);
  });

  it("a typing notice sent after a message reaches a subscriber on the other replica after that message", async () => {
    const a = await registerUser(d.url, "pe");
    const b = await registerUser(d.url, "pf");
    const room = await a.client.room.create.mutate({ name: "order", maxMembers: 5 });
    await b.client.room.join.mutate({ roomId: room.id });
    const watcher = await attached(cleanups, direct("chat1"), a, room.id);
    // b's calls all go to chat2: each NOTIFY of a stored message leaves chat2 before the typing one.
    const viaChat2 = httpClient(direct("chat2"), b.session.accessToken);
    const ROUNDS = 20;
    const sent: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      sent.push((await viaChat2.room.send.mutate({ roomId: room.id, text: `m${i}` })).seq);
      await viaChat2.room.typing.mutate({ roomId: room.id });
    }
    await waitFor(() => watcher.typing().length === ROUNDS, 10_000, "every typing notice");
    // Each notice comes after the message sent before it: the message arrived earlier, and the
    // notice's id (the last stored event before it) is at least that message's seq.
    type Item = { kind: "typing"; id: number } | { kind: "message"; seq: number };
    const items = watcher.events.flatMap((e): Item[] =>
      e.data.type === "typing" ? [{ kind: "typing", id: Number(e.id) }] : e.data.type === "message" ? [{ kind: "message", seq: e.data.message.seq }] : [],
    );
    const typingAt = items.flatMap((item, at) => (item.kind === "typing" ? [at] : []));
    const late = sent.flatMap((seq, round) => {
      const notice = items[typingAt[round] as number] as Extract<Item, { kind: "typing" }>;
      const messageAt = items.findIndex((item) => item.kind === "message" && item.seq === seq);
      return messageAt >= 0 && messageAt < (typingAt[round] as number) && notice.id >= seq ? [] : [{ round, seq, noticeId: notice.id }];
    });
    expect(late).toEqual([]);
  });

  it("a replica killed without a goodbye has its members dropped after PRESENCE_TTL_SECONDS", async () => {
    const a = await registerUser(d.url, "pc");
    const b = await registerUser(d.url, "pd");
    const room = await a.client.room.create.mutate({ name: "ttl", maxMembers: 5 });
    await b.client.room.join.mutate({ roomId: room.id });
    const watcher = await attached(cleanups, direct("chat2"), a, room.id);
    const doomed = await attached(cleanups, direct("chat1"), b, room.id);
    await waitFor(() => changesAbout(watcher, b).some((c) => c.online), 10_000, "b online on chat2");

    await d.kill("chat1", "SIGKILL");
    // b's client would reconnect elsewhere; this one gives up, so only the dead replica's row is left.
    doomed.close();
    // The drop itself is the property: nobody said goodbye (chat1 died, its client gave up), so
    // only the expiry of chat1's presence row can take b offline; a replica that never expired
    // it fails the wait. How soon is not asserted (issue 14: a loaded machine decides wall
    // times); the 60 s only ends a hang.
    await waitFor(() => changesAbout(watcher, b).some((c) => !c.online), 60_000, "b dropped after the TTL");
    // Online first, then offline: the change is the drop of a member seen online before the kill.
    const states = changesAbout(watcher, b).map((c) => c.online);
    expect(states.indexOf(false), JSON.stringify(states)).toBeGreaterThan(states.indexOf(true));
    expect(states.slice(states.indexOf(false)), JSON.stringify(states)).not.toContain(true);
    expect(await presenceOn(direct("chat2"), a, room.id)).toEqual([idOf(a)]);
    expect(watcher.error).toBeUndefined();
    await d.restart("chat1");
  }, 120_000);
});
