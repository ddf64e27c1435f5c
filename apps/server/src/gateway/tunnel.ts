import type { Duplex } from "node:stream";

/**
 * Where the server→client byte stream of a piped WebSocket stands (RFC 6455 §5.2): inside a
 * frame's header, inside its payload, or between frames; and whether a fragmented data message
 * is in progress (no other data frame may start before its last fragment).
 */
export class FrameBoundaries {
  private header = Buffer.alloc(0);
  private need = 2;
  private remaining = 0;
  private fragmented = false;
  private currentOpcode = 0;
  private currentFin = true;

  /** Between two frames, and no fragmented message open: a whole frame may be written here. */
  atBoundary(): boolean {
    return this.header.length === 0 && this.remaining === 0 && !this.fragmented;
  }

  /**
   * Consumes `chunk` up to the first point where atBoundary() holds (from `from` on), and returns
   * that offset; chunk.length when no such point is in it.
   */
  advance(chunk: Buffer, from = 0): number {
    let pos = from;
    while (pos < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - pos);
        pos += n;
        this.remaining -= n;
        if (this.remaining === 0) {
          this.frameEnded();
          if (this.atBoundary()) return pos;
        }
        continue;
      }
      // In a header: take what it still needs.
      const take = Math.min(this.need - this.header.length, chunk.length - pos);
      this.header = Buffer.concat([this.header, chunk.subarray(pos, pos + take)]);
      pos += take;
      if (this.header.length < this.need) continue;
      if (this.need === 2) {
        const len7 = (this.header[1] as number) & 0x7f;
        const masked = ((this.header[1] as number) & 0x80) !== 0;
        this.need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
        if (this.header.length < this.need) continue;
      }
      const b0 = this.header[0] as number;
      const len7 = (this.header[1] as number) & 0x7f;
      const length =
        len7 === 126 ? this.header.readUInt16BE(2) : len7 === 127 ? Number(this.header.readBigUInt64BE(2)) : len7;
      this.currentOpcode = b0 & 0x0f;
      this.currentFin = (b0 & 0x80) !== 0;
      this.header = Buffer.alloc(0);
      this.need = 2;
      this.remaining = length;
      if (length === 0) {
        this.frameEnded();
        if (this.atBoundary()) return pos;
      }
    }
    return pos;
  }

  /** Consumes the whole chunk. */
  consume(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) pos = this.advance(chunk, pos);
  }

  private frameEnded() {
    const op = this.currentOpcode;
    if (op === 0x1 || op === 0x2) this.fragmented = !this.currentFin;
    else if (op === 0x0 && this.currentFin) this.fragmented = false;
  }
}

/** An unmasked (server→client) frame: FIN set, the given opcode and payload (< 64 KiB). */
export function serverFrame(opcode: number, payload: Buffer): Buffer {
  const head =
    payload.length < 126
      ? Buffer.from([0x80 | opcode, payload.length])
      : Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([head, payload]);
}

export function closeFrame(code: number, reason: string): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return serverFrame(0x8, payload);
}

export const textFrame = (text: string) => serverFrame(0x1, Buffer.from(text));

/**
 * A WebSocket piped between a client and a replica, bytes passed on unchanged, with the frame
 * boundaries of the server→client direction tracked so the gateway can put frames of its own
 * between the replica's (the reconnect notice and a close frame when it shuts down) without
 * corrupting a frame in flight.
 */
export class Tunnel {
  private readonly frames = new FrameBoundaries();
  /** Frames to put in at the next boundary, and whether to stop the tunnel after them. */
  private pending: { frames: Buffer[]; end: boolean }[] = [];
  private ended = false;
  private closed = false;

  constructor(
    private readonly client: Duplex,
    private readonly upstream: Duplex,
    private readonly onClose: () => void,
  ) {
    upstream.on("data", (chunk: Buffer) => this.fromUpstream(chunk));
    client.on("drain", () => upstream.resume());
    client.pipe(upstream);
    const close = () => this.destroy();
    client.on("error", close);
    client.on("close", close);
    // Once the gateway has ended the tunnel it drops the replica itself; the client side then
    // still has the close handshake to finish.
    const upstreamGone = () => {
      if (!this.ended) this.destroy();
    };
    upstream.on("error", upstreamGone);
    upstream.on("close", upstreamGone);
  }

  private fromUpstream(chunk: Buffer) {
    if (this.ended) return;
    let pos = 0;
    while (this.pending.length > 0) {
      if (!this.frames.atBoundary()) {
        const cut = this.frames.advance(chunk, pos);
        this.write(chunk.subarray(pos, cut));
        pos = cut;
        if (!this.frames.atBoundary()) return;
      }
      this.flushPending();
      if (this.ended) return;
    }
    if (pos < chunk.length) {
      const rest = chunk.subarray(pos);
      this.frames.consume(rest);
      this.write(rest);
    }
  }

  private write(bytes: Buffer) {
    if (bytes.length > 0 && !this.client.write(bytes)) this.upstream.pause();
  }

  private flushPending() {
    const batch = this.pending;
    this.pending = [];
    for (const item of batch) {
      for (const f of item.frames) this.client.write(f);
      if (item.end) {
        this.ended = true;
        // The client answers the close frame; the replica is dropped (it sees the socket end).
        this.client.unpipe(this.upstream);
        this.upstream.destroy();
        this.client.end();
        // A client that never answers the close is not waited for.
        setTimeout(() => this.client.destroy(), 2000).unref();
        return;
      }
    }
  }

  /**
   * Writes the frames to the client at the next frame boundary (now, when the stream is between
   * frames), and with `end` stops the tunnel after them.
   */
  inject(frames: Buffer[], end: boolean) {
    if (this.ended || this.closed) return;
    this.pending.push({ frames, end });
    if (this.frames.atBoundary()) this.flushPending();
  }

  destroy() {
    if (this.closed) return;
    this.closed = true;
    this.upstream.destroy();
    this.client.destroy();
    this.onClose();
  }
}
