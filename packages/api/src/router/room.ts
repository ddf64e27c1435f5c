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
import { chatProcedure, router, toTRPCError } from "../trpc";

export const roomRouter = router({
  create: chatProcedure
    .input(roomCreateInput)
    .mutation(({ ctx, input }) => ctx.rooms.create(ctx.auth.userId, input)),
  join: chatProcedure
    .input(roomIdInput)
    .mutation(({ ctx, input }) => ctx.rooms.join(ctx.auth.userId, input.roomId)),
  leave: chatProcedure
    .input(roomIdInput)
    .mutation(({ ctx, input }) => ctx.rooms.leave(ctx.auth.userId, input.roomId)),
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
  send: chatProcedure
    .input(roomSendInput)
    .mutation(({ ctx, input }) =>
      ctx.rooms.send({ id: ctx.auth.userId, login: ctx.auth.login }, input),
    ),

  /** Listens first, replays after lastEventId, then streams live: no gap, no duplicate. */
  onMessage: chatProcedure.input(roomOnMessageInput).subscription(async function* ({ ctx, input, signal }) {
    const connection = ctx.connection;
    // Errors inside a generator bypass middleware: map them here.
    let stream: Awaited<ReturnType<typeof ctx.rooms.openStream>>;
    try {
      stream = await ctx.rooms.openStream(ctx.auth.userId, input.roomId, {
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
