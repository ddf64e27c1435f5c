import { memberInput, roomIdInput } from "@anonchat/shared";
import { chatProcedure, router } from "../trpc.js";

export const memberRouter = router({
  list: chatProcedure
    .input(roomIdInput)
    .query(({ ctx, input }) => ctx.rooms.members(ctx.auth.userId, input.roomId)),
  kick: chatProcedure
    .input(memberInput)
    .mutation(({ ctx, input }) => ctx.rooms.kick({ id: ctx.auth.userId, login: ctx.auth.login }, input)),
  ban: chatProcedure
    .input(memberInput)
    .mutation(({ ctx, input }) => ctx.rooms.ban({ id: ctx.auth.userId, login: ctx.auth.login }, input)),
  bans: chatProcedure
    .input(roomIdInput)
    .query(({ ctx, input }) => ctx.rooms.bans({ id: ctx.auth.userId, login: ctx.auth.login }, input.roomId)),
  unban: chatProcedure
    .input(memberInput)
    .mutation(({ ctx, input }) => ctx.rooms.unban({ id: ctx.auth.userId, login: ctx.auth.login }, input)),
});
