import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpClient, startTestServer, type TestServer } from "./harness.js";
import {
  api,
  connectLegacy,
  createRoomLegacy,
  eventually,
  expectEnvelope,
  frameText,
  LegacySocket,
  legacyFrame,
  openLegacy,
  registerLegacy,
  userIdOf,
  type LegacyUser,
} from "./helpers/legacy.js";

/** The legacy WebSocket protocol of legacy-api.md, spoken by a raw `ws` client. */
describe("legacy WebSocket /api/v1/rooms/ws", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv.stop();
  });

  const memberCount = async (owner: LegacyUser, roomId: string) =>
    (await httpClient(srv.url, owner.access_token).room.get.query({ roomId })).memberCount;
  const isMember = async (u: LegacyUser, roomId: string) =>
    (await httpClient(srv.url, u.access_token).room.list.query()).some((r) => r.id === roomId);

  /** An owner with a room, and a second user who is not a member yet. */
  async function setup(maxUser = 10) {
    const owner = await registerLegacy(srv.url, "own");
    const guest = await registerLegacy(srv.url, "gst");
    const roomId = await createRoomLegacy(srv.url, owner.access_token, maxUser);
    return { owner, guest, roomId };
  }

  it("connecting joins the room", async () => {
    const { owner, guest, roomId } = await setup();
    expect(await memberCount(owner, roomId)).toBe(1);
    const sock = await openLegacy(srv, roomId, guest.access_token);
    expect(await memberCount(owner, roomId)).toBe(2);
    expect(await isMember(guest, roomId)).toBe(true);
    await sock.close();
  });

  it("a text frame is stored and echoed to every socket of the room as the original JSON frame", async () => {
    const { owner, guest, roomId } = await setup();
    const a = await openLegacy(srv, roomId, owner.access_token);
    const b = await openLegacy(srv, roomId, guest.access_token);
    const guestId = await userIdOf(srv.url, guest.access_token);
    const texts = ["hello", "héllo wörld ✓ 😀 Привет"];
    for (const t of texts) b.send(t);
    const expected = texts.map((t) => legacyFrame(guestId, guest.login, roomId, t));
    for (const sock of [a, b]) {
      const frames = await sock.waitFrames(2);
      expect(frames.map((f) => JSON.stringify(JSON.parse(f)))).toEqual(expected);
      expect(frames).toEqual(expected);
      expect(frames.map(frameText)).toEqual(texts);
    }
    const history = await httpClient(srv.url, owner.access_token).room.history.query({ roomId });
    // The guest's connect joined the room: a join item, then the two messages.
    expect(history.messages.map((m) => [m.kind, m.senderId, m.senderLogin, m.text])).toEqual([
      ["join", guestId, guest.login, ""],
      ...texts.map((t) => ["text", guestId, guest.login, t]),
    ]);
    await Promise.all([a.close(), b.close()]);
  });

  it("a binary frame is a message too; empty frames are ignored", async () => {
    const { owner, roomId } = await setup();
    const ownerId = await userIdOf(srv.url, owner.access_token);
    const sock = await openLegacy(srv, roomId, owner.access_token);
    sock.send("");
    sock.send("   ");
    sock.send(Buffer.alloc(0));
    sock.send(Buffer.from("bin ✓ data", "utf8"));
    sock.send("after");
    const frames = await sock.waitFrames(2);
    expect(frames).toEqual([legacyFrame(ownerId, owner.login, roomId, "bin ✓ data"), legacyFrame(ownerId, owner.login, roomId, "after")]);
    const history = await httpClient(srv.url, owner.access_token).room.history.query({ roomId });
    expect(history.messages.map((m) => m.text)).toEqual(["bin ✓ data", "after"]);
    expect(history.messages.map((m) => m.seq)).toEqual([1, 2]);
    await sock.close();
  });

  it("a frame sent as soon as the socket opens is stored and echoed", async () => {
    const { owner, roomId } = await setup();
    const ownerId = await userIdOf(srv.url, owner.access_token);
    const sock = connectLegacy(srv.wsUrl, roomId, owner.access_token);
    sock.ws.once("open", () => sock.send("first words"));
    await sock.opened;
    const history = () => httpClient(srv.url, owner.access_token).room.history.query({ roomId });
    await eventually(async () => (await history()).messages.length > 0, 3000, "the first frame to be stored").catch(() => undefined);
    expect((await history()).messages.map((m) => m.text)).toEqual(["first words"]);
    expect(await sock.waitFrames(1)).toEqual([legacyFrame(ownerId, owner.login, roomId, "first words")]);
    await sock.close();
  });

  it("an invalid or missing token gets the text frame error.token, then close 4401", async () => {
    const { roomId } = await setup();
    const sockets = [
      connectLegacy(srv.wsUrl, roomId, "garbage"),
      new LegacySocket(new WebSocket(`${srv.wsUrl}/api/v1/rooms/ws?room=${roomId}`)),
    ];
    for (const sock of sockets) {
      expect((await sock.waitClose()).code).toBe(4401);
      expect(sock.frames).toEqual(["error.token"]);
    }
  });

  it("an unknown room id closes 4404 'room not found' and creates nothing", async () => {
    const u = await registerLegacy(srv.url, "nf");
    const sock = connectLegacy(srv.wsUrl, "Nope0000Nope0000", u.access_token);
    expect(await sock.waitClose()).toEqual({ code: 4404, reason: "room not found" });
    expect(await httpClient(srv.url, u.access_token).room.list.query()).toEqual([]);
  });

  it("a full room sends one AnonChat frame, then closes 4403 'room is full'", async () => {
    const { owner, guest, roomId } = await setup(1);
    const sock = connectLegacy(srv.wsUrl, roomId, guest.access_token);
    expect(await sock.waitClose()).toEqual({ code: 4403, reason: "room is full" });
    expect(sock.frames).toHaveLength(1);
    const frame = sock.frames[0] as string;
    const text = frameText(frame);
    expect(text).toMatch(/full/i);
    expect(frame).toBe(legacyFrame(0, "AnonChat", roomId, text));
    expect(await memberCount(owner, roomId)).toBe(1);
  });

  it("removing the room through REST sends an AnonChat frame, then closes 4410", async () => {
    const { owner, guest, roomId } = await setup();
    const socks = [await openLegacy(srv, roomId, owner.access_token), await openLegacy(srv, roomId, guest.access_token)];
    const res = await api(srv.url, "DELETE", "/api/v1/rooms/remove", { token: owner.access_token, body: { room_id: roomId } });
    expectEnvelope(res, 200, "success");
    for (const sock of socks) {
      expect(await sock.waitClose()).toEqual({ code: 4410, reason: "room removed" });
      expect(sock.frames).toHaveLength(1);
      const frame = sock.frames[0] as string;
      expect(frame).toBe(legacyFrame(0, "AnonChat", roomId, frameText(frame)));
      expect(frameText(frame)).toMatch(/removed/i);
    }
  });

  it("a frame over the message limit closes 1009 and the server stays up", async () => {
    const { owner, roomId } = await setup();
    const ownerId = await userIdOf(srv.url, owner.access_token);
    const sock = await openLegacy(srv, roomId, owner.access_token);
    sock.send("x".repeat(4000));
    expect(await sock.waitFrames(1)).toEqual([legacyFrame(ownerId, owner.login, roomId, "x".repeat(4000))]);
    sock.send("y".repeat(4001));
    expect((await sock.waitClose()).code).toBe(1009);
    expectEnvelope(await api(srv.url, "GET", "/api/v1/status"), 200, "success");
    const history = await httpClient(srv.url, owner.access_token).room.history.query({ roomId });
    expect(history.messages.map((m) => m.text.length)).toEqual([4000]);
    const again = await openLegacy(srv, roomId, owner.access_token);
    again.send("still here");
    expect(await again.waitFrames(1)).toEqual([legacyFrame(ownerId, owner.login, roomId, "still here")]);
    await again.close();
  });

  describe("membership follows the legacy sockets", () => {
    it("a user who joined by socket leaves when the socket closes", async () => {
      const { owner, guest, roomId } = await setup();
      const sock = await openLegacy(srv, roomId, guest.access_token);
      expect(await memberCount(owner, roomId)).toBe(2);
      await sock.close();
      await eventually(async () => (await memberCount(owner, roomId)) === 1, 5000, "legacy member to leave");
      expect(await isMember(guest, roomId)).toBe(false);
    });

    it("a user who joined through room.join stays after closing the socket", async () => {
      const { owner, guest, roomId } = await setup();
      const witness = await registerLegacy(srv.url, "wit");
      await httpClient(srv.url, guest.access_token).room.join.mutate({ roomId });
      const sock = await openLegacy(srv, roomId, guest.access_token);
      await sock.close();
      // A legacy-only member closing afterwards: once it has left, the guest's close was handled too.
      const w = await openLegacy(srv, roomId, witness.access_token);
      expect(await memberCount(owner, roomId)).toBe(3);
      await w.close();
      await eventually(async () => (await memberCount(owner, roomId)) === 2, 5000, "witness to leave");
      expect(await isMember(guest, roomId)).toBe(true);
    });

    it("one user may hold two sockets; the membership ends with the last one", async () => {
      const { owner, guest, roomId } = await setup();
      const ownerId = await userIdOf(srv.url, owner.access_token);
      const first = await openLegacy(srv, roomId, guest.access_token);
      const second = await openLegacy(srv, roomId, guest.access_token);
      expect(await memberCount(owner, roomId)).toBe(2);
      await httpClient(srv.url, owner.access_token).room.send.mutate({ roomId, text: "to both" });
      const frame = legacyFrame(ownerId, owner.login, roomId, "to both");
      expect(await first.waitFrames(1)).toEqual([frame]);
      expect(await second.waitFrames(1)).toEqual([frame]);

      await first.close();
      await httpClient(srv.url, owner.access_token).room.send.mutate({ roomId, text: "still there" });
      expect(await second.waitFrames(2)).toEqual([frame, legacyFrame(ownerId, owner.login, roomId, "still there")]);
      expect(await memberCount(owner, roomId)).toBe(2);
      expect(second.closed).toBeUndefined();

      await second.close();
      await eventually(async () => (await memberCount(owner, roomId)) === 1, 5000, "guest to leave");
    });

    it("a second socket dropped while it is still joining does not evict the user's open socket", async () => {
      const { owner, guest, roomId } = await setup();
      const kept = await openLegacy(srv, roomId, guest.access_token);
      for (let i = 0; i < 5; i++) {
        const dropped = connectLegacy(srv.wsUrl, roomId, guest.access_token);
        dropped.ws.once("open", () => dropped.ws.terminate());
        await dropped.waitClose();
      }
      // A later message proves the open socket is still a member and still served.
      await eventually(async () => (await memberCount(owner, roomId)) === 2 && kept.closed === undefined, 2000, "steady state");
      await httpClient(srv.url, owner.access_token).room.send.mutate({ roomId, text: "ping" });
      expect((await kept.waitFrames(1)).map(frameText)).toEqual(["ping"]);
      expect(kept.closed).toBeUndefined();
      expect(await isMember(guest, roomId)).toBe(true);
      await kept.close();
    });
  });

  it("logout closes that session's legacy socket with an AnonChat frame and 4401, and no other session's", async () => {
    const { guest, roomId } = await setup();
    await httpClient(srv.url, guest.access_token).room.join.mutate({ roomId });
    const login = await api(srv.url, "POST", "/api/v1/auth/login", { body: { email: guest.email, password: guest.password } });
    const other = expectEnvelope(login, 200, "success").data as { access_token: string };
    const revoked = await openLegacy(srv, roomId, guest.access_token);
    const survivor = await openLegacy(srv, roomId, other.access_token);
    expectEnvelope(await api(srv.url, "POST", "/api/v1/auth/logout", { body: { token: guest.refresh_token } }), 200, "success");
    const closed = await revoked.waitClose(2000);
    expect(closed.code).toBe(4401);
    expect(revoked.frames).toHaveLength(1);
    const frame = revoked.frames[0] as string;
    expect(frame).toBe(legacyFrame(0, "AnonChat", roomId, frameText(frame)));
    expect(survivor.closed).toBeUndefined();
    await survivor.close();
  });

  it("refresh rotation keeps the socket open; replaying the old refresh token revokes the session and closes it 4401", async () => {
    const { owner, roomId } = await setup();
    const sock = await openLegacy(srv, roomId, owner.access_token);
    const rotated = await api(srv.url, "POST", "/api/v1/auth/refresh", { body: { token: owner.refresh_token } });
    const pair = expectEnvelope(rotated, 200, "success").data as { refresh_token: string };
    // Rotated twice, so the replay below is past what the reuse grace forgives.
    expectEnvelope(await api(srv.url, "POST", "/api/v1/auth/refresh", { body: { token: pair.refresh_token } }), 200, "success");
    sock.send("after rotation");
    expect((await sock.waitFrames(1)).map(frameText)).toEqual(["after rotation"]);
    expect(sock.closed).toBeUndefined();
    const replay = await api(srv.url, "POST", "/api/v1/auth/refresh", { body: { token: owner.refresh_token } });
    expectEnvelope(replay, 401, "error");
    expect((await sock.waitClose(2000)).code).toBe(4401);
    expect(sock.frames).toHaveLength(2);
    expect(sock.frames[1]).toBe(legacyFrame(0, "AnonChat", roomId, frameText(sock.frames[1] as string)));
  });

  describe("with LEGACY_MESSAGE_ENCODING=bytes", () => {
    let bytesSrv: TestServer;
    beforeAll(async () => {
      bytesSrv = await startTestServer({ env: { LEGACY_MESSAGE_ENCODING: "bytes" } });
    });
    afterAll(async () => {
      await bytesSrv.stop();
    });

    it("sends message as the array of UTF-8 byte values", async () => {
      const u = await registerLegacy(bytesSrv.url, "byt");
      const roomId = await createRoomLegacy(bytesSrv.url, u.access_token);
      const id = await userIdOf(bytesSrv.url, u.access_token);
      const sock = await openLegacy(bytesSrv, roomId, u.access_token);
      sock.send("héllo ✓");
      const [frame] = await sock.waitFrames(1);
      const bytes = Array.from(Buffer.from("héllo ✓", "utf8"));
      expect(frame).toBe(`{"client_id":${id},"client_name":"${u.login}","room_id":"${roomId}","message":[${bytes.join(",")}]}`);
      expect(frame).toBe(legacyFrame(id, u.login, roomId, "héllo ✓", "bytes"));
      await sock.close();
    });
  });
});
