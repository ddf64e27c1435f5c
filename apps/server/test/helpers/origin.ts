import http from "node:http";
import { expect } from "vitest";
import WebSocket from "ws";

/** Requests with exactly the headers a browser (or an attacker's page) would send, Host included. */

/** The status of a request sent with these headers (fetch would not send a chosen Host). */
export function rawStatus(url: string, method: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Resolves with the HTTP status of a refused upgrade, or 101 when the socket opened. */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once("open", () => {
      ws.terminate();
      resolve(101);
    });
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

/**
 * A page on a name the attacker controls, re-pointed at the server by DNS rebinding: its requests
 * carry that name both as Origin and as Host. Every route and both socket paths must refuse them.
 */
export async function expectRebindingRefused(url: string, name = "evil.example"): Promise<void> {
  const port = new URL(url).port;
  const wsUrl = url.replace(/^http/, "ws");
  for (const host of [name, `${name}:${port}`]) {
    const headers = { Origin: `http://${host}`, Host: host };
    const label = JSON.stringify(headers);
    expect(await rawStatus(url, "GET", "/api/v1/status", headers), label).toBe(403);
    expect(await rawStatus(url, "GET", "/trpc/auth.me", headers), label).toBe(403);
    expect(await rawStatus(url, "GET", "/trpc/room.list", headers), label).toBe(403);
    expect(await rawStatus(url, "POST", "/trpc/auth.login", headers), label).toBe(403);
    expect(await rawStatus(url, "GET", "/", headers), label).toBe(403);
    expect(await upgradeStatus(`${wsUrl}/trpc`, headers), label).toBe(403);
    expect(await upgradeStatus(`${wsUrl}/api/v1/rooms/ws?room=AAAAAAAAAAAAAAAA&token=x`, headers), label).toBe(403);
  }
}
