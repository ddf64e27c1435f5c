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
import { activityEventOf, storedEventOf } from "../encoder";
import { chatProcedure, router } from "../trpc";
import { streamOptions, liveStream } from "./streams";

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

  /** Listens first, replays after lastEventId, then streams live: no gap, no duplicate. */
  onMessage: chatProcedure.input(roomOnMessageInput).subscription(async function* ({ ctx, input, signal }) {
    const typingTtl = ctx.rooms.typingTtlMs;
    yield* liveStream(ctx, "room.onMessage", async function* () {
      const stream = await ctx.rooms.openStream(me(ctx), input.roomId, {
        afterSeq: input.lastEventId ? Number(input.lastEventId) : undefined,
        ...streamOptions(ctx, signal),
      });
      for await (const item of stream) {
        switch (item.type) {
          case "event":
            yield tracked(String(item.event.seq), storedEventOf(item.event));
            break;
          case "removed":
            yield tracked(String(item.lastSeq), { type: "removed" } satisfies RoomEvent as RoomEvent);
            return;
          case "presence":
            yield tracked(String(item.at), { type: "presence", online: item.online } satisfies RoomEvent as RoomEvent);
            break;
          case "presence.change": {
            const { at, ...change } = item;
            yield tracked(String(at), { ...change, type: "presence.change" } satisfies RoomEvent as RoomEvent);
            break;
          }
          case "typing": {
            const { at, ...typing } = item;
            yield tracked(String(at), { ...typing, type: "typing", expiresInMs: typingTtl } satisfies RoomEvent as RoomEvent);
            break;
          }
        }
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

