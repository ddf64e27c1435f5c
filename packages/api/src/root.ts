import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { authRouter } from "./router/auth.js";
import { memberRouter } from "./router/member.js";
import { messageRouter } from "./router/message.js";
import { roomRouter } from "./router/room.js";
import { router } from "./trpc.js";

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
