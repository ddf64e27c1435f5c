import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Message } from "@anonchat/shared";
import { DB_KIND, httpClient, liveClient, registerUser, waitFor } from "./harness.js";
import { hasRedisServer, startTestRedis, type TestRedis } from "./helpers/redis.js";
import { redisEnv, startSplit, type SplitDeployment } from "./split-harness.js";

/**
 * The split deployment on the Redis bus with a Redis of its own, so the test can take Redis away:
 * pub/sub forgets a notice no subscriber was connected for, and PostgreSQL (the store of record)
 * is where replicas recover it. Subscribers sit on both replicas (straight to their ports) and
 * every message is sent through chat1, so chat2's subscribers get each one only across the bus.
 * CI installs redis-server (.ci/run); elsewhere the file is skipped without it.
 */
const RUN = DB_KIND === "postgres" && (hasRedisServer() || /^(1|true|yes)$/i.test(process.env.CI ?? ""));

type User = Awaited<ReturnType<typeof registerUser>>;

async function watchRoom(d: SplitDeployment, users: User[], roomId: string) {
  const direct = (name: string) => `http://127.0.0.1:${d.procs.get(name)?.port}`;
  const received: Message[][] = [];
  const lives = users.map((u, i) => {
    const live = liveClient(direct(i % 2 ? "chat2" : "chat1"), u.session);
    received[i] = [];
    live.client.room.onMessage.subscribe(
      { roomId, lastEventId: "0" },
      { onData: ({ data }) => data.type === "message" && data.message.kind === "text" && received[i]?.push(data.message) },
    );
    return live;
  });
  return { received, close: () => lives.forEach((l) => l.close()) };
}

async function roomOfTwo(d: SplitDeployment, prefix: string) {
  const alice = await registerUser(d.url, `${prefix}a`);
  const bob = await registerUser(d.url, `${prefix}b`);
  const room = await alice.client.room.create.mutate({ name: prefix, maxMembers: 5 });
  await bob.client.room.join.mutate({ roomId: room.id });
  return { alice, bob, room };
}

describe.runIf(RUN)("the Redis bus", () => {
  describe("when Redis goes away and comes back (no periodic catch-up)", () => {
    let redis: TestRedis;
    let d: SplitDeployment;
    beforeAll(async () => {
      redis = await startTestRedis();
      // Catch-up off: what chat2 gets, it gets from a publish or from the resync on reconnect.
      d = await startSplit({ env: { ...redisEnv(redis.url), BUS_CATCH_UP_MS: "0" } });
    }, 180_000);
    afterAll(async () => {
      await d?.stop();
      await redis?.stop();
    });

    it("carries messages across replicas in order, then loses and doubles nothing across a Redis restart", async () => {
      const { alice, bob, room } = await roomOfTwo(d, "rk");
      const watch = await watchRoom(d, [alice, bob, alice, bob], room.id);
      const viaChat1 = httpClient(`http://127.0.0.1:${d.procs.get("chat1")?.port}`, alice.session.accessToken);
      const sent: number[] = [];
      const send = async (i: number) => sent.push((await viaChat1.room.send.mutate({ roomId: room.id, text: `r${i}`, clientMsgId: `r${i}` })).seq);

      for (let i = 0; i < 20; i++) await send(i);
      // Only the bus can bring these to chat2 (no catch-up, no reconnect yet).
      await waitFor(() => watch.received.every((r) => r.length >= 20), 15_000, "delivery over the bus");

      await redis.kill();
      // PostgreSQL keeps storing; the publishes fail (the rate limits fall back to memory).
      for (let i = 20; i < 40; i++) await send(i);
      await redis.start();
      for (let i = 40; i < 60; i++) await send(i);

      await waitFor(() => watch.received.every((r) => r.length >= 60), 30_000, "every subscriber catches up after the restart");
      for (const r of watch.received) expect(r.map((m) => m.seq)).toEqual(sent);
      watch.close();
    });
  });

  describe("when a publish is lost while every replica stays connected", () => {
    let redis: TestRedis;
    let d: SplitDeployment;
    let admin: Redis;
    beforeAll(async () => {
      redis = await startTestRedis();
      d = await startSplit({ env: { ...redisEnv(redis.url), BUS_CATCH_UP_MS: "300" } });
      admin = new Redis(redis.url);
    }, 180_000);
    afterAll(async () => {
      admin?.disconnect();
      await d?.stop();
      await redis?.stop();
    });

    it("delivers the last message of a room that then goes quiet, once", async () => {
      const { alice, bob, room } = await roomOfTwo(d, "rq");
      const watch = await watchRoom(d, [alice, bob, alice, bob], room.id);
      const viaChat1 = httpClient(`http://127.0.0.1:${d.procs.get("chat1")?.port}`, alice.session.accessToken);
      const sent: number[] = [];
      const send = async (i: number) => sent.push((await viaChat1.room.send.mutate({ roomId: room.id, text: `q${i}`, clientMsgId: `q${i}` })).seq);

      for (let i = 0; i < 5; i++) await send(i);
      await waitFor(() => watch.received.every((r) => r.length >= 5), 15_000, "delivery over the bus");
      // PUBLISH refused: every notice from now on is lost, and no connection drops (no resync).
      await admin.call("ACL", "SETUSER", "default", "-publish");
      for (let i = 5; i < 8; i++) await send(i);
      await waitFor(() => watch.received.every((r) => r.length >= 8), 15_000, "the periodic catch-up reads what no notice announced");
      await admin.call("ACL", "SETUSER", "default", "+publish");
      await send(8);
      await waitFor(() => watch.received.every((r) => r.length >= 9), 15_000, "delivery over the bus again");
      for (const r of watch.received) expect(r.map((m) => m.seq)).toEqual(sent);
      watch.close();
    });
  });
});
