import type { RawData, WebSocket } from "ws";
import { SUBSCRIPTION_REF_KEY } from "@anonchat/api";

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
 * - it tags subscription requests with their ids (see tagSubscription).
 *
 * Anything else passes untouched, unparsed: only arrays and frames naming a subscription are read.
 */
export function gateFrames(ws: WebSocket, max: number): void {
  const emit = ws.emit;
  ws.emit = function gated(this: WebSocket, event: string | symbol, ...args: unknown[]): boolean {
    if (event === "message" && args[1] === false) {
      const rewritten = rewriteFrame(args[0] as RawData, max, (id) => ws.send(tooManyFrame(id, max)));
      if (rewritten !== undefined) args[0] = rewritten;
    }
    return emit.call(this, event, ...args);
  } as WebSocket["emit"];
}

const SUBSCRIPTION = Buffer.from('"subscription"');

/** The frame to pass on instead of data, or undefined to pass data unchanged. */
function rewriteFrame(data: RawData, max: number, refuse: (id: string | number) => void): Buffer | undefined {
  if (!Buffer.isBuffer(data)) return undefined;
  let i = 0;
  while (i < data.length && (data[i] === 0x20 || data[i] === 0x0a || data[i] === 0x0d || data[i] === 0x09)) i++;
  const isArray = data[i] === 0x5b;
  if (!isArray && data.indexOf(SUBSCRIPTION) === -1) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString("utf8"));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return tagSubscription(parsed) ? Buffer.from(JSON.stringify(parsed)) : undefined;
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
  return changed ? Buffer.from(JSON.stringify(kept)) : undefined;
}
