import type { RawData, WebSocket } from "ws";
import { offerParsed, SUBSCRIPTION_REF_KEY } from "@anonchat/api";

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

type Op = { id?: unknown; method?: unknown; jsonrpc?: unknown; params?: { input?: unknown } };

const asOp = (v: unknown): Op | undefined => (typeof v === "object" && v !== null ? (v as Op) : undefined);
const isStop = (op: unknown) => asOp(op)?.method === "subscription.stop";
const idOf = (op: unknown) => {
  const id = asOp(op)?.id;
  return typeof id === "string" || typeof id === "number" ? id : undefined;
};

/**
 * Gives a subscription request its own id inside its input (where the subscription reads it to
 * write its frames itself; the input schema strips it). The client's own value of that key, if
 * any, is overwritten: a client cannot make a subscription write under another's id.
 */
function tagSubscription(op: unknown): boolean {
  const o = asOp(op);
  const id = idOf(op);
  if (!o || o.method !== "subscription" || id === undefined || typeof o.params !== "object" || o.params === null) return false;
  const input = o.params.input;
  if (input !== undefined && (typeof input !== "object" || input === null || Array.isArray(input))) return false;
  o.params.input = { ...(input as object | undefined), [SUBSCRIPTION_REF_KEY]: o.jsonrpc === "2.0" ? { id, jsonrpc: "2.0" } : { id } };
  return true;
}

/**
 * Frames go through this before tRPC's listeners see them (tRPC offers no hook of its own):
 *
 * - it caps the calls one frame may carry (tRPC accepts an array of any length): a longer frame
 *   goes on with its first `max` calls (and every subscription.stop, which only frees work), and
 *   each call cut off gets its own TOO_MANY_REQUESTS answer, so no client waits forever;
 * - it tags subscription requests with their ids (see tagSubscription);
 * - it counts what is refused (calls cut, frames that are no call) against the socket.
 *
 * Each frame is parsed once: tRPC's decode takes the value parsed here (offerParsed).
 */
export function gateFrames(ws: WebSocket, max: number, onRefused: (count: number) => void): void {
  const emit = ws.emit;
  ws.emit = function gated(this: WebSocket, event: string | symbol, ...args: unknown[]): boolean {
    if (event === "message") {
      let refused = 0;
      const rewritten =
        args[1] === false
          ? rewriteFrame(args[0] as RawData, max, (id) => {
              refused++;
              ws.send(tooManyFrame(id, max));
            }, () => refused++)
          : undefined;
      // A binary frame is never a call.
      if (args[1] === true) refused++;
      if (rewritten !== undefined) args[0] = rewritten;
      if (refused > 0) onRefused(refused);
    }
    return emit.call(this, event, ...args);
  } as WebSocket["emit"];
}

/** The frame to pass on instead of data, or undefined to pass data unchanged. */
function rewriteFrame(data: RawData, max: number, refuse: (id: string | number) => void, garbage: () => void): Buffer | undefined {
  if (!Buffer.isBuffer(data)) return undefined;
  const text = data.toString("utf8");
  if (text === "PING" || text === "PONG") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    garbage();
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) {
    garbage();
    return undefined;
  }
  if (!Array.isArray(parsed)) {
    if (!tagSubscription(parsed)) {
      offerParsed(text, parsed);
      return undefined;
    }
    return Buffer.from(JSON.stringify(parsed));
  }
  let changed = false;
  const kept: unknown[] = [];
  let calls = 0;
  for (const op of parsed) {
    if (isStop(op) || calls < max) {
      if (!isStop(op)) calls++;
      if (tagSubscription(op)) changed = true;
      kept.push(op);
      continue;
    }
    changed = true;
    const id = idOf(op);
    if (id !== undefined) refuse(id);
  }
  if (!changed) {
    offerParsed(text, parsed);
    return undefined;
  }
  return Buffer.from(JSON.stringify(kept));
}
