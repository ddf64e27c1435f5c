import net from "node:net";
import { TRPCClientError } from "@trpc/client";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { expect } from "vitest";
import type { AppRouter } from "@anonchat/api";
import type { Message, RoomEvent } from "@anonchat/shared";
import type { Client } from "../harness.js";

export type AppClientError = TRPCClientError<AppRouter>;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Awaits a call that must fail and checks the tRPC error code (and the message, exactly for a
 * string, by pattern for a RegExp). Returns the error for further checks.
 */
export async function expectTRPCError(
  call: Promise<unknown>,
  code: TRPC_ERROR_CODE_KEY,
  message?: string | RegExp,
): Promise<AppClientError> {
  let caught: unknown;
  let value: unknown;
  try {
    value = await call;
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof TRPCClientError)) {
    throw new Error(`expected a ${code} error, got ${caught === undefined ? `a result: ${JSON.stringify(value)}` : String(caught)}`);
  }
  const err = caught as AppClientError;
  expect(err.data?.code, `code of "${err.message}"`).toBe(code);
  if (typeof message === "string") expect(err.message).toBe(message);
  else if (message) expect(err.message).toMatch(message);
  return err;
}

/**
 * For an input at the edge of what the schema admits: the server must answer, either with a result
 * or with a BAD_REQUEST naming the field, never with a server error. Returns the result, if any.
 */
export async function expectAnsweredOrBadRequest<T>(call: Promise<T>, field: string): Promise<T | undefined> {
  const outcome = await call.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) return outcome.value;
  const err = await expectTRPCError(Promise.reject(outcome.err), "BAD_REQUEST");
  expect(err.message).toContain(field);
  return undefined;
}

/** A well-formed room id (16 base62 characters) that names no room. */
export function unknownRoomId(): string {
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < 16; i++) s += abc[Math.floor(Math.random() * abc.length)];
  return s;
}

export interface TrackedEvent {
  /** The tracked id; undefined for an untracked event (allowed for "removed"). */
  id: string | undefined;
  data: RoomEvent;
}

/** Everything one room.onMessage subscription observed, for assertions. */
export interface SubscriptionLog {
  events: TrackedEvent[];
  started: boolean;
  completed: boolean;
  stopped: boolean;
  error: AppClientError | undefined;
  /** How often the connection went back to "connecting" after an error (a dropped socket). */
  reconnects: number;
  /** The message events' seqs, in arrival order. */
  seqs(): number[];
  messages(): Message[];
  unsubscribe(): void;
}

export function recordRoom(client: Client, input: { roomId: string; lastEventId?: string }): SubscriptionLog {
  const log: Omit<SubscriptionLog, "unsubscribe"> = {
    events: [],
    started: false,
    completed: false,
    stopped: false,
    error: undefined,
    reconnects: 0,
    seqs: () => log.messages().map((m) => m.seq),
    messages: () => log.events.flatMap((e) => (e.data.type === "message" ? [e.data.message] : [])),
  };
  const sub = client.room.onMessage.subscribe(input, {
    onStarted: () => (log.started = true),
    onData: (e) => {
      // Tracked events arrive as { id, data }; an untracked one would arrive bare.
      const v: { id?: unknown; data?: unknown } = e;
      if (typeof v.id === "string" && typeof v.data === "object") log.events.push({ id: v.id, data: e.data });
      else log.events.push({ id: undefined, data: e as unknown as RoomEvent });
    },
    onError: (err) => (log.error = err),
    onComplete: () => (log.completed = true),
    onStopped: () => (log.stopped = true),
    onConnectionStateChange: (s) => {
      if (s.state === "connecting" && s.error) log.reconnects++;
    },
  });
  return Object.assign(log, { unsubscribe: () => sub.unsubscribe() });
}

/** Asserts a subscription received exactly these seqs, in order, each tracked with String(seq). */
export function expectSeqs(log: SubscriptionLog, seqs: number[]): void {
  const messages = log.events.filter((e) => e.data.type === "message");
  expect(log.seqs()).toEqual(seqs);
  expect(messages.map((e) => e.id)).toEqual(seqs.map(String));
}

/** Every message of a room, oldest first, by walking history pages backwards. */
export async function fullHistory(client: Client, roomId: string): Promise<Message[]> {
  const pages: Message[][] = [];
  let beforeSeq: number | undefined;
  for (;;) {
    const page = await client.room.history.query({ roomId, limit: 100, ...(beforeSeq ? { beforeSeq } : {}) });
    pages.unshift(page.messages);
    const first = page.messages[0];
    if (!page.hasMore || !first) break;
    beforeSeq = first.seq;
  }
  return pages.flat();
}

/** [from, from+1, ..., to] */
export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

export interface TcpProxy {
  url: string;
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /** Destroys every open connection on both sides, like a network failure (no close frame). */
  dropAll(): void;
  close(): Promise<void>;
}

/** A plain TCP relay to 127.0.0.1:targetPort, so a test can cut live connections. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect(targetPort, "127.0.0.1");
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("proxy has no port");
  const dropAll = () => {
    for (const [a, b] of [...pairs]) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    accepted: () => accepted,
    dropAll,
    async close() {
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
