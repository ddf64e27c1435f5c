import { tracked } from "@trpc/server";
import {
  roomCreateInput,
  roomHistoryInput,
  roomIdInput,
  roomOnMessageInput,
  roomSendInput,
  type RoomEvent,
} from "@anonchat/shared";
import { roomEventOf } from "../encoder";
import { protectedProcedure, router, toTRPCError } from "../trpc";

export const roomRouter = router({
  create: protectedProcedure
    .input(roomCreateInput)
    .mutation(({ ctx, input }) => ctx.services.rooms.create(ctx.auth.userId, input)),
  join: protectedProcedure
    .input(roomIdInput)
    .mutation(({ ctx, input }) => ctx.services.rooms.join(ctx.auth.userId, input.roomId)),
  leave: protectedProcedure
    .input(roomIdInput)
    .mutation(({ ctx, input }) => ctx.services.rooms.leave(ctx.auth.userId, input.roomId)),
  remove: protectedProcedure
    .input(roomIdInput)
    .mutation(({ ctx, input }) => ctx.services.rooms.remove(ctx.auth.userId, input.roomId)),
  list: protectedProcedure.query(({ ctx }) => ctx.services.rooms.list(ctx.auth.userId)),
  get: protectedProcedure
    .input(roomIdInput)
    .query(({ ctx, input }) => ctx.services.rooms.get(ctx.auth.userId, input.roomId)),
  history: protectedProcedure
    .input(roomHistoryInput)
    .query(({ ctx, input }) => ctx.services.rooms.history(ctx.auth.userId, input)),
  send: protectedProcedure
    .input(roomSendInput)
    .mutation(({ ctx, input }) =>
      ctx.services.rooms.send({ id: ctx.auth.userId, login: ctx.auth.login }, input),
    ),

  /** Listens first, replays after lastEventId, then streams live: no gap, no duplicate. */
  onMessage: protectedProcedure.input(roomOnMessageInput).subscription(async function* ({ ctx, input, signal }) {
    const connection = ctx.connection;
    // Errors inside a generator bypass middleware: map them here.
    let stream: Awaited<ReturnType<typeof ctx.services.rooms.openStream>>;
    try {
      stream = await ctx.services.rooms.openStream(ctx.auth.userId, input.roomId, {
        afterSeq: input.lastEventId ? Number(input.lastEventId) : undefined,
        ...(signal ? { signal } : {}),
        ...(connection
          ? {
              isBackedUp: () => connection.isBackedUp(),
              onOverflow: () => connection.drop(4008, "slow consumer"),
            }
          : {}),
      });
    } catch (err) {
      throw toTRPCError(err);
    }
    try {
      for await (const item of stream) {
        if (item.type === "removed") {
          yield tracked(String(item.lastSeq), { type: "removed" } as RoomEvent);
          return;
        }
        yield tracked(String(item.message.seq), roomEventOf(item.message));
      }
    } catch (err) {
      const mapped = toTRPCError(err);
      if (mapped.code === "INTERNAL_SERVER_ERROR") ctx.logError(err, "room.onMessage");
      throw mapped;
    }
  }),
});
