import { tracked } from "@trpc/server";
import {
  roomCreateInput,
  roomHistoryInput,
  roomIdInput,
  roomMarkReadInput,
  roomOnMessageInput,
  roomSendInput,
  roomTypingInput,
  memberInput,
  type RoomEvent,
} from "@anonchat/shared";
import type { StreamItem } from "@anonchat/core";
import { activityEventOf, storedEventOf } from "../encoder.js";
import { chatProcedure, router } from "../trpc.js";
import { streamOptions, liveStream } from "./streams.js";

const me = (ctx: { auth: { userId: number; login: string } }) => ({ id: ctx.auth.userId, login: ctx.auth.login });

export const roomRouter = router({
  create: chatProcedure
    .input(roomCreateInput)
    .mutation(({ ctx, input }) => ctx.rooms.create(ctx.auth.userId, input)),
  join: chatProcedure.input(roomIdInput).mutation(({ ctx, input }) => ctx.rooms.join(me(ctx), input.roomId)),
  leave: chatProcedure.input(roomIdInput).mutation(({ ctx, input }) => ctx.rooms.leave(me(ctx), input.roomId)),
  remove: chatProcedure
    .input(roomIdInput)
    .mutation(({ ctx, input }) => ctx.rooms.remove(ctx.auth.userId, input.roomId)),
  list: chatProcedure.query(({ ctx }) => ctx.rooms.list(ctx.auth.userId)),
  get: chatProcedure
    .input(roomIdInput)
    .query(({ ctx, input }) => ctx.rooms.get(ctx.auth.userId, input.roomId)),
  history: chatProcedure
    .input(roomHistoryInput)
    .query(({ ctx, input }) => ctx.rooms.history(ctx.auth.userId, input)),
  send: chatProcedure.input(roomSendInput).mutation(({ ctx, input }) => ctx.rooms.send(me(ctx), input)),
  markRead: chatProcedure
    .input(roomMarkReadInput)
    .mutation(({ ctx, input }) => ctx.rooms.markRead(ctx.auth.userId, input)),
  typing: chatProcedure.input(roomTypingInput).mutation(({ ctx, input }) => ctx.rooms.typing(me(ctx), input)),
  presence: chatProcedure
    .input(roomIdInput)
    .query(({ ctx, input }) => ctx.rooms.presence(ctx.auth.userId, input.roomId)),
  transfer: chatProcedure.input(memberInput).mutation(({ ctx, input }) => ctx.rooms.transfer(me(ctx), input)),

  /**
   * Listens first, replays after lastEventId, then streams live: no gap, no duplicate. Over a
   * socket the events are written to it directly (the same frames tRPC would send), and live
   * events in order skip even this generator: a wide room's fan-out is one prepared frame per
   * subscriber, not tRPC's per-frame work.
   */
  onMessage: chatProcedure.input(roomOnMessageInput).subscription(async function* ({ ctx, input, signal }) {
    const typingTtl = ctx.rooms.typingTtlMs;
    yield* liveStream(ctx, "room.onMessage", async function* () {
      const connection = ctx.connection;
      const ref = ctx.subscription;
      const direct =
        connection && ref
          ? (item: StreamItem) => {
              const [id, event] = trackedEventOf(item, typingTtl);
              connection.send(ref, id, event);
            }
          : undefined;
      const stream = await ctx.rooms.openStream(me(ctx), input.roomId, {
        afterSeq: input.lastEventId ? Number(input.lastEventId) : undefined,
        ...streamOptions(ctx, signal),
        ...(direct ? { direct } : {}),
      });
      for await (const item of stream) {
        if (direct) direct(item);
        else {
          const [id, event] = trackedEventOf(item, typingTtl);
          yield tracked(id, event);
        }
        if (item.type === "removed") return;
      }
    });
  }),

  /** What changes the caller's room list, across all of their rooms (untracked). */
  onActivity: chatProcedure.subscription(async function* ({ ctx, signal }) {
    yield* liveStream(ctx, "room.onActivity", async function* () {
      for await (const e of ctx.rooms.openActivity(ctx.auth.userId, streamOptions(ctx, signal))) yield activityEventOf(e);
    });
  }),
});


/** A stream item as the client sees it: its tracked id (a resume point) and its RoomEvent. */
function trackedEventOf(item: StreamItem, typingTtl: number): [string, RoomEvent] {
  switch (item.type) {
    case "event":
      return [String(item.event.seq), storedEventOf(item.event)];
    case "removed":
      return [String(item.lastSeq), { type: "removed" }];
    case "presence":
      return [String(item.at), { type: "presence", online: item.online }];
    case "presence.change": {
      const { at, ...change } = item;
      return [String(at), { ...change, type: "presence.change" }];
    }
    case "typing": {
      const { at, ...typing } = item;
      return [String(at), { ...typing, type: "typing", expiresInMs: typingTtl }];
    }
  }
}
