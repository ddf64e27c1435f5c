import type { IncomingMessage } from "node:http";
import { expect } from "vitest";
import WebSocket, { type RawData } from "ws";
import type { TestServer } from "../harness.js";

/** Helpers for the /api/v1 contract (legacy-api.md): raw fetch and raw `ws`, as an old client would. */

export const JSON_TYPE = "application/json; charset=utf-8";

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  body: unknown;
}

export interface ApiOptions {
  /** A JSON value to send, or a raw string sent as-is (for invalid JSON). */
  body?: unknown;
  raw?: string;
  token?: string;
  headers?: Record<string, string>;
}

export async function api(url: string, method: string, path: string, opts: ApiOptions = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  let payload: string | undefined;
  if (opts.raw !== undefined) payload = opts.raw;
  else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
  if (payload !== undefined) headers["Content-Type"] ??= "application/json";
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
  const res = await fetch(`${url}${path}`, { method, headers, body: payload });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

export interface Envelope {
  status: "success" | "error";
  message: string;
  data: unknown;
}

/** Asserts the exact envelope shape, HTTP status and content type; returns the envelope. */
export function expectEnvelope(res: ApiResponse, httpStatus: number, status: Envelope["status"]): Envelope {
  expect({ status: res.status, body: res.text }).toMatchObject({ status: httpStatus });
  expect(res.headers.get("content-type")).toBe(JSON_TYPE);
  const body = res.body as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(["status", "message", "data"]);
  expect(body.status).toBe(status);
  expect(typeof body.message).toBe("string");
  expect((body.message as string).length).toBeGreaterThan(0);
  return body as unknown as Envelope;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
}

export function expectTokenPair(env: Envelope): TokenPair {
  const data = env.data as Record<string, unknown>;
  expect(Object.keys(data).sort()).toEqual(["access_token", "refresh_token"]);
  expect(typeof data.access_token).toBe("string");
  expect(typeof data.refresh_token).toBe("string");
  return data as unknown as TokenPair;
}

let seq = 0;
/** A unique, valid login (4 to 32 of [A-Za-z0-9_-]). */
export function uniqueLogin(prefix = "u"): string {
  seq++;
  return `${prefix}${process.pid % 10000}_${seq}_${Math.floor(Math.random() * 1e6)}`.slice(0, 32);
}

export interface LegacyUser extends TokenPair {
  login: string;
  email: string;
  password: string;
}

/** Registers through POST /api/v1/auth/register, as the original web client does. */
export async function registerLegacy(url: string, prefix = "u", headers: Record<string, string> = {}): Promise<LegacyUser> {
  const login = uniqueLogin(prefix);
  const email = `${login}@example.test`;
  const password = `pw-${login}-Secret!`;
  const res = await api(url, "POST", "/api/v1/auth/register", { body: { login, email, password }, headers });
  const pair = expectTokenPair(expectEnvelope(res, 200, "success"));
  return { login, email, password, ...pair };
}

export async function createRoomLegacy(url: string, token: string, maxUser = 10, name = "room"): Promise<string> {
  const res = await api(url, "POST", "/api/v1/rooms/create", { token, body: { name, max_user: maxUser } });
  const data = expectEnvelope(res, 201, "success").data as { room_id: string };
  return data.room_id;
}

/** The frame the original server sent, built with the contract's key order. */
export function legacyFrame(clientId: number, clientName: string, roomId: string, text: string, encoding: "base64" | "bytes" = "base64"): string {
  const bytes = Buffer.from(text, "utf8");
  return JSON.stringify({
    client_id: clientId,
    client_name: clientName,
    room_id: roomId,
    message: encoding === "base64" ? bytes.toString("base64") : Array.from(bytes),
  });
}

/** Decodes a frame's message (base64 string or byte array) back to text. */
export function frameText(frame: string): string {
  const m = (JSON.parse(frame) as { message: unknown }).message;
  if (typeof m === "string") return Buffer.from(m, "base64").toString("utf8");
  return Buffer.from(m as number[]).toString("utf8");
}

export interface Closed {
  code: number;
  reason: string;
}

/** A raw `ws` client of /api/v1/rooms/ws that records every text frame and the close. */
export class LegacySocket {
  readonly frames: string[] = [];
  closed: Closed | undefined;
  /** Set when the upgrade was refused (no 101). */
  refusedStatus: number | undefined;
  readonly opened: Promise<void>;
  private readonly done: Promise<Closed>;

  constructor(
    readonly ws: WebSocket,
  ) {
    ws.on("message", (data: RawData, isBinary: boolean) => {
      this.frames.push(isBinary ? `<binary ${String(data)}>` : String(data));
    });
    this.done = new Promise((resolve) => {
      ws.on("close", (code: number, reason: Buffer) => {
        this.closed = { code, reason: reason.toString("utf8") };
        resolve(this.closed);
      });
    });
    this.opened = new Promise((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("unexpected-response", (_req, res: IncomingMessage) => {
        this.refusedStatus = res.statusCode;
        res.resume();
        reject(new Error(`upgrade refused with ${res.statusCode}`));
        ws.terminate();
      });
      ws.once("error", (err) => reject(err));
    });
    this.opened.catch(() => undefined);
  }

  send(data: string | Buffer): void {
    this.ws.send(data);
  }

  async waitFrames(n: number, timeoutMs = 30_000): Promise<string[]> {
    const start = Date.now();
    while (this.frames.length < n) {
      if (Date.now() - start > timeoutMs) {
        throw new Error(`expected ${n} frames, got ${this.frames.length}: ${JSON.stringify(this.frames)}`);
      }
      await sleep(10);
    }
    return this.frames.slice(0, n);
  }

  async waitClose(timeoutMs = 30_000): Promise<Closed> {
    return Promise.race([
      this.done,
      sleep(timeoutMs).then((): Closed => {
        throw new Error(`socket not closed within ${timeoutMs} ms; frames: ${JSON.stringify(this.frames)}`);
      }),
    ]);
  }

  close(): Promise<Closed> {
    if (!this.closed) this.ws.close(1000);
    return this.waitClose();
  }
}

export function legacySocketUrl(wsUrl: string, roomId: string, token: string): string {
  return `${wsUrl}/api/v1/rooms/ws?room=${encodeURIComponent(roomId)}&token=${encodeURIComponent(token)}`;
}

/** Connects without waiting for anything: for sockets the server is expected to refuse or close. */
export function connectLegacy(wsUrl: string, roomId: string, token: string, headers: Record<string, string> = {}): LegacySocket {
  return new LegacySocket(new WebSocket(legacySocketUrl(wsUrl, roomId, token), { headers }));
}

/**
 * Connects and waits until the server has joined the user and attached the socket to the room's
 * stream. The old protocol has no "ready" frame, so this watches the server's live-subscriber
 * count (an observation of the real server, not a stand-in for it).
 */
export async function openLegacy(srv: TestServer, roomId: string, token: string): Promise<LegacySocket> {
  const before = await quiescentSubscriberCount(srv);
  const sock = connectLegacy(srv.wsUrl, roomId, token);
  await sock.opened;
  const start = Date.now();
  while (subscriberCount(srv) <= before) {
    if (sock.closed) throw new Error(`legacy socket closed: ${JSON.stringify(sock.closed)} ${JSON.stringify(sock.frames)}`);
    if (Date.now() - start > 5000) throw new Error("legacy socket never attached to the room stream");
    await sleep(10);
  }
  return sock;
}

/** The live-subscriber count once sockets closed earlier have finished detaching. */
async function quiescentSubscriberCount(srv: TestServer): Promise<number> {
  let last = subscriberCount(srv);
  for (let stable = 0; stable < 3; ) {
    await sleep(20);
    const now = subscriberCount(srv);
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  return last;
}

/** Live subscribers in the server's room hub (all-in-one and chat roles have one). */
function subscriberCount(srv: TestServer): number {
  const hub = srv.server.services.hub;
  if (!hub) throw new Error("this server has no room hub");
  return hub.subscriberCount();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls an async condition until it holds; throws with label after timeoutMs. */
export async function eventually(cond: () => Promise<boolean>, timeoutMs = 30_000, label = "condition"): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${label}`);
    await sleep(25);
  }
}

/** The user's numeric id, through GET /api/v1/auth/validate. */
export async function userIdOf(url: string, accessToken: string): Promise<number> {
  const res = await api(url, "GET", "/api/v1/auth/validate", { token: accessToken });
  const data = expectEnvelope(res, 200, "success").data as { id: number };
  return data.id;
}

/**
 * Runs subscribe() and waits until the server has attached one more live subscriber (a tRPC
 * room.onMessage stream), so messages sent afterwards are certain to reach it.
 */
export async function attachSubscriber<T>(srv: TestServer, subscribe: () => T): Promise<T> {
  const before = await quiescentSubscriberCount(srv);
  const sub = subscribe();
  const start = Date.now();
  while (subscriberCount(srv) <= before) {
    if (Date.now() - start > 5000) throw new Error("subscription never attached to the room stream");
    await sleep(10);
  }
  return sub;
}
