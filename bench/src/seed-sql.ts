/**
 * Stored history written straight into a halted server's database with one INSERT … SELECT
 * generate_series per room: a million messages take seconds this way, where room.send would take
 * minutes (and measure the send path instead of the history). The rows are what the server's own
 * append function writes (kind 'text', consecutive seqs, rooms.last_seq advanced), from a member.
 * The server must be stopped: PGlite allows one process on its data folder, and the server keeps
 * no copy of last_seq it would not read again at start.
 */
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import type { ServerTarget } from "./targets.js";

export interface SeedRoom {
  roomId: string;
  senderId: number;
  senderLogin: string;
}

export interface SeededRoom {
  roomId: string;
  /** The room's last seq before the seeding: a subscriber resuming from it replays all of them. */
  fromSeq: number;
  /** The room's last seq after it. */
  lastSeq: number;
}

type Query = (text: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;

async function seedWith(query: Query, rooms: SeedRoom[], perRoom: number, textBytes: number): Promise<SeededRoom[]> {
  const out: SeededRoom[] = [];
  for (const r of rooms) {
    const [row] = await query("SELECT last_seq FROM rooms WHERE id = $1", [r.roomId]);
    if (!row) throw new Error(`room ${r.roomId} not found`);
    const from = Number(row.last_seq);
    // Text: "h <seq> xxx…" padded to textBytes, so a reader can tell a row from its neighbour.
    await query(
      `INSERT INTO messages (room_id, seq, sender_id, sender_login, text, kind, created_at)
       SELECT $1, $2::int + g, $3, $4, rpad('h ' || ($2::int + g)::text || ' ', $6::int, 'x'), 'text', now()
       FROM generate_series(1, $5::int) AS g`,
      [r.roomId, from, r.senderId, r.senderLogin, perRoom, textBytes],
    );
    await query("UPDATE rooms SET last_seq = $2, last_activity_at = now() WHERE id = $1", [r.roomId, from + perRoom]);
    out.push({ roomId: r.roomId, fromSeq: from, lastSeq: from + perRoom });
  }
  await query("ANALYZE messages", []);
  return out;
}

/** Seeds `perRoom` messages into each room of a halted server (PGlite data folder or PostgreSQL database). */
export async function seedHistory(target: ServerTarget, rooms: SeedRoom[], perRoom: number, textBytes: number): Promise<SeededRoom[]> {
  if (target.databaseUrl) {
    const client = new pg.Client({ connectionString: target.databaseUrl });
    await client.connect();
    try {
      return await seedWith(async (text, params) => (await client.query(text, params)).rows as Array<Record<string, unknown>>, rooms, perRoom, textBytes);
    } finally {
      await client.end();
    }
  }
  const db = await PGlite.create(path.join(target.dataDir, "pgdata"));
  try {
    return await seedWith(async (text, params) => (await db.query<Record<string, unknown>>(text, params)).rows, rooms, perRoom, textBytes);
  } finally {
    await db.close();
  }
}
