import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RoomEvent } from "@anonchat/shared";
import { liveClient, registerUser, startTestServer, waitFor, type TestServer } from "./harness.js";

describe("smoke: one user sends, another receives over the subscription", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv.stop();
  });

  it("delivers a message from room.send to room.onMessage", async () => {
    const a = await registerUser(srv.url, "a");
    const b = await registerUser(srv.url, "b");
    const room = await a.client.room.create.mutate({ name: "smoke", maxMembers: 5 });
    await b.client.room.join.mutate({ roomId: room.id });
    const live = liveClient(srv.url, b.session);
    const got: RoomEvent[] = [];
    let started = false;
    const sub = live.client.room.onMessage.subscribe(
      { roomId: room.id },
      {
        onStarted: () => (started = true),
        // Only messages: a subscription also carries presence (its first event) and typing.
        onData: (e) => {
          if (e.data?.type === "message") got.push(e.data);
        },
      },
    );
    await waitFor(() => started, 5000, "subscription start");
    await new Promise((r) => setTimeout(r, 100));
    const sent = await a.client.room.send.mutate({ roomId: room.id, text: "hello", clientMsgId: "m1" });
    await waitFor(() => got.length === 1, 5000, "delivery");
    expect(got[0]).toEqual({ type: "message", message: sent });
    sub.unsubscribe();
    live.close();
  });
});
