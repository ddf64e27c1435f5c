import type { Socket } from "node:net";
import type { WebSocket } from "ws";

/**
 * Corks a WebSocket's TCP socket from its first frame in a turn of the event loop to the end of
 * that turn: every frame sent meanwhile (a fan-out of one message, a page of a replay) leaves in
 * one writev instead of one system call each. ws corks each frame's header and payload itself;
 * node counts nested corks, so its own uncork does not flush ours.
 */
export function corkPerTurn(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (!socket) return;
  const send = ws.send;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  ws.send = function corkedSend(this: WebSocket, ...args: Parameters<WebSocket["send"]>) {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    return (send as (...a: Parameters<WebSocket["send"]>) => void).apply(this, args);
  } as WebSocket["send"];
}
