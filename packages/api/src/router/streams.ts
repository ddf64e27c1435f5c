import { toTRPCError, type Context } from "../trpc.js";

/** Backpressure and cancellation shared by every subscription. */
export function streamOptions(ctx: Pick<Context, "connection">, signal: AbortSignal | undefined) {
  const connection = ctx.connection;
  return {
    ...(signal ? { signal } : {}),
    ...(connection
      ? {
          isBackedUp: () => connection.isBackedUp(),
          onOverflow: () => connection.drop(4008, "slow consumer"),
        }
      : {}),
  };
}

/**
 * A subscription's body, holding one of the socket's subscription places while it lives.
 * Errors inside a generator bypass tRPC middleware: map them to the contract's codes here, and
 * log what is not the client's fault.
 */
export async function* liveStream<T>(
  ctx: Pick<Context, "logError" | "connection">,
  name: string,
  body: () => AsyncGenerator<T>,
): AsyncGenerator<T> {
  let release: (() => void) | undefined;
  try {
    release = ctx.connection?.openSubscription();
    yield* body();
  } catch (err) {
    const mapped = toTRPCError(err);
    if (mapped.code === "INTERNAL_SERVER_ERROR") ctx.logError(err, name);
    throw mapped;
  } finally {
    release?.();
  }
}
