import type { RawData, WebSocket } from "ws";

/** A tRPC error frame of the shape tRPC's own errors have, so clients surface code and message. */
function tooManyFrame(id: string | number, max: number): string {
  return JSON.stringify({
    id,
    error: {
      message: `too many calls in one frame (at most ${max})`,
      code: -32029,
      data: { code: "TOO_MANY_REQUESTS", httpStatus: 429 },
    },
  });
}

const isStop = (op: unknown) => typeof op === "object" && op !== null && (op as { method?: unknown }).method === "subscription.stop";
const idOf = (op: unknown) => {
  const id = typeof op === "object" && op !== null ? (op as { id?: unknown }).id : undefined;
  return typeof id === "string" || typeof id === "number" ? id : undefined;
};

/**
 * Caps the calls one WebSocket frame may carry (tRPC accepts an array of any length in one
 * frame). Frames go through this before tRPC's listeners see them: a frame within the cap passes
 * untouched; a longer one goes on with its first `max` calls (and every subscription.stop, which
 * only frees work), and each call cut off gets its own TOO_MANY_REQUESTS answer, so no client
 * waits for an answer that never comes.
 */
export function capCallsPerFrame(ws: WebSocket, max: number): void {
  const emit = ws.emit;
  ws.emit = function gated(this: WebSocket, event: string | symbol, ...args: unknown[]): boolean {
    if (event === "message" && args[1] === false) {
      const capped = capFrame(args[0] as RawData, max, (id) => ws.send(tooManyFrame(id, max)));
      if (capped !== undefined) args[0] = capped;
    }
    return emit.call(this, event, ...args);
  } as WebSocket["emit"];
}

/** The frame to pass on instead of data, or undefined to pass data unchanged. */
function capFrame(data: RawData, max: number, refuse: (id: string | number) => void): Buffer | undefined {
  if (!Buffer.isBuffer(data)) return undefined;
  // Only an array can hold more than one call; anything else is tRPC's to parse and judge.
  let i = 0;
  while (i < data.length && (data[i] === 0x20 || data[i] === 0x0a || data[i] === 0x0d || data[i] === 0x09)) i++;
  if (data[i] !== 0x5b) return undefined;
  let ops: unknown;
  try {
    ops = JSON.parse(data.toString("utf8"));
  } catch {
    return undefined;
  }
  if (!Array.isArray(ops) || ops.length <= max) return undefined;
  const kept: unknown[] = [];
  let calls = 0;
  for (const op of ops) {
    if (isStop(op) || calls < max) {
      kept.push(op);
      if (!isStop(op)) calls++;
      continue;
    }
    const id = idOf(op);
    if (id !== undefined) refuse(id);
  }
  return Buffer.from(JSON.stringify(kept));
}
