export { appRouter, authOnlyRouter, type AppRouter, type RouterInputs, type RouterOutputs } from "./root.js";
export { toTRPCError, type CallInfo, type CallPolicy, type Context, type LiveConnection } from "./trpc.js";
export { dataFrame, offerParsed, roomEventEncoder, SUBSCRIPTION_REF_KEY, subscriptionRefOf, type SubscriptionRef } from "./encoder.js";
