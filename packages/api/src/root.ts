import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { authRouter } from "./router/auth";
import { memberRouter } from "./router/member";
import { messageRouter } from "./router/message";
import { roomRouter } from "./router/room";
import { router } from "./trpc";

export const appRouter = router({
  auth: authRouter,
  room: roomRouter,
  message: messageRouter,
  member: memberRouter,
});

export type AppRouter = typeof appRouter;

/** What the auth role serves: the same auth procedures, nothing else. */
export const authOnlyRouter = router({ auth: authRouter });
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
