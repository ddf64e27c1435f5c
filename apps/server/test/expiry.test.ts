import { createTRPCClient, createWSClient, TRPCClientError, wsLink } from "@trpc/client";
import WebSocket from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AppRouter } from "@anonchat/api";
import { MESSAGES, type Session } from "@anonchat/shared";
import { httpClient, liveClient, registerUser, startTestServer, waitFor, type TestServer } from "./harness.js";
import { expectSeqs, expectTRPCError, fullHistory, range, recordRoom, sleep } from "./helpers/trpc.js";

// Access tokens live 5 s here, so a 30 s session sees several expiries.
const TTL = 5;

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ env: { ACCESS_TOKEN_TTL: String(TTL) } });
});
afterAll(async () => {
  await srv.stop();
});

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Waits until the session's access token has expired (plus a margin). */
async function untilExpired(session: Session) {
  const ms = Date.parse(session.accessTokenExpiresAt) - Date.now();
  expect(ms).toBeLessThanOrEqual(TTL * 1000);
  await sleep(Math.max(0, ms) + 300);
}

/**
 * A call over a socket whose token has expired must not be served: it fails either with
 * UNAUTHORIZED or because the server closed the socket (then the error carries no tRPC code).
 */
async function expectRefused(call: Promise<unknown>) {
  const outcome = await call.then(
    (value) => ({ served: true as const, value }),
    (err: unknown) => ({ served: false as const, err }),
  );
  if (outcome.served) throw new Error(`served on an expired token: ${JSON.stringify(outcome.value)}`);
  expectRefusal(outcome.err);
}

/** UNAUTHORIZED from the server, or a transport error (the server closed the socket under the call). */
function expectRefusal(err: unknown) {
  expect(err).toBeInstanceOf(TRPCClientError);
  const e = err as TRPCClientError<AppRouter>;
  if (e.data?.code !== undefined) expect(e.data.code, e.message).toBe("UNAUTHORIZED");
}

/** A client that does everything over one WebSocket with a fixed token: it can never refresh. */
function fixedTokenWsClient(token: string) {
  let closes = 0;
  const ws = createWSClient({
    url: `${srv.wsUrl}/trpc`,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    connectionParams: { token },
    retryDelayMs: () => 200,
    onClose: () => closes++,
  });
  cleanups.push(() => ws.close());
  return { client: createTRPCClient<AppRouter>({ links: [wsLink({ client: ws })] }), closes: () => closes };
}

describe("access-token expiry", () => {
  it(
    "a client following the recipe keeps its subscription for 30 s: every message exactly once, in order",
    async () => {
      const a = await registerUser(srv.url, "snd");
      const b = await registerUser(srv.url, "rcv");
      const room = await a.client.room.create.mutate({ name: "expiry", maxMembers: 2 });
      await b.client.room.join.mutate({ roomId: room.id });
      const sender = liveClient(srv.url, a.session);
      const receiver = liveClient(srv.url, b.session);
      cleanups.push(() => sender.close(), () => receiver.close());
      const log = recordRoom(receiver.client, { roomId: room.id, lastEventId: "0" });
      cleanups.push(() => log.unsubscribe());
      await waitFor(() => log.started, 5000, "started");

      const sent: number[] = [];
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        sent.push((await sender.client.room.send.mutate({ roomId: room.id, text: `tick ${sent.length}` })).seq);
        await sleep(200);
      }
      const sentinel = (await sender.client.room.send.mutate({ roomId: room.id, text: "sentinel" })).seq;
      await waitFor(() => log.seqs().includes(sentinel), 15_000, "sentinel");

      // seq 1 is b's join item (membership events are in the ordered stream).
      expect(sent).toEqual(range(2, sent.length + 1));
      expect(sentinel).toBe(sent.length + 2);
      const history = await fullHistory(sender.client, room.id);
      expect(history.map((m) => m.seq)).toEqual(range(1, sentinel));
      expectSeqs(log, range(1, sentinel));
      expect(log.messages()).toEqual(history);
      expect(log.error).toBeUndefined();
      expect(log.completed).toBe(false);
      // The tokens did expire on the way: the server closed the socket and the recipe refreshed.
      expect(log.reconnects).toBeGreaterThanOrEqual(1);
      expect(receiver.session().refreshToken).not.toBe(b.session.refreshToken);
      expect(sender.session().refreshToken).not.toBe(a.session.refreshToken);
    },
    90_000,
  );

  it(
    "an expired token is refused over HTTP",
    async () => {
      const { session } = await registerUser(srv.url, "http");
      const client = httpClient(srv.url, session.accessToken);
      expect(await client.auth.me.query()).toEqual(session.user);
      await untilExpired(session);
      await expectTRPCError(client.auth.me.query(), "UNAUTHORIZED", MESSAGES.tokenInvalid);
      await expectTRPCError(client.room.list.query(), "UNAUTHORIZED", MESSAGES.tokenInvalid);
      // The refresh token still works, and the new access token does.
      const next = await httpClient(srv.url).auth.refresh.mutate({ refreshToken: session.refreshToken });
      expect(await httpClient(srv.url, next.accessToken).auth.me.query()).toEqual(session.user);
    },
    90_000,
  );

  it(
    "a WebSocket presenting an expired token in connectionParams is refused",
    async () => {
      const a = await registerUser(srv.url, "wsx");
      const room = await a.client.room.create.mutate({ name: "r", maxMembers: 2 });
      // A message that a subscription served on the expired token would replay.
      await a.client.room.send.mutate({ roomId: room.id, text: "never delivered" });
      await untilExpired(a.session);
      const { client, closes } = fixedTokenWsClient(a.session.accessToken);
      const log = recordRoom(client, { roomId: room.id, lastEventId: "0" });
      cleanups.push(() => log.unsubscribe());
      // Refused: the subscription errors with UNAUTHORIZED, or the server keeps closing the socket.
      await waitFor(() => log.error !== undefined || closes() >= 2, 10_000, "refusal");
      if (log.error) expectRefusal(log.error);
      await expectRefused(client.auth.me.query());
      await expectRefused(client.room.history.query({ roomId: room.id }));
      expect(log.events).toEqual([]);
    },
    90_000,
  );

  it(
    "a live WebSocket stops serving when its token expires",
    async () => {
      const a = await registerUser(srv.url, "wsl");
      const room = await a.client.room.create.mutate({ name: "r", maxMembers: 2 });
      const { client, closes } = fixedTokenWsClient(a.session.accessToken);
      expect(await client.auth.me.query()).toEqual(a.session.user);
      const log = recordRoom(client, { roomId: room.id, lastEventId: "0" });
      cleanups.push(() => log.unsubscribe());
      await a.client.room.send.mutate({ roomId: room.id, text: "before expiry" });
      await waitFor(() => log.seqs().length === 1, 5000, "message before expiry");

      await untilExpired(a.session);
      // The server closed the socket (this client cannot re-authenticate in-band)...
      await waitFor(() => closes() >= 1, 5000, "server to close the expired socket");
      // ...and the reconnected socket, still presenting the expired token, serves nothing.
      await expectRefused(client.auth.me.query());
      await expectRefused(client.room.history.query({ roomId: room.id }));
      if (log.error) expectRefusal(log.error);

      const next = await httpClient(srv.url).auth.refresh.mutate({ refreshToken: a.session.refreshToken });
      await httpClient(srv.url, next.accessToken).room.send.mutate({ roomId: room.id, text: "after expiry" });
      await sleep(500);
      expectSeqs(log, [1]);
    },
    90_000,
  );
});
