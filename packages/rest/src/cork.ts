import type { Socket } from "node:net";
import type { WebSocket } from "ws";

/**
 * Corks a WebSocket's TCP socket from its first frame in a turn of the event loop to the end of
 * that turn: every frame sent meanwhile (a fan-out of one message, a page of a replay) leaves in
 * one writev instead of one system call each. ws corks each frame's header and payload itself;
 * node counts nested corks, so its own uncork does not flush ours.
 */
const backlogs = new WeakMap<WebSocket, () => number>();

/**
 * Bytes waiting for a slow reader: what was still buffered when this turn's frames began (those
 * are only corked, not stuck, and leave at the end of the turn). Backpressure bounds use this, so
 * a burst within one turn does not count as a slow reader; a real one shows by the next turn.
 */
export function backlog(ws: WebSocket): number {
  return backlogs.get(ws)?.() ?? ws.bufferedAmount;
}

export function corkPerTurn(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (!socket) return;
  const send = ws.send;
  let corked = false;
  let before = 0;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  backlogs.set(ws, () => (corked ? before : ws.bufferedAmount));
  ws.send = function corkedSend(this: WebSocket, ...args: Parameters<WebSocket["send"]>) {
    if (!corked && !socket.destroyed) {
      before = ws.bufferedAmount;
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    return (send as (...a: Parameters<WebSocket["send"]>) => void).apply(this, args);
  } as WebSocket["send"];
}
