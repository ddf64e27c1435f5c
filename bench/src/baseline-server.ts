/**
 * The physical limit of the machine for this workload: a bare `ws` broadcast server with no
 * auth and no storage. It speaks the same frames as the real server's tRPC socket, so the load
 * generator, the message size and the frame shape are identical:
 *
 *   → {"id":1,"method":"subscription","params":{"path":"room.onMessage","input":{"roomId":"…"}}}
 *   ← {"id":1,"result":{"type":"started"}}
 *   → {"id":N,"method":"mutation","params":{"path":"room.send","input":{"roomId":"…","text":"…","clientMsgId":"…"}}}
 *   ← {"id":N,"result":{"type":"data","data":{…message…}}}            (to the publisher)
 *   ← {"id":1,"result":{"type":"data","id":"<seq>","data":{"id":"<seq>","data":{"type":"message","message":{…}}}}}
 *                                                                     (to every subscriber of the room)
 *
 * Each message is serialized once and the same string is sent to every subscriber. With
 * BASELINE_CORK=1 the writes to each socket are corked until the end of the tick (one syscall
 * per socket per tick instead of one per message).
 *
 * Usage: PORT=0 node --import tsx bench/src/baseline-server.ts   (prints "listening <port>")
 */
import http from "node:http";
import type { Socket } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

const port = Number(process.env.PORT ?? 0);
const cork = process.env.BASELINE_CORK === "1";

interface Room {
  seq: number;
  subs: Set<WebSocket>;
}
const rooms = new Map<string, Room>();
const roomOf = (id: string): Room => {
  let r = rooms.get(id);
  if (!r) rooms.set(id, (r = { seq: 0, subs: new Set() }));
  return r;
};

const corked = new Set<Socket>();
let uncorkScheduled = false;
function uncorkAll() {
  uncorkScheduled = false;
  for (const s of corked) s.uncork();
  corked.clear();
}
function rawSocket(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket;
}
function sendTo(ws: WebSocket, frame: string) {
  if (cork) {
    const s = rawSocket(ws);
    if (!corked.has(s)) {
      s.cork();
      corked.add(s);
      if (!uncorkScheduled) {
        uncorkScheduled = true;
        process.nextTick(uncorkAll);
      }
    }
  }
  ws.send(frame);
}

interface Frame {
  id?: number | string;
  method?: string;
  params?: { path?: string; input?: { roomId?: string; text?: string; clientMsgId?: string } };
}

const server = http.createServer((_req, res) => {
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end('{"status":"ok"}');
});
const wss = new WebSocketServer({ server, path: "/ws", maxPayload: 65536 });

wss.on("connection", (ws) => {
  const joined = new Set<Room>();
  ws.on("error", () => ws.terminate());
  ws.on("close", () => {
    for (const r of joined) r.subs.delete(ws);
  });
  ws.on("message", (data) => {
    let msg: Frame;
    try {
      msg = JSON.parse(data.toString()) as Frame;
    } catch {
      return;
    }
    const roomId = msg.params?.input?.roomId;
    if (typeof roomId !== "string") return;
    if (msg.method === "subscription") {
      const r = roomOf(roomId);
      r.subs.add(ws);
      joined.add(r);
      ws.send(JSON.stringify({ id: msg.id, result: { type: "started" } }));
      return;
    }
    if (msg.method === "mutation") {
      const r = roomOf(roomId);
      const seq = ++r.seq;
      const message = {
        roomId,
        seq,
        senderId: 1,
        senderLogin: "baseline",
        text: msg.params?.input?.text ?? "",
        createdAt: new Date().toISOString(),
        clientMsgId: msg.params?.input?.clientMsgId ?? null,
      };
      const id = String(seq);
      const frame = JSON.stringify({ id: 1, result: { type: "data", id, data: { id, data: { type: "message", message } } } });
      for (const sub of r.subs) sendTo(sub, frame);
      ws.send(JSON.stringify({ id: msg.id, result: { type: "data", data: message } }));
    }
  });
});

server.listen(port, "127.0.0.1", () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === "object" && addr ? addr.port : port}\n`);
});
const stop = () => {
  for (const ws of wss.clients) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
