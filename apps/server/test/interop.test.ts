import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Message, RoomEvent } from "@anonchat/shared";
import { liveClient, registerUser, startTestServer, waitFor, type TestServer } from "./harness.js";
import { attachSubscriber, createRoomLegacy, frameText, legacyFrame, openLegacy, registerLegacy, userIdOf } from "./helpers/legacy.js";

/** One room, two protocols: legacy sockets and tRPC clients see the same messages in the same order. */
describe("legacy socket and tRPC interoperate", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv.stop();
  });

  async function setup() {
    const old = await registerLegacy(srv.url, "old");
    const oldId = await userIdOf(srv.url, old.access_token);
    const modern = await registerUser(srv.url, "new");
    const roomId = await createRoomLegacy(srv.url, old.access_token);
    await modern.client.room.join.mutate({ roomId });
    const live = liveClient(srv.url, modern.session);
    const events: RoomEvent[] = [];
    const sub = await attachSubscriber(srv, () =>
      live.client.room.onMessage.subscribe({ roomId }, { onData: (e) => events.push(e.data) }),
    );
    const sock = await openLegacy(srv, roomId, old.access_token);
    const cleanup = async () => {
      sub.unsubscribe();
      live.close();
      await sock.close();
    };
    return { old, oldId, modern, roomId, live, events, sock, cleanup };
  }

  const messagesOf = (events: RoomEvent[]): Message[] =>
    events.flatMap((e) => (e.type === "message" ? [e.message] : []));

  it("a legacy frame reaches a tRPC subscriber, and room.send reaches the legacy socket as a base64 frame", async () => {
    const { old, oldId, modern, roomId, events, sock, cleanup } = await setup();

    // The subscription also carries presence (the legacy socket coming online, for one): look at
    // its messages. seq 1 is the modern user's join, before the subscription started.
    sock.send("from the old client ✓");
    await waitFor(() => messagesOf(events).length >= 1, 5000, "tRPC delivery of the legacy message");
    expect(messagesOf(events)[0]).toEqual({
      roomId,
      seq: 2,
      senderId: oldId,
      senderLogin: old.login,
      text: "from the old client ✓",
      createdAt: expect.any(String) as unknown as string,
      clientMsgId: null,
      kind: "text",
      editedAt: null,
      deletedAt: null,
      subjectId: null,
      subjectLogin: null,
    });

    const sent = await modern.client.room.send.mutate({ roomId, text: "from tRPC — Grüße 👋", clientMsgId: "c1" });
    expect(sent.seq).toBe(3);
    const frames = await sock.waitFrames(2);
    expect(frames).toEqual([
      legacyFrame(oldId, old.login, roomId, "from the old client ✓"),
      legacyFrame(modern.session.user.id, modern.session.user.login, roomId, "from tRPC — Grüße 👋"),
    ]);
    expect(frameText(frames[1] as string)).toBe("from tRPC — Grüße 👋");
    await waitFor(() => messagesOf(events).length >= 2, 5000, "tRPC delivery of the tRPC message");
    expect(messagesOf(events)[1]).toEqual(sent);

    const history = await modern.client.room.history.query({ roomId });
    expect(history.hasMore).toBe(false);
    expect(history.messages.slice(1)).toEqual(messagesOf(events));
    expect(history.messages.map((m) => [m.seq, m.kind, m.senderLogin, m.text])).toEqual([
      [1, "join", modern.session.user.login, ""],
      [2, "text", old.login, "from the old client ✓"],
      [3, "text", modern.session.user.login, "from tRPC — Grüße 👋"],
    ]);
    await cleanup();
  });

  it("interleaved senders on both protocols: both sides and the history agree on one order", async () => {
    const { old, modern, roomId, events, sock, cleanup } = await setup();
    const n = 10;
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      sock.send(`legacy ${i}`);
      sends.push(modern.client.room.send.mutate({ roomId, text: `trpc ${i}` }));
    }
    await Promise.all(sends);
    await waitFor(() => messagesOf(events).length >= 2 * n, 10_000, "every message on the subscription");
    const frames = await sock.waitFrames(2 * n, 10_000);

    const viaTrpc = messagesOf(events);
    // seq 1 is the modern user's join, before the subscription started.
    expect(viaTrpc.map((m) => m.seq)).toEqual(Array.from({ length: 2 * n }, (_, i) => i + 2));
    expect(frames.map(frameText)).toEqual(viaTrpc.map((m) => m.text));
    expect(frames.map((f) => (JSON.parse(f) as { client_name: string }).client_name)).toEqual(viaTrpc.map((m) => m.senderLogin));
    // Each sender's own messages keep the order it sent them in.
    const texts = viaTrpc.map((m) => m.text);
    expect(texts.filter((t) => t.startsWith("legacy"))).toEqual(Array.from({ length: n }, (_, i) => `legacy ${i}`));
    expect(viaTrpc.filter((m) => m.senderLogin === old.login)).toHaveLength(n);

    const history = await modern.client.room.history.query({ roomId, limit: 100 });
    expect(history.messages.slice(1)).toEqual(viaTrpc);
    await cleanup();
  });
});
