import { messageDeleteInput, messageEditInput } from "@anonchat/shared";
import { chatProcedure, router } from "../trpc.js";

export const messageRouter = router({
  edit: chatProcedure
    .input(messageEditInput)
    .mutation(({ ctx, input }) => ctx.rooms.edit({ id: ctx.auth.userId, login: ctx.auth.login }, input)),
  delete: chatProcedure
    .input(messageDeleteInput)
    .mutation(({ ctx, input }) => ctx.rooms.delete({ id: ctx.auth.userId, login: ctx.auth.login }, input)),
});
