import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MESSAGES } from "@anonchat/shared";
import { startTestServer, type TestServer } from "./harness.js";
import {
  api,
  connectLegacy,
  createRoomLegacy,
  expectEnvelope,
  frameText,
  openLegacy,
  registerLegacy,
  userIdOf,
  type LegacyUser,
} from "./helpers/legacy.js";

/**
 * Issue 7 through /api/v1: the owner's moderation as REST routes in the shape of rooms/remove
 * (README, "Room features"), and what it does to the member's legacy sockets.
 */
let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.stop();
});

const post = (path: string, body: unknown, token?: string) => api(srv.url, "POST", path, { body, token });

async function roomWithMember(): Promise<{ owner: LegacyUser; member: LegacyUser; memberId: number; roomId: string }> {
  const owner = await registerLegacy(srv.url, "own");
  const member = await registerLegacy(srv.url, "mem");
  const roomId = await createRoomLegacy(srv.url, owner.access_token);
  return { owner, member, memberId: await userIdOf(srv.url, member.access_token), roomId };
}

describe("POST /api/v1/rooms/kick | ban | unban | transfer", () => {
  it("kick closes the member's legacy socket with a notice and 4403; they may connect again", async () => {
    const { owner, member, memberId, roomId } = await roomWithMember();
    const sock = await openLegacy(srv, roomId, member.access_token);
    const env = expectEnvelope(await post("/api/v1/rooms/kick", { room_id: roomId, user_id: memberId }, owner.access_token), 200, "success");
    expect(env.data).toBeNull();
    const closed = await sock.waitClose();
    expect(closed.code).toBe(4403);
    const notice = JSON.parse(sock.frames.at(-1) ?? "{}") as { client_id: number; client_name: string };
    expect([notice.client_id, notice.client_name]).toEqual([0, "AnonChat"]);
    expect(frameText(sock.frames.at(-1) ?? "")).toBe(MESSAGES.kickedByOwner);
    const again = await openLegacy(srv, roomId, member.access_token);
    await again.close();
  });

  it("ban closes the socket and refuses a reconnect with 4403 until unban", async () => {
    const { owner, member, memberId, roomId } = await roomWithMember();
    const sock = await openLegacy(srv, roomId, member.access_token);
    expectEnvelope(await post("/api/v1/rooms/ban", { room_id: roomId, user_id: memberId }, owner.access_token), 200, "success");
    expect((await sock.waitClose()).code).toBe(4403);
    expect(frameText(sock.frames.at(-1) ?? "")).toBe(MESSAGES.bannedByOwner);

    const refused = connectLegacy(srv.wsUrl, roomId, member.access_token);
    expect((await refused.waitClose()).code).toBe(4403);
    expect(frameText(refused.frames.at(-1) ?? "")).toBe(MESSAGES.banned);

    expectEnvelope(await post("/api/v1/rooms/unban", { room_id: roomId, user_id: memberId }, owner.access_token), 200, "success");
    const back = await openLegacy(srv, roomId, member.access_token);
    await back.close();
  });

  it("transfer hands the room over: the old owner can no longer remove it, the new one can", async () => {
    const { owner, member, memberId, roomId } = await roomWithMember();
    const sock = await openLegacy(srv, roomId, member.access_token);
    expectEnvelope(await post("/api/v1/rooms/transfer", { room_id: roomId, user_id: memberId }, owner.access_token), 200, "success");
    const remove = (token: string) => api(srv.url, "DELETE", "/api/v1/rooms/remove", { body: { room_id: roomId }, token });
    expect(expectEnvelope(await remove(owner.access_token), 403, "error").message).toBe(MESSAGES.notOwner);
    expectEnvelope(await remove(member.access_token), 200, "success");
    expect((await sock.waitClose()).code).toBe(4410);
  });

  it("refuses with the envelope: 400 naming the field, 401, 403 not the owner, 404 no room or no member", async () => {
    const { owner, member, memberId, roomId } = await roomWithMember();
    const bad = await post("/api/v1/rooms/kick", { room_id: roomId, user_id: "7" }, owner.access_token);
    expect(expectEnvelope(bad, 400, "error").message).toContain("user_id");
    expect(expectEnvelope(await post("/api/v1/rooms/ban", { room_id: "short", user_id: 1 }, owner.access_token), 400, "error").message).toContain("room_id");
    expectEnvelope(await post("/api/v1/rooms/kick", { room_id: roomId, user_id: memberId }), 401, "error");
    const notOwner = await post("/api/v1/rooms/kick", { room_id: roomId, user_id: memberId }, member.access_token);
    expect(expectEnvelope(notOwner, 403, "error").message).toBe(MESSAGES.notOwner);
    const noRoom = await post("/api/v1/rooms/kick", { room_id: "AAAAAAAAAAAAAAAAAAAA", user_id: memberId }, owner.access_token);
    expect(expectEnvelope(noRoom, 404, "error").message).toBe(MESSAGES.roomNotFound);
    const noMember = await post("/api/v1/rooms/kick", { room_id: roomId, user_id: memberId }, owner.access_token);
    expect(expectEnvelope(noMember, 404, "error").message).toBe(MESSAGES.memberNotFound);
  });

  it("are listed in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${srv.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
    for (const action of ["kick", "ban", "unban", "transfer"]) expect(Object.keys(doc.paths)).toContain(`/api/v1/rooms/${action}`);
  });
});
