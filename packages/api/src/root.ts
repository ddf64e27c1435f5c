import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { authRouter } from "./router/auth";
import { roomRouter } from "./router/room";
import { router } from "./trpc";

export const appRouter = router({
  auth: authRouter,
  room: roomRouter,
});

export type AppRouter = typeof appRouter;
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
