import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MESSAGES, type PresenceMember } from "@anonchat/shared";
import { startTestServer, TOPOLOGY, waitFor, type TestServer, registerUser } from "./harness.js";
import { expectTRPCError, fullHistory, sleep, startTcpProxy } from "./helpers/trpc.js";
import {
  attached,
  Cleanups,
  idOf,
  loginOf,
  nth,
  openLegacyWatched,
  roomWith,
  expectEphemeralIdsAreResumePoints,
  settle,
  subscribeRoom,
  waitSeq,
  users,
  type RoomLog,
  type User,
} from "./helpers/room-features.js";

/**
 * Issue 7, presence and typing: who is online in a room (live room.onMessage subscriptions and
 * legacy sockets, on any replica) and the ephemeral typing signal. In the split topology the
 * subscriptions of one test land on both chat replicas (the gateway spreads sockets round robin),
 * so every agreement checked here is agreement across replicas.
 */

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.stop();
});
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const sorted = (ps: PresenceMember[]) => [...ps].sort((x, y) => x.userId - y.userId);
const member = (u: User): PresenceMember => ({ userId: idOf(u), login: loginOf(u) });
const ids = (...us: User[]) => us.map(idOf).sort((x, y) => x - y);
const changesAbout = (log: RoomLog, u: User) => log.presenceChanges().filter((c) => c.userId === idOf(u));

async function presenceOf(u: User, roomId: string): Promise<number[]> {
  return (await u.client.room.presence.query({ roomId })).map((p) => p.userId).sort((x, y) => x - y);
}
async function onlineFlags(u: User, roomId: string): Promise<Record<number, boolean>> {
  return Object.fromEntries((await u.client.member.list.query({ roomId })).map((m) => [m.userId, m.online]));
}

describe("presence", () => {
  it("a subscription's first event is the presence snapshot, untracked, including the subscriber", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const log = await attached(cleanups, srv.url, owner, room.id);
    expect(log.events[0]?.data).toEqual({ type: "presence", online: [member(owner)] });
    expectEphemeralIdsAreResumePoints(log, 1);
    expect(await owner.client.room.presence.query({ roomId: room.id })).toEqual([member(owner)]);
    expect(await onlineFlags(b, room.id)).toEqual({ [idOf(owner)]: true, [idOf(b)]: false });
    // Also first when replaying from lastEventId.
    await owner.client.room.send.mutate({ roomId: room.id, text: "x" });
    const replay = await attached(cleanups, srv.url, b, room.id, "0");
    expect(replay.events[0]?.data.type).toBe("presence");
    await waitFor(() => replay.seqs().length === 2, 5000, "the replay");
    expect(replay.seqs()).toEqual([1, 2]);
    expectEphemeralIdsAreResumePoints(replay, 0);
  });

  it("another member subscribing is a presence.change online:true; unsubscribing is online:false; the query agrees", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const roomId = room.id;
    const a = await attached(cleanups, srv.url, owner, roomId);
    const bLog = await attached(cleanups, srv.url, b, roomId);
    expect(sorted(bLog.snapshot() ?? [])).toEqual(sorted([member(owner), member(b)]));
    await waitFor(() => changesAbout(a, b).length === 1, 10_000, "b online");
    expect(changesAbout(a, b)).toEqual([{ type: "presence.change", userId: idOf(b), login: loginOf(b), online: true }]);
    expect(a.online()).toEqual(ids(owner, b));
    expect(await presenceOf(owner, roomId)).toEqual(ids(owner, b));
    expect(await presenceOf(b, roomId)).toEqual(ids(owner, b));
    expect(await onlineFlags(owner, roomId)).toEqual({ [idOf(owner)]: true, [idOf(b)]: true });

    bLog.close();
    await waitFor(() => changesAbout(a, b).length === 2, 10_000, "b offline");
    expect(nth(changesAbout(a, b), 1)).toEqual({ type: "presence.change", userId: idOf(b), login: loginOf(b), online: false });
    expect(a.online()).toEqual(ids(owner));
    expect(await presenceOf(b, roomId)).toEqual(ids(owner));
    expect(await onlineFlags(owner, roomId)).toEqual({ [idOf(owner)]: true, [idOf(b)]: false });
    // Presence is never stored: there is nothing but presence in this log, and any id it carries
    // is the resume point the subscription started at.
    expect(a.trackedIds()).toEqual([]);
    expectEphemeralIdsAreResumePoints(a, 1);
  });

  it("a member with two subscriptions goes offline only when the last one ends", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const roomId = room.id;
    const a = await attached(cleanups, srv.url, owner, roomId);
    const first = await attached(cleanups, srv.url, b, roomId);
    const second = await attached(cleanups, srv.url, b, roomId);
    await waitFor(() => changesAbout(a, b).length >= 1, 10_000, "b online");
    first.close();
    await sleep(500);
    await settle(owner.client, roomId, [a, second]);
    expect(changesAbout(a, b).map((c) => c.online)).toEqual([true]);
    expect(await presenceOf(owner, roomId)).toEqual(ids(owner, b));
    second.close();
    await waitFor(() => changesAbout(a, b).length === 2, 10_000, "b offline");
    expect(changesAbout(a, b).map((c) => c.online)).toEqual([true, false]);
    expect(await presenceOf(owner, roomId)).toEqual(ids(owner));
  });

  it("a legacy socket counts as online", async () => {
    const { owner, room } = await roomWith(srv.url, 0);
    const guest = await registerUser(srv.url, "lg");
    const a = await attached(cleanups, srv.url, owner, room.id);
    const sock = await openLegacyWatched(srv.wsUrl, room.id, guest, a);
    cleanups.add(() => sock.close());
    expect(changesAbout(a, guest)).toEqual([{ type: "presence.change", userId: idOf(guest), login: loginOf(guest), online: true }]);
    expect(await presenceOf(owner, room.id)).toEqual(ids(owner, guest));
    expect((await onlineFlags(owner, room.id))[idOf(guest)]).toBe(true);
    const later = await attached(cleanups, srv.url, owner, room.id);
    expect(sorted(later.snapshot() ?? [])).toEqual(sorted([member(owner), member(guest)]));
    await sock.close();
    await waitFor(() => changesAbout(a, guest).length === 2, 10_000, "guest offline");
    expect(nth(changesAbout(a, guest), 1).online).toBe(false);
    expect(await presenceOf(owner, room.id)).toEqual(ids(owner));
  });

  it("four members subscribed one after another all agree on who is online, and on who leaves", async () => {
    const { owner, room, others } = await roomWith(srv.url, 3);
    const everyone = [owner, ...others];
    const logs: RoomLog[] = [];
    for (const u of everyone) logs.push(await attached(cleanups, srv.url, u, room.id));
    const all = ids(...everyone);
    await waitFor(() => logs.every((l) => JSON.stringify(l.online()) === JSON.stringify(all)), 10_000, "everyone online everywhere");
    for (const u of everyone) expect(await presenceOf(u, room.id)).toEqual(all);
    // Snapshots: each subscriber saw at least everyone who came before it, and itself.
    everyone.forEach((u, i) => {
      const snap = (nth(logs, i).snapshot() ?? []).map((p) => p.userId);
      for (const earlier of everyone.slice(0, i + 1)) expect(snap).toContain(idOf(earlier));
    });
    // The last two leave.
    nth(logs, 3).close();
    nth(logs, 2).close();
    const remaining = ids(owner, nth(others, 0));
    await waitFor(
      () => [nth(logs, 0), nth(logs, 1)].every((l) => JSON.stringify(l.online()) === JSON.stringify(remaining)),
      10_000,
      "the two to go offline everywhere",
    );
    expect(await presenceOf(owner, room.id)).toEqual(remaining);
    for (const l of logs) expect(l.error).toBeUndefined();
  });

  it("a kicked member goes offline for the others", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const a = await attached(cleanups, srv.url, owner, room.id);
    await attached(cleanups, srv.url, b, room.id);
    await waitFor(() => changesAbout(a, b).length === 1, 10_000, "b online");
    await owner.client.member.kick.mutate({ roomId: room.id, userId: idOf(b) });
    await waitFor(() => changesAbout(a, b).length === 2, 10_000, "b offline");
    expect(nth(changesAbout(a, b), 1).online).toBe(false);
    expect(await presenceOf(owner, room.id)).toEqual(ids(owner));
  });
});

describe("presence edges", () => {
  it("a refused subscription does not make anyone online", async () => {
    const { owner, room } = await roomWith(srv.url, 0);
    const outsider = await registerUser(srv.url, "out");
    const a = await attached(cleanups, srv.url, owner, room.id);
    const refused = subscribeRoom(cleanups, srv.url, outsider, room.id);
    await waitFor(() => refused.error !== undefined, 5000, "the refusal");
    expect(refused.error?.data?.code).toBe("FORBIDDEN");
    await settle(owner.client, room.id, [a]);
    expect(changesAbout(a, outsider)).toEqual([]);
    expect(await presenceOf(owner, room.id)).toEqual(ids(owner));
  });

  it("every presence.change changes the subscriber's view: its own arrival, already in the snapshot, is not repeated", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const a = await attached(cleanups, srv.url, owner, room.id);
    const bLog = await attached(cleanups, srv.url, b, room.id);
    await waitFor(() => changesAbout(a, b).length === 1, 10_000, "b online");
    bLog.close();
    await waitFor(() => changesAbout(a, b).length === 2, 10_000, "b offline");
    await settle(owner.client, room.id, [a]);
    // Replay the log: a change that sets what the view already says is redundant.
    const view = new Set((a.snapshot() ?? []).map((p) => p.userId));
    const redundant = a.presenceChanges().filter((c) => {
      const was = view.has(c.userId);
      if (c.online) view.add(c.userId);
      else view.delete(c.userId);
      return was === c.online;
    });
    expect(redundant).toEqual([]);
    expect(a.presenceChanges().map((c) => [c.userId, c.online])).toEqual([
      [idOf(b), true],
      [idOf(b), false],
    ]);
  });

  it("a connection that drops without a goodbye goes offline, and online again when the client reconnects", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const proxy = await startTcpProxy(srv.port);
    cleanups.add(() => proxy.close());
    const a = await attached(cleanups, srv.url, owner, room.id);
    const bLog = await attached(cleanups, proxy.url, b, room.id);
    await waitFor(() => changesAbout(a, b).length === 1, 10_000, "b online");
    proxy.dropAll();
    await waitFor(() => changesAbout(a, b).length >= 2, 15_000, "b offline after the drop");
    expect(nth(changesAbout(a, b), 1).online).toBe(false);
    // wsLink reconnects by itself; b is online again and its stream resumes.
    await waitFor(() => changesAbout(a, b).length >= 3, 15_000, "b online after the reconnect");
    expect(changesAbout(a, b).map((c) => c.online)).toEqual([true, false, true]);
    await settle(owner.client, room.id, [a, bLog]);
    expect(await presenceOf(owner, room.id)).toEqual(ids(owner, b));
  });
});

describe("presence and typing in a resumed stream", () => {
  it("a reconnect right after presence and typing events loses and repeats no stored event", async () => {
    const { owner, room, others } = await roomWith(srv.url, 3);
    const [b, c, d] = [nth(others, 0), nth(others, 1), nth(others, 2)];
    const roomId = room.id;
    const proxy = await startTcpProxy(srv.port);
    cleanups.add(() => proxy.close());
    const log = await attached(cleanups, proxy.url, b, roomId, "0");
    // One typist per round: the rounds stay clear of the per-user typing limit.
    const typists = [owner, c, d];
    for (let round = 0; round < 3; round++) {
      await owner.client.room.send.mutate({ roomId, text: `before ${round}` });
      // An ephemeral event is the last thing b's client saw before its connection drops.
      const cLog = await attached(cleanups, srv.url, c, roomId);
      await nth(typists, round).client.room.typing.mutate({ roomId });
      await waitFor(() => log.typing().length > round, 10_000, `typing ${round}`);
      proxy.dropAll();
      await owner.client.room.send.mutate({ roomId, text: `during ${round}` });
      cLog.close();
      await sleep(200);
    }
    const last = await settle(owner.client, roomId, [log], "after");
    expect(log.seqs()).toEqual(Array.from({ length: last.seq }, (_, i) => i + 1));
    expect(log.trackedIds()).toEqual(log.seqs().map(String));
    expect(log.reconnects).toBeGreaterThanOrEqual(1);
    expect(log.error).toBeUndefined();
  });
});

describe("room.typing", () => {
  it("reaches the other subscribers as a typing event, never the typist's own; nothing is stored", async () => {
    const { owner, room, others } = await roomWith(srv.url, 2);
    const [b, c] = [nth(others, 0), nth(others, 1)];
    const roomId = room.id;
    const before = await fullHistory(owner.client, roomId);
    const logs = { a: await attached(cleanups, srv.url, owner, roomId), b: await attached(cleanups, srv.url, b, roomId), c: await attached(cleanups, srv.url, c, roomId) };
    expect(await b.client.room.typing.mutate({ roomId })).toEqual({ ok: true });
    await waitFor(() => logs.a.typing().length === 1 && logs.c.typing().length === 1, 10_000, "typing on a and c");
    for (const l of [logs.a, logs.c]) {
      const t = nth(l.typing(), 0);
      expect(t).toEqual({ type: "typing", userId: idOf(b), login: loginOf(b), typing: true, expiresInMs: expect.any(Number) });
      expect(t.expiresInMs).toBeGreaterThan(0);
    }
    // Once a later message has reached b, the typing event would have too.
    const m = await settle(owner.client, roomId, [logs.a, logs.b, logs.c]);
    expect(logs.b.typing()).toEqual([]);
    // Not stored, and no seq spent on it.
    expect(m.seq).toBe((before.at(-1)?.seq ?? 0) + 1);
    expect(await fullHistory(owner.client, roomId)).toEqual([...before, m]);
    for (const l of Object.values(logs)) expectEphemeralIdsAreResumePoints(l, before.at(-1)?.seq ?? 0);
    // Never replayed: a subscriber resuming from before the typing sees only stored events.
    const replay = await attached(cleanups, srv.url, owner, roomId, "0");
    await waitSeq([replay], m.seq);
    expect(replay.typing()).toEqual([]);
  });

  it("typing:false reaches the others as a stop", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const a = await attached(cleanups, srv.url, owner, room.id);
    await b.client.room.typing.mutate({ roomId: room.id, typing: true });
    await waitFor(() => a.typing().length === 1, 10_000, "typing true");
    expect(await b.client.room.typing.mutate({ roomId: room.id, typing: false })).toEqual({ ok: true });
    await waitFor(() => a.typing().length === 2, 10_000, "typing false");
    expect(a.typing().map((t) => [t.userId, t.typing])).toEqual([
      [idOf(b), true],
      [idOf(b), false],
    ]);
  });

  it("a start right after a stop is not a repeat: true, false, true all reach the others", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const a = await attached(cleanups, srv.url, owner, room.id);
    for (const typing of [true, false, true]) await b.client.room.typing.mutate({ roomId: room.id, typing });
    await waitFor(() => a.typing().length === 3, 10_000, "three typing events").catch(() => undefined);
    expect(a.typing().map((t) => t.typing)).toEqual([true, false, true]);
  });

  it("refuses a flood past TYPING_LIMIT (20 per 10 s) with TOO_MANY_REQUESTS; what passed reached the others", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const a = await attached(cleanups, srv.url, owner, room.id);
    const answers: string[] = [];
    for (let i = 0; i < 25; i++) {
      answers.push(
        await b.client.room.typing.mutate({ roomId: room.id, typing: i % 2 === 0 }).then(
          () => "ok",
          (e: { data?: { code?: string }; message: string }) => `${e.data?.code}: ${e.message}`,
        ),
      );
    }
    expect(answers.slice(0, 20)).toEqual(Array.from({ length: 20 }, () => "ok"));
    for (const refused of answers.slice(20)) expect(refused).toMatch(/^TOO_MANY_REQUESTS: too many typing notices; retry in \d+ s$/);
    await settle(b.client, room.id, [a]);
    expect(a.typing()).toHaveLength(20);
  });

  it("is refused at once for a member kicked right after typing (the repeat throttle does not hide it)", async () => {
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    expect(await b.client.room.typing.mutate({ roomId: room.id })).toEqual({ ok: true });
    await owner.client.member.kick.mutate({ roomId: room.id, userId: idOf(b) });
    await expectTRPCError(b.client.room.typing.mutate({ roomId: room.id }), "FORBIDDEN", MESSAGES.notMember);
    await expectTRPCError(b.client.room.typing.mutate({ roomId: room.id, typing: false }), "FORBIDDEN", MESSAGES.notMember);
  });

  it("refuses bad input naming the field", async () => {
    const { owner, room } = await roomWith(srv.url, 0);
    const err = await owner.client.room.typing
      .mutate({ roomId: room.id, typing: "yes" as unknown as boolean })
      .then(() => undefined, (e: { data?: { code?: string }; message: string }) => e);
    expect(err?.data?.code).toBe("BAD_REQUEST");
    expect(err?.message).toContain("typing");
  });
});

describe.runIf(TOPOLOGY === "split")("presence across replicas", () => {
  it("two subscribers of one user on different replicas: offline only after both end", async () => {
    // Consecutive sockets alternate between the two replicas.
    const { owner, room, others } = await roomWith(srv.url, 1);
    const b = nth(others, 0);
    const a = await attached(cleanups, srv.url, owner, room.id);
    const b1 = await attached(cleanups, srv.url, b, room.id);
    const b2 = await attached(cleanups, srv.url, b, room.id);
    await waitFor(() => changesAbout(a, b).length >= 1, 10_000, "b online");
    b1.close();
    await sleep(1000);
    expect(await presenceOf(owner, room.id)).toEqual(ids(owner, b));
    b2.close();
    await waitFor(() => changesAbout(a, b).some((c) => !c.online), 10_000, "b offline");
    expect(await presenceOf(owner, room.id)).toEqual(ids(owner));
  });
});
