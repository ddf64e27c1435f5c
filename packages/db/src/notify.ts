import pg from "pg";

/** A PostgreSQL channel: NOTIFY through the pool, LISTEN on a dedicated connection. */
export interface Notifier {
  /** The channel notifications go to (a transaction may NOTIFY on it itself, to send at commit). */
  readonly channel: string;
  /** Sends each payload as one notification, all in one round trip. */
  notify(payloads: string[]): Promise<void>;
  /**
   * Calls onPayload for every notification. The listening connection reconnects by itself;
   * after every (re)connect onResync runs, since notifications sent meanwhile are lost.
   */
  listen(onPayload: (payload: string) => void, onResync: () => void): Promise<void>;
  close(): Promise<void>;
}

export interface NotifierOptions {
  url: string;
  pool: pg.Pool;
  channel: string;
  onError?: (err: Error) => void;
}

export function createPgNotifier(opts: NotifierOptions): Notifier {
  if (!/^[a-z_][a-z0-9_]*$/.test(opts.channel)) throw new Error(`invalid channel name ${opts.channel}`);
  let client: pg.Client | undefined;
  let closed = false;
  let retryMs = 100;
  let timer: NodeJS.Timeout | undefined;

  async function connect(onPayload: (p: string) => void, onResync: () => void): Promise<void> {
    const c = new pg.Client({ connectionString: opts.url });
    c.on("notification", (n) => {
      if (n.channel === opts.channel && n.payload !== undefined) onPayload(n.payload);
    });
    const reconnect = (err?: Error) => {
      if (err) opts.onError?.(err);
      if (closed || client !== c) return;
      client = undefined;
      c.removeAllListeners("error");
      c.on("error", () => undefined);
      c.end().catch(() => undefined);
      timer = setTimeout(() => void connect(onPayload, onResync).catch(() => undefined), retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    };
    c.on("error", reconnect);
    c.on("end", () => reconnect());
    client = c;
    try {
      await c.connect();
      await c.query(`listen ${opts.channel}`);
    } catch (err) {
      reconnect(err as Error);
      throw err;
    }
    retryMs = 100;
    onResync();
  }

  return {
    channel: opts.channel,
    async notify(payloads) {
      if (payloads.length === 0) return;
      await opts.pool.query("select pg_notify($1, p) from unnest($2::text[]) as p", [opts.channel, payloads]);
    },
    async listen(onPayload, onResync) {
      await connect(onPayload, onResync);
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}
