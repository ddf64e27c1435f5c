import type { Message } from "@anonchat/shared";
import type { Ledger } from "./ledger.js";
import { sleep, trpcCall, type WireError } from "./wire.js";

/**
 * A storm of sends: several clients, each sending its messages one at a time with a clientMsgId
 * and retrying the same clientMsgId after any failure (as the web client's Retry does), every try
 * recorded in the ledger. Bounded: every message is given up after giveUpMs.
 */

export interface StormClient {
  name: string;
  token: string;
  roomId: string;
}

export interface TryRecord {
  client: string;
  clientMsgId: string;
  startedAt: number;
  endedAt: number;
}

export interface StormOptions {
  url: string;
  clients: readonly StormClient[];
  perClient: number;
  ledger: Ledger;
  /** Makes clientMsgIds unique per run. */
  tag: string;
  pauseMs?: number;
  retryDelayMs?: number;
  giveUpMs?: number;
  /** Checked before each new message: the storm stops early once it says so (a run of faults is over). */
  shouldStop?: () => boolean;
  onAck?: (t: TryRecord & { seq: number }) => void;
  onFailure?: (t: TryRecord & { error: WireError }) => void;
}

export interface StormResult {
  tries: number;
  failures: number;
  /** Failed tries by kind: HTTP status and tRPC code, or NET_<errno> without an answer. */
  errors: Record<string, number>;
  /**
   * Retried messages whose acknowledgement carried a message stored before the acknowledged try
   * began: an earlier try had committed it and its answer was lost. The server returned the stored
   * message instead of storing a second one (clientMsgId idempotency, really exercised).
   */
  storedByEarlierTry: number;
  durationMs: number;
}

export async function runStorm(opts: StormOptions): Promise<StormResult> {
  const started = Date.now();
  const result: StormResult = { tries: 0, failures: 0, errors: {}, storedByEarlierTry: 0, durationMs: 0 };
  const giveUpMs = opts.giveUpMs ?? 60_000;
  await Promise.all(
    opts.clients.map(async (c) => {
      for (let k = 0; k < opts.perClient && !opts.shouldStop?.(); k++) {
        const clientMsgId = `${opts.tag}-${c.name}-${k}`;
        const text = `${opts.tag} ${c.name} #${k}`;
        const firstTry = Date.now();
        for (let attempt = 1; ; attempt++) {
          opts.ledger.attempt({ client: c.name, roomId: c.roomId, index: k, clientMsgId, text });
          result.tries++;
          const startedAt = Date.now();
          const r = await trpcCall<Message>(opts.url, "room.send", { roomId: c.roomId, text, clientMsgId }, { token: c.token, timeoutMs: 8000 });
          const endedAt = Date.now();
          if (r.ok) {
            // Same machine, same clock (5 ms of slack for timestamp rounding).
            if (attempt > 1 && Date.parse(r.data.createdAt) < startedAt - 5) result.storedByEarlierTry++;
            opts.ledger.ack(clientMsgId, r.data.seq);
            opts.onAck?.({ client: c.name, clientMsgId, startedAt, endedAt, seq: r.data.seq });
            break;
          }
          result.failures++;
          const kind = r.status === 0 ? r.error.code : `${r.status} ${r.error.code}`;
          result.errors[kind] = (result.errors[kind] ?? 0) + 1;
          opts.onFailure?.({ client: c.name, clientMsgId, startedAt, endedAt, error: r.error });
          if (Date.now() - firstTry > giveUpMs) break;
          await sleep(opts.retryDelayMs ?? 100);
        }
        if (opts.pauseMs) await sleep(opts.pauseMs);
      }
    }),
  );
  result.durationMs = Date.now() - started;
  return result;
}
