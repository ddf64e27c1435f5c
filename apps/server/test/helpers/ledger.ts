/**
 * A send ledger in the style of Jepsen's queue checker: every message a client tried to send, what
 * the server acknowledged, and, at the end, what the history holds. No vitest import: the fault
 * campaign script uses it outside the test runner.
 *
 * Terms (per run):
 * - attempted: distinct messages a client tried to send (one clientMsgId each, however many tries)
 * - acknowledged: the server answered with the stored message (possibly after retries)
 * - lost: acknowledged but absent from history
 * - duplicated: stored more than once (one clientMsgId, two seqs)
 * - unexpected: in history but never attempted (or with another text than attempted)
 * - recovered: never acknowledged (the answer was lost in the fault) but stored once: allowed
 * - unacknowledged: never acknowledged and not stored: allowed (the client gave up)
 * - orderViolations: a room's seqs not 1, 2, 3, ... in history order, a client's messages out of its
 *   send order, or an acknowledgement whose seq differs from the stored one
 *
 * Membership items (a join, a leave: kind other than "text") hold seqs in the same order but are
 * not sends: they count for the 1, 2, 3, ... order and are otherwise left out.
 */

export interface StoredMessage {
  roomId: string;
  seq: number;
  senderId: number;
  text: string;
  clientMsgId: string | null;
  /** "text" for a chat message; absent from servers before membership items existed. */
  kind?: string;
}

interface Op {
  client: string;
  roomId: string;
  /** The client's send order: op k is sent only after op k-1 was acknowledged (or given up). */
  index: number;
  clientMsgId: string;
  text: string;
  tries: number;
  ackSeq: number | undefined;
}

export interface LedgerReport {
  attempted: number;
  acknowledged: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  recovered: number;
  unacknowledged: number;
  orderViolations: number;
  /** Messages that needed more than one try, and of those, how many are stored exactly once. */
  retried: number;
  retriedStoredOnce: number;
  /** Stored messages checked, over all rooms. */
  stored: number;
  /** The first problems found, for the failure message. */
  problems: string[];
}

export class Ledger {
  private readonly ops = new Map<string, Op>();

  attempt(op: { client: string; roomId: string; index: number; clientMsgId: string; text: string }): void {
    const known = this.ops.get(op.clientMsgId);
    if (known) {
      known.tries++;
      return;
    }
    this.ops.set(op.clientMsgId, { ...op, tries: 1, ackSeq: undefined });
  }

  ack(clientMsgId: string, seq: number): void {
    const op = this.ops.get(clientMsgId);
    if (!op) throw new Error(`ack for a message never attempted: ${clientMsgId}`);
    if (op.ackSeq !== undefined && op.ackSeq !== seq) {
      // Two different acknowledgements for one message: remembered as a problem by check().
      op.ackSeq = -Math.abs(op.ackSeq);
      return;
    }
    op.ackSeq = seq;
  }

  get attempted(): number {
    return this.ops.size;
  }

  get acknowledged(): number {
    return [...this.ops.values()].filter((o) => o.ackSeq !== undefined).length;
  }

  /** Checks the history of every room the ledger's messages went to (each list in history order). */
  check(historyByRoom: ReadonlyMap<string, readonly StoredMessage[]>): LedgerReport {
    const problems: string[] = [];
    const note = (p: string) => {
      if (problems.length < 20) problems.push(p);
    };
    let orderViolations = 0;
    let unexpected = 0;
    let stored = 0;
    const seen = new Map<string, StoredMessage[]>();

    for (const [roomId, history] of historyByRoom) {
      history.forEach((m, i) => {
        if (m.seq !== i + 1) {
          orderViolations++;
          note(`room ${roomId}: position ${i} holds seq ${m.seq} (expected ${i + 1})`);
        }
        if (m.kind !== undefined && m.kind !== "text") return;
        stored++;
        if (m.roomId !== roomId) {
          unexpected++;
          note(`room ${roomId}: a message of room ${m.roomId} in its history`);
        }
        const op = m.clientMsgId === null ? undefined : this.ops.get(m.clientMsgId);
        if (!op || op.roomId !== roomId || op.text !== m.text) {
          unexpected++;
          note(`room ${roomId}: seq ${m.seq} (${JSON.stringify(m.clientMsgId)}) was never attempted there with that text`);
          return;
        }
        const list = seen.get(op.clientMsgId) ?? [];
        list.push(m);
        seen.set(op.clientMsgId, list);
      });
    }

    let lost = 0;
    let duplicated = 0;
    let recovered = 0;
    let unacknowledged = 0;
    let retried = 0;
    let retriedStoredOnce = 0;
    const byClient = new Map<string, Array<{ index: number; roomId: string; seq: number }>>();
    for (const op of this.ops.values()) {
      const copies = seen.get(op.clientMsgId) ?? [];
      if (copies.length > 1) {
        duplicated += copies.length - 1;
        note(`${op.clientMsgId} stored ${copies.length} times (seqs ${copies.map((c) => c.seq).join(", ")})`);
      }
      if (op.tries > 1) {
        retried++;
        if (copies.length === 1) retriedStoredOnce++;
      }
      if (op.ackSeq !== undefined) {
        if (op.ackSeq < 0) {
          orderViolations++;
          note(`${op.clientMsgId} acknowledged twice with different seqs`);
        }
        if (copies.length === 0) {
          lost++;
          note(`${op.clientMsgId} acknowledged as seq ${op.ackSeq} but not in history`);
        } else if (copies[0]?.seq !== op.ackSeq) {
          orderViolations++;
          note(`${op.clientMsgId} acknowledged as seq ${op.ackSeq} but stored as seq ${copies[0]?.seq}`);
        }
      } else if (copies.length > 0) {
        recovered++;
      } else {
        unacknowledged++;
      }
      const first = copies[0];
      if (first) {
        const list = byClient.get(op.client) ?? [];
        list.push({ index: op.index, roomId: op.roomId, seq: first.seq });
        byClient.set(op.client, list);
      }
    }
    // A client sends one message at a time, so within a room its messages appear in its send order.
    for (const [client, list] of byClient) {
      const perRoom = new Map<string, typeof list>();
      for (const e of list) perRoom.set(e.roomId, [...(perRoom.get(e.roomId) ?? []), e]);
      for (const [roomId, entries] of perRoom) {
        entries.sort((a, b) => a.seq - b.seq);
        for (let i = 1; i < entries.length; i++) {
          const prev = entries[i - 1] as (typeof entries)[number];
          const cur = entries[i] as (typeof entries)[number];
          if (cur.index <= prev.index) {
            orderViolations++;
            note(`client ${client} in room ${roomId}: message #${cur.index} (seq ${cur.seq}) after #${prev.index} (seq ${prev.seq})`);
          }
        }
      }
    }

    return {
      attempted: this.ops.size,
      acknowledged: this.acknowledged,
      lost,
      duplicated,
      unexpected,
      recovered,
      unacknowledged,
      orderViolations,
      retried,
      retriedStoredOnce,
      stored,
      problems,
    };
  }
}

/** True when the run kept every promise: nothing lost, doubled, invented or reordered. */
export function ledgerHolds(r: LedgerReport): boolean {
  return r.lost === 0 && r.duplicated === 0 && r.unexpected === 0 && r.orderViolations === 0;
}

/** One line for logs and RELIABILITY.md. */
export function formatLedger(label: string, r: LedgerReport): string {
  return (
    `${label}: attempted ${r.attempted}, acknowledged ${r.acknowledged}, lost ${r.lost}, duplicated ${r.duplicated}, ` +
    `unexpected ${r.unexpected}, order violations ${r.orderViolations}, recovered ${r.recovered}, ` +
    `unacknowledged ${r.unacknowledged}, retried ${r.retried} (stored once ${r.retriedStoredOnce}), stored ${r.stored}`
  );
}

/** Adds reports up (for a campaign of several runs). */
export function sumLedgers(reports: readonly LedgerReport[]): LedgerReport {
  const total: LedgerReport = {
    attempted: 0,
    acknowledged: 0,
    lost: 0,
    duplicated: 0,
    unexpected: 0,
    recovered: 0,
    unacknowledged: 0,
    orderViolations: 0,
    retried: 0,
    retriedStoredOnce: 0,
    stored: 0,
    problems: [],
  };
  for (const r of reports) {
    for (const k of Object.keys(total) as Array<keyof LedgerReport>) {
      if (k === "problems") total.problems.push(...r.problems.slice(0, 5));
      else total[k] += r[k];
    }
  }
  return total;
}
