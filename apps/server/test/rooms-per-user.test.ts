import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MESSAGES } from "@anonchat/shared";
import { registerUser, startTestServer, type TestServer } from "./harness.js";
import { api, connectLegacy, expectEnvelope, frameText } from "./helpers/legacy.js";

/**
 * room.list and room.onActivity cover every room a user belongs to, so a user belongs to at most
 * MAX_ROOMS_PER_USER rooms (docs/api.md, Rooms per user): creating or joining past it is refused
 * on every path, atomically, and leaving a room makes space again.
 */
const LIMIT = 3;
let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ env: { MAX_ROOMS_PER_USER: String(LIMIT) } });
}, 180_000);
afterAll(async () => {
  await srv?.stop();
});

async function refusal(p: Promise<unknown>): Promise<{ code: string | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TRPCClientError) return { code: (err.data as { code?: string } | undefined)?.code, message: err.message };
    throw err;
  }
  throw new Error("expected a refusal");
}

/** Rooms made by others (each within the limit too), for `n` joins. */
async function othersRooms(n: number): Promise<string[]> {
  const ids: string[] = [];
  let host = await registerUser(srv.url, "host");
  for (let i = 0; i < n; i++) {
    if (i > 0 && i % LIMIT === 0) host = await registerUser(srv.url, "host");
    ids.push((await host.client.room.create.mutate({ name: `r${i}`, maxMembers: 10 })).id);
  }
  return ids;
}

describe("rooms per user (MAX_ROOMS_PER_USER)", () => {
  it("refuses the create and the join past the limit, and lets one in again after a leave", async () => {
    const u = await registerUser(srv.url, "many");
    const [a, b] = await othersRooms(2);
    const own = await u.client.room.create.mutate({ name: "mine", maxMembers: 5 });
    await u.client.room.join.mutate({ roomId: a as string });
    await u.client.room.join.mutate({ roomId: b as string });
    expect((await u.client.room.list.query()).map((r) => r.id).sort()).toEqual([own.id, a, b].sort());

    const create = await refusal(u.client.room.create.mutate({ name: "one more", maxMembers: 5 }));
    expect(create.code).toBe("FORBIDDEN");
    expect(create.message).toContain(MESSAGES.tooManyRooms);
    expect(create.message).toContain(`at most ${LIMIT}`);
    const [c] = await othersRooms(1);
    const join = await refusal(u.client.room.join.mutate({ roomId: c as string }));
    expect(join.code).toBe("FORBIDDEN");
    expect(join.message).toContain(MESSAGES.tooManyRooms);
    // Joining a room one is already in is no new membership.
    expect((await u.client.room.join.mutate({ roomId: a as string })).id).toBe(a);
    expect(await u.client.room.list.query()).toHaveLength(LIMIT);

    await u.client.room.leave.mutate({ roomId: a as string });
    expect((await u.client.room.join.mutate({ roomId: c as string })).id).toBe(c);
    expect(await u.client.room.list.query()).toHaveLength(LIMIT);
  });

  it("lets concurrent joins of one user pass the limit exactly", async () => {
    const u = await registerUser(srv.url, "rush");
    await u.client.room.create.mutate({ name: "first", maxMembers: 5 });
    const rooms = await othersRooms(6);
    const results = await Promise.allSettled(rooms.map((roomId) => u.client.room.join.mutate({ roomId })));
    const joined = results.filter((r) => r.status === "fulfilled");
    expect(joined).toHaveLength(LIMIT - 1);
    for (const r of results) {
      if (r.status === "rejected") expect(String(r.reason)).toContain(MESSAGES.tooManyRooms);
    }
    expect(await u.client.room.list.query()).toHaveLength(LIMIT);
  });

  it("answers 403 on /api/v1/rooms/create and closes a legacy socket's join with a notice and 4403", async () => {
    const u = await registerUser(srv.url, "legacy");
    const token = u.session.accessToken;
    for (let i = 0; i < LIMIT; i++) {
      expectEnvelope(await api(srv.url, "POST", "/api/v1/rooms/create", { token, body: { name: `l${i}`, max_user: 5 } }), 201, "success");
    }
    const refused = expectEnvelope(
      await api(srv.url, "POST", "/api/v1/rooms/create", { token, body: { name: "over", max_user: 5 } }),
      403,
      "error",
    );
    expect(refused.message).toContain(MESSAGES.tooManyRooms);

    const [other] = await othersRooms(1);
    const sock = connectLegacy(srv.wsUrl, other as string, token);
    const closed = await sock.waitClose();
    expect(closed.code).toBe(4403);
    expect(sock.frames.map(frameText).join(" ")).toContain(MESSAGES.tooManyRooms);
  });
});
