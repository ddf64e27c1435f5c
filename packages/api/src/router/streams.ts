import { toTRPCError, type Context } from "../trpc";

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
 * Errors inside a generator bypass tRPC middleware: map them to the contract's codes here, and
 * log what is not the client's fault.
 */
export async function* withMappedErrors<T>(
  ctx: Pick<Context, "logError">,
  name: string,
  body: () => AsyncGenerator<T>,
): AsyncGenerator<T> {
  try {
    yield* body();
  } catch (err) {
    const mapped = toTRPCError(err);
    if (mapped.code === "INTERNAL_SERVER_ERROR") ctx.logError(err, name);
    throw mapped;
  }
}
