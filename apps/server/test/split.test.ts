import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { Message } from "@anonchat/shared";
import { DB_KIND, httpClient, liveClient, registerUser, waitFor } from "./harness";
import { startSplit, type SplitDeployment } from "./split-harness";

// gateway + auth + two chat replicas as separate processes on one PostgreSQL.
describe.runIf(DB_KIND === "postgres")("split deployment", () => {
  let d: SplitDeployment;
  beforeAll(async () => {
    d = await startSplit();
  }, 180_000);
  afterAll(async () => {
    await d?.stop();
  });

  it("serves tRPC and /api/v1 through the gateway", async () => {
    const alice = await registerUser(d.url, "sa");
    expect(await alice.client.auth.me.query()).toEqual(alice.session.user);
    const room = await alice.client.room.create.mutate({ name: "split", maxMembers: 3 });
    const sent = await alice.client.room.send.mutate({ roomId: room.id, text: "hi", clientMsgId: "x1" });
    expect((await alice.client.room.history.query({ roomId: room.id })).messages).toEqual([sent]);
    const status = await fetch(`${d.url}/api/v1/status`);
    expect(await status.json()).toEqual({ status: "success", message: "AnonChat is running", data: null });
    const validate = await fetch(`${d.url}/api/v1/auth/validate`, { headers: { Authorization: `Bearer ${alice.session.accessToken}` } });
    expect(((await validate.json()) as { data: unknown }).data).toEqual(alice.session.user);
  });

  it("refuses a bad token at the gateway, on tRPC, REST and the legacy socket", async () => {
    const bad = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
    await expect(httpClient(d.url, bad).room.list.query()).rejects.toMatchObject({ data: { code: "UNAUTHORIZED" } });
    const res = await fetch(`${d.url}/api/v1/auth/validate`, { headers: { Authorization: `Bearer ${bad}` } });
    expect(res.status).toBe(401);
    const frames: string[] = [];
    const code = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${d.wsUrl}/api/v1/rooms/ws?room=AAAAAAAAAAAAAAAA&token=${bad}`);
      ws.on("message", (m) => frames.push(m.toString()));
      ws.on("close", (c) => resolve(c));
    });
    expect(frames).toEqual(["error.token"]);
    expect(code).toBe(4401);
  });

  it("delivers messages sent through either replica to subscribers on both, in order", async () => {
    const alice = await registerUser(d.url, "sb");
    const bob = await registerUser(d.url, "sc");
    const room = await alice.client.room.create.mutate({ name: "fanout", maxMembers: 5 });
    await bob.client.room.join.mutate({ roomId: room.id });
    // Four subscriptions; the gateway spreads their sockets over the replicas round robin.
    const got: Message[][] = [];
    const lives = [alice, bob, alice, bob].map((u, i) => {
      const live = liveClient(d.url, u.session);
      got[i] = [];
      live.client.room.onMessage.subscribe({ roomId: room.id, lastEventId: "0" }, { onData: ({ data }) => data.type === "message" && got[i]?.push(data.message) });
      return live;
    });
    for (let i = 0; i < 30; i++) await (i % 2 ? bob : alice).client.room.send.mutate({ roomId: room.id, text: `m${i}` });
    await waitFor(() => got.every((g) => g.length >= 30), 15_000, "delivery on every replica");
    for (const g of got) expect(g.map((m) => m.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    lives.forEach((l) => l.close());
  });
});
