import type { ActivityEvent, Message, PresenceMember, RoomEvent } from "@anonchat/shared";
import { liveClient, registerUser, waitFor, type Client } from "../harness.js";
import { connectLegacy, type LegacySocket } from "./legacy.js";
import { recordRoom, type AppClientError, type SubscriptionLog } from "./trpc.js";

/**
 * Helpers for the issue-7 room features (docs/api.md "Room features"): subscriptions that record
 * presence, typing, edits and deletions as well as messages, an onActivity recorder, and a legacy
 * socket whose attachment is observed through presence (so it works in the split topology too,
 * where the test cannot look into a replica's hub).
 */

export type User = Awaited<ReturnType<typeof registerUser>>;

export const idOf = (u: User): number => u.session.user.id;
export const loginOf = (u: User): string => u.session.user.login;

/** The cleanups a test file runs after each test (subscriptions, sockets), newest first. */
export class Cleanups {
  private readonly fns: Array<() => unknown> = [];
  add(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.fns.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // a socket that is already gone
      }
    }
  }
}

export interface RoomLog extends SubscriptionLog {
  /** Tracked events (message, edit, delete, removed), in arrival order. */
  tracked(): Array<{ id: string | undefined; data: RoomEvent }>;
  /** The tracked ids in arrival order. */
  trackedIds(): string[];
  /** The first presence snapshot, if it has arrived. */
  snapshot(): PresenceMember[] | undefined;
  /** Who is online by this subscription's view: the snapshot with every later change applied. */
  online(): number[];
  presenceChanges(): Array<Extract<RoomEvent, { type: "presence.change" }>>;
  typing(): Array<Extract<RoomEvent, { type: "typing" }>>;
  edits(): Array<Extract<RoomEvent, { type: "edit" }>["edit"]>;
  deletes(): Array<Extract<RoomEvent, { type: "delete" }>["delete"]>;
  /** Closes this subscription's WebSocket client too. */
  close(): void;
}

/** Subscribes to room.onMessage through the README's client recipe and records everything. */
export function subscribeRoom(cleanups: Cleanups, url: string, user: User, roomId: string, lastEventId?: string): RoomLog {
  const live = liveClient(url, user.session);
  const log = recordRoom(live.client, { roomId, ...(lastEventId !== undefined ? { lastEventId } : {}) });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    log.unsubscribe();
    live.close();
  };
  cleanups.add(close);
  const ofType = <T extends RoomEvent["type"]>(type: T) =>
    log.events.flatMap((e) => (e.data.type === type ? [e.data as Extract<RoomEvent, { type: T }>] : []));
  const extra = {
    tracked: () => log.events.filter((e) => ["message", "edit", "delete", "removed"].includes(e.data.type)),
    trackedIds: () => extra.tracked().map((e) => String(e.id)),
    snapshot: () => ofType("presence")[0]?.online,
    online: () => {
      const first = ofType("presence")[0];
      if (!first) return [];
      const set = new Set(first.online.map((p) => p.userId));
      const start = log.events.findIndex((e) => e.data.type === "presence");
      for (const e of log.events.slice(start + 1)) {
        if (e.data.type !== "presence.change") continue;
        if (e.data.online) set.add(e.data.userId);
        else set.delete(e.data.userId);
      }
      return [...set].sort((x, y) => x - y);
    },
    presenceChanges: () => ofType("presence.change"),
    typing: () => ofType("typing"),
    edits: () => ofType("edit").map((e) => e.edit),
    deletes: () => ofType("delete").map((e) => e.delete),
    close,
  };
  return Object.assign(log, extra);
}

/**
 * Waits for the subscription's first event, the presence snapshot: the server sends it once the
 * stream is attached, so whatever happens afterwards reaches this subscriber.
 */
export async function ready(log: RoomLog, timeoutMs = 10_000): Promise<RoomLog> {
  await waitFor(() => log.snapshot() !== undefined || log.error !== undefined, timeoutMs, "the presence snapshot");
  if (log.error) throw new Error(`subscription failed: ${log.error.data?.code} ${log.error.message}`);
  return log;
}

/** Subscribes and waits until the stream is attached. */
export async function attached(cleanups: Cleanups, url: string, user: User, roomId: string, lastEventId?: string): Promise<RoomLog> {
  return ready(subscribeRoom(cleanups, url, user, roomId, lastEventId));
}

/**
 * Presence and typing events are ephemeral, never stored or replayed, and tracked with the seq of
 * the last stored event before them (docs/api.md, "Ephemeral events"), so a wsLink that resumes
 * from their id loses and repeats nothing. `start` is the subscription's starting seq (its
 * lastEventId, or the room's last seq at a live-edge subscribe).
 */
export function expectEphemeralIdsAreResumePoints(log: RoomLog, start: number): void {
  let cursor = start;
  for (const e of log.events) {
    const stored = e.data.type === "message" || e.data.type === "edit" || e.data.type === "delete";
    if (stored) {
      cursor = Number(e.id);
      continue;
    }
    if (e.data.type === "removed") continue;
    if (String(cursor) !== e.id) throw new Error(`${e.data.type} event tracked as ${String(e.id)}, but the resume point was ${cursor}`);
  }
}

/** Waits until every log has received the message event with this seq. */
export async function waitSeq(logs: RoomLog[], seq: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => logs.every((l) => l.trackedIds().includes(String(seq))), timeoutMs, `seq ${seq} on every subscription`);
}

/** Waits until a subscription has ended (completed or stopped) or failed. */
export async function waitEnded(log: RoomLog, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => log.completed || log.stopped || log.error !== undefined, timeoutMs, "the subscription to end");
}

/** Sends a sentinel message and waits for it on every log: earlier events have arrived too. */
export async function settle(client: Client, roomId: string, logs: RoomLog[], text = "sentinel"): Promise<Message> {
  const m = await client.room.send.mutate({ roomId, text });
  await waitSeq(logs, m.seq);
  return m;
}

export interface ActivityLog {
  events: ActivityEvent[];
  started: boolean;
  completed: boolean;
  error: AppClientError | undefined;
  ofType<T extends ActivityEvent["type"]>(type: T): Array<Extract<ActivityEvent, { type: T }>>;
  close(): void;
}

/** Subscribes to room.onActivity through the client recipe and records every event. */
export function subscribeActivity(cleanups: Cleanups, url: string, user: User): ActivityLog {
  const live = liveClient(url, user.session);
  const events: ActivityEvent[] = [];
  const log: ActivityLog = {
    events,
    started: false,
    completed: false,
    error: undefined,
    ofType: <T extends ActivityEvent["type"]>(type: T) =>
      events.flatMap((e) => (e.type === type ? [e as Extract<ActivityEvent, { type: T }>] : [])),
    close: () => {
      sub.unsubscribe();
      live.close();
    },
  };
  const sub = live.client.room.onActivity.subscribe(undefined, {
    onStarted: () => (log.started = true),
    onData: (e: unknown) => {
      // Untracked: the event itself; tolerate a tracked envelope too.
      const v = e as { id?: unknown; data?: unknown };
      events.push((typeof v.id === "string" && typeof v.data === "object" ? v.data : e) as ActivityEvent);
    },
    onError: (err) => (log.error = err as AppClientError),
    onComplete: () => (log.completed = true),
  });
  cleanups.add(() => log.close());
  return log;
}

/**
 * Subscribes to onActivity and waits until it is attached: the activity stream has no first
 * event, so this sends probe messages to `probeRoomId` (a room of the user's) until one arrives.
 * Returns the log with the probes' events removed.
 */
export async function attachedActivity(cleanups: Cleanups, url: string, user: User, probeRoomId: string): Promise<ActivityLog> {
  const log = subscribeActivity(cleanups, url, user);
  await waitFor(() => log.started || log.error !== undefined, 10_000, "onActivity to start");
  for (let i = 0; i < 50; i++) {
    if (log.error) throw new Error(`onActivity failed: ${log.error.data?.code} ${log.error.message}`);
    const probe = await user.client.room.send.mutate({ roomId: probeRoomId, text: `activity probe ${i}` });
    const arrived = await waitFor(
      () => log.ofType("message").some((e) => e.roomId === probeRoomId && e.message.seq === probe.seq),
      300,
      "probe",
    ).then(
      () => true,
      () => false,
    );
    if (arrived) {
      await new Promise((r) => setTimeout(r, 100));
      log.events.splice(0);
      return log;
    }
  }
  throw new Error("onActivity never delivered a probe message");
}

/**
 * Opens a legacy socket for a user who holds no other connection to the room, and waits until the
 * watcher (a subscription of another member) sees them come online: the socket is then joined and
 * attached to the room's stream. Works through the gateway of the split topology too.
 */
export async function openLegacyWatched(wsUrl: string, roomId: string, user: User, watcher: RoomLog): Promise<LegacySocket> {
  const onlineBefore = watcher.presenceChanges().filter((c) => c.userId === idOf(user) && c.online).length;
  const sock = connectLegacy(wsUrl, roomId, user.session.accessToken);
  await sock.opened;
  await waitFor(
    () => watcher.presenceChanges().filter((c) => c.userId === idOf(user) && c.online).length > onlineBefore || sock.closed !== undefined,
    10_000,
    "the legacy socket to come online",
  );
  if (sock.closed) throw new Error(`legacy socket closed: ${JSON.stringify(sock.closed)} ${JSON.stringify(sock.frames)}`);
  return sock;
}

/** n fresh users. */
export async function users(url: string, n: number, prefix = "u"): Promise<User[]> {
  const out: User[] = [];
  for (let i = 0; i < n; i++) out.push(await registerUser(url, prefix));
  return out;
}

/** A room owned by a fresh user, with `members` more users who joined in order. */
export async function roomWith(url: string, members: number, maxMembers = 20) {
  const owner = await registerUser(url, "own");
  const room = await owner.client.room.create.mutate({ name: "features", maxMembers });
  const others = await users(url, members, "mem");
  for (const u of others) await u.client.room.join.mutate({ roomId: room.id });
  return { owner, room, others };
}

/** The n-th element, or a test failure. */
export function nth<T>(list: readonly T[], i: number): T {
  const v = list[i];
  if (v === undefined) throw new Error(`no element ${i} in a list of ${list.length}`);
  return v;
}

export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
