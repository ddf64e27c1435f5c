import { loginInput, logoutInput, refreshInput, registerInput } from "@anonchat/shared";
import { protectedProcedure, publicProcedure, router } from "../trpc.js";

export const authRouter = router({
  register: publicProcedure
    .input(registerInput)
    .mutation(({ ctx, input }) => ctx.services.auth.register(input, ctx.clientIp)),
  login: publicProcedure
    .input(loginInput)
    .mutation(({ ctx, input }) => ctx.services.auth.login(input, ctx.clientIp)),
  refresh: publicProcedure
    .input(refreshInput)
    .mutation(({ ctx, input }) => ctx.services.auth.refresh(input.refreshToken)),
  logout: publicProcedure
    .input(logoutInput)
    .mutation(({ ctx, input }) => ctx.services.auth.logout(input.refreshToken)),
  me: protectedProcedure.query(({ ctx }) => ctx.services.auth.me(ctx.auth.userId)),
});
