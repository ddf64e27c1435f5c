import type { Encoder } from "@trpc/server/adapters/ws";
import type { StoredEvent } from "@anonchat/core";
import type { ActivityEvent, Message, RoomEvent } from "@anonchat/shared";

/**
 * A wide room sends one event to many sockets. tRPC serializes every outgoing frame on its own,
 * so by default one message is turned into JSON once per subscriber. Events made by
 * roomEventOf() are shared objects; the encoder below serializes each of them once and splices
 * the cached text into every subscriber's frame.
 */
const events = new WeakMap<object, RoomEvent>();
const activity = new WeakMap<Message, ActivityEvent>();
const serialized = new WeakMap<object, string>();

/** The one RoomEvent object for a message (the same for every subscriber in this process). */
export function roomEventOf(message: Message): RoomEvent {
  let e = events.get(message);
  if (!e) {
    e = { type: "message", message };
    events.set(message, e);
    serialized.set(e, JSON.stringify(e));
  }
  return e;
}

/** The RoomEvent for any stored event; edits and deletions are shared objects too. */
export function storedEventOf(e: StoredEvent): RoomEvent {
  if (e.kind === "message") return roomEventOf(e.message);
  let out = events.get(e as never);
  if (!out) {
    out = e.kind === "edit" ? { type: "edit", edit: e.edit } : { type: "delete", delete: e.delete };
    events.set(e as never, out);
    serialized.set(out, JSON.stringify(out));
  }
  return out;
}

/**
 * A room-list event, shared and serialized once when it carries a chat message: each of the
 * room's members with an open room.onActivity gets the same message.
 */
export function activityEventOf(e: ActivityEvent): ActivityEvent {
  if (e.type !== "message") return e;
  let out = activity.get(e.message);
  if (!out) {
    out = e;
    activity.set(e.message, out);
    serialized.set(out, JSON.stringify(out));
  }
  return out;
}

interface DataFrame {
  id: string | number | null;
  jsonrpc?: "2.0";
  result: { type: "data"; id?: string; data: { id?: string; data: unknown } | unknown };
}

function isTrackedDataFrame(v: unknown): v is DataFrame & { result: { id: string; data: { id: string; data: object } } } {
  if (typeof v !== "object" || v === null) return false;
  const r = (v as { result?: unknown }).result as { type?: unknown; id?: unknown; data?: unknown } | undefined;
  if (!r || r.type !== "data" || typeof r.id !== "string" || typeof r.data !== "object" || r.data === null) return false;
  const inner = (r.data as { data?: unknown }).data;
  return typeof inner === "object" && inner !== null;
}

function isUntrackedDataFrame(v: unknown): v is DataFrame & { result: { data: object } } {
  if (typeof v !== "object" || v === null) return false;
  const r = (v as { result?: unknown }).result as { type?: unknown; id?: unknown; data?: unknown } | undefined;
  return !!r && r.type === "data" && r.id === undefined && typeof r.data === "object" && r.data !== null;
}

/** A subscription as its client named it: the JSON-RPC id (and version, when it sent one). */
export interface SubscriptionRef {
  id: string | number;
  jsonrpc?: "2.0";
}

/**
 * Where the WebSocket's frame gate puts a subscription's own id, inside the raw input (the
 * procedure's input schema strips it): a subscription that knows its id can write its data
 * frames to the socket itself, in tRPC's exact wire format.
 */
export const SUBSCRIPTION_REF_KEY = "__anonchatSubscription";

export function subscriptionRefOf(rawInput: unknown): SubscriptionRef | undefined {
  if (typeof rawInput !== "object" || rawInput === null) return undefined;
  const ref = (rawInput as Record<string, unknown>)[SUBSCRIPTION_REF_KEY];
  if (typeof ref !== "object" || ref === null) return undefined;
  const { id, jsonrpc } = ref as { id?: unknown; jsonrpc?: unknown };
  if (typeof id !== "string" && typeof id !== "number") return undefined;
  return jsonrpc === "2.0" ? { id, jsonrpc } : { id };
}

/**
 * The data frame tRPC's adapter would send for one yielded value (tracked when trackedId is
 * given), byte for byte; shared events are serialized once for every socket that gets them.
 */
export function dataFrame(ref: SubscriptionRef, trackedId: string | undefined, data: object): string {
  const json = serialized.get(data) ?? JSON.stringify(data);
  const head = `{"id":${JSON.stringify(ref.id)},${ref.jsonrpc === undefined ? "" : `"jsonrpc":"2.0",`}`;
  if (trackedId === undefined) return `${head}"result":{"type":"data","data":${json}}}`;
  const tid = JSON.stringify(trackedId);
  return `${head}"result":{"type":"data","id":${tid},"data":{"id":${tid},"data":${json}}}}`;
}

/**
 * A frame's text and its value, parsed by the socket's frame gate just before tRPC's listener
 * gets the same text: decode takes it instead of parsing again. It is valid for that one
 * decode only (any decode clears it).
 */
let offered: { text: string; value: unknown } | undefined;

export function offerParsed(text: string, value: unknown): void {
  offered = { text, value };
}

export const roomEventEncoder: Encoder = {
  encode(frame) {
    if (isTrackedDataFrame(frame)) {
      const cached = serialized.get(frame.result.data.data);
      if (cached !== undefined) {
        const tid = JSON.stringify(frame.result.id);
        return `{"id":${JSON.stringify(frame.id)},${rpcOf(frame)}"result":{"type":"data","id":${tid},"data":{"id":${tid},"data":${cached}}}}`;
      }
    } else if (isUntrackedDataFrame(frame)) {
      const cached = serialized.get(frame.result.data);
      if (cached !== undefined) return `{"id":${JSON.stringify(frame.id)},${rpcOf(frame)}"result":{"type":"data","data":${cached}}}`;
    }
    return JSON.stringify(frame);
  },
  decode(data) {
    const o = offered;
    offered = undefined;
    if (typeof data !== "string") throw new Error("expected a text frame");
    if (o !== undefined && o.text === data) return o.value;
    return JSON.parse(data) as unknown;
  },
};

function rpcOf(frame: DataFrame): string {
  return frame.jsonrpc === undefined ? "" : `"jsonrpc":"2.0",`;
}
