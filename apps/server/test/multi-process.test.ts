import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import type { Message } from "@anonchat/shared";
import { DB_KIND, liveClient, registerUser, startTestServer, waitFor, type TestServer } from "./harness.js";

// Two processes' worth of servers on one PostgreSQL database: events cross by LISTEN/NOTIFY.
describe.runIf(DB_KIND === "postgres")("two servers on one PostgreSQL", () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    a = await startTestServer();
    b = await startTestServer({ databaseUrl: a.databaseUrl as string });
  });
  afterAll(async () => {
    await b.stop({ keepData: true });
    await a.stop();
  });

  async function subscribeOn(srv: TestServer, session: Parameters<typeof liveClient>[1], roomId: string) {
    const live = liveClient(srv.url, session);
    const got: Message[] = [];
    let removed = false;
    let started = false;
    const sub = live.client.room.onMessage.subscribe(
      { roomId, lastEventId: "0" },
      {
        onStarted: () => (started = true),
        // Chat messages only: the stream also carries membership items (seq 1 is bob's join),
        // presence and typing.
        onData: ({ data }) => {
          if (data.type === "message" && data.message.kind === "text") got.push(data.message);
          if (data.type === "removed") removed = true;
        },
      },
    );
    await waitFor(() => started, 5000, "subscription start");
    return { got, removed: () => removed, stop: () => (sub.unsubscribe(), live.close()) };
  }

  it("delivers messages sent through one server to subscribers of the other, in order", async () => {
    const alice = await registerUser(a.url, "xa");
    const bob = await registerUser(b.url, "xb");
    const room = await alice.client.room.create.mutate({ name: "cross", maxMembers: 5 });
    await bob.client.room.join.mutate({ roomId: room.id });
    const onB = await subscribeOn(b, bob.session, room.id);
    const onA = await subscribeOn(a, alice.session, room.id);
    for (let i = 0; i < 40; i++) {
      const via = i % 2 === 0 ? alice.client : bob.client;
      await via.room.send.mutate({ roomId: room.id, text: `m${i}` });
    }
    await waitFor(() => onB.got.length >= 40 && onA.got.length >= 40, 10_000, "cross-server delivery");
    // seq 1 is bob's join.
    const expected = Array.from({ length: 40 }, (_, i) => i + 2);
    expect(onB.got.map((m) => m.seq)).toEqual(expected);
    expect(onA.got.map((m) => m.seq)).toEqual(expected);
    expect(onB.got.map((m) => m.text)).toEqual(expected.map((s) => `m${s - 2}`));

    await alice.client.room.remove.mutate({ roomId: room.id });
    await waitFor(() => onB.removed(), 5000, "removal on the other server");
    onA.stop();
    onB.stop();
  });

  it("catches up after its listening connection is cut, with nothing lost or doubled", async () => {
    const alice = await registerUser(a.url, "ya");
    const bob = await registerUser(b.url, "yb");
    const room = await alice.client.room.create.mutate({ name: "resync", maxMembers: 5 });
    await bob.client.room.join.mutate({ roomId: room.id });
    const onB = await subscribeOn(b, bob.session, room.id);
    await alice.client.room.send.mutate({ roomId: room.id, text: "before" });
    await waitFor(() => onB.got.length === 1, 5000, "first message");

    // Cut every LISTEN connection (both servers'); send while they reconnect.
    const admin = new pg.Client({ connectionString: a.databaseUrl as string });
    await admin.connect();
    const cut = await admin.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where query ilike 'listen %' and pid <> pg_backend_pid()",
    );
    expect(cut.rowCount).toBeGreaterThanOrEqual(2);
    await admin.end();
    for (let i = 0; i < 10; i++) await alice.client.room.send.mutate({ roomId: room.id, text: `during ${i}` });
    await waitFor(() => onB.got.length >= 11, 10_000, "catch-up after reconnect");
    await alice.client.room.send.mutate({ roomId: room.id, text: "after" });
    await waitFor(() => onB.got.length >= 12, 5000, "live after reconnect");
    // seq 1 is bob's join.
    expect(onB.got.map((m) => m.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
    onB.stop();
  });
});
