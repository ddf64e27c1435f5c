export { appRouter, authOnlyRouter, type AppRouter, type RouterInputs, type RouterOutputs } from "./root";
export { toTRPCError, type CallInfo, type CallPolicy, type Context, type LiveConnection } from "./trpc";
export { dataFrame, offerParsed, roomEventEncoder, SUBSCRIPTION_REF_KEY, subscriptionRefOf, type SubscriptionRef } from "./encoder";
