/**
 * Group commit: while one batch is being written, new items wait and then go together in the
 * next one; a busy system pays one commit per batch instead of one per item.
 *
 * A batch starts on the event loop's next turn after its first item, never in the same turn:
 * requests that arrived together get read in that turn and go in together. (An embedded
 * database can finish a whole transaction without a turn of the event loop, so starting at
 * once meant a batch of one item every time, however busy the system.)
 */
export class GroupCommit<I, R> {
  private queue: Array<{ item: I; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly write: (items: I[]) => Promise<R[]>,
    private readonly maxBatch: number,
    /** Errors after which the items are retried one by one (a bad item must not fail its neighbours). */
    private readonly retrySingly: (err: unknown) => boolean = () => true,
    /** Batches written at once (each is its own transaction; the writer must allow that). */
    private readonly maxInFlight = 1,
  ) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled && this.running < this.maxInFlight) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.kick();
        });
      }
    });
  }

  private kick(): void {
    while (this.running < this.maxInFlight && this.queue.length > 0) {
      this.running++;
      const batch = this.queue.splice(0, this.maxBatch);
      void this.flush(batch).finally(() => {
        this.running--;
        // What arrived meanwhile has waited a whole batch already: it goes at once.
        this.kick();
      });
    }
  }

  private async flush(batch: Array<{ item: I; resolve: (r: R) => void; reject: (e: unknown) => void }>) {
    try {
      const results = await this.write(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(results[i] as R));
    } catch (err) {
      if (batch.length === 1 || !this.retrySingly(err)) return batch.forEach((b) => b.reject(err));
      for (const b of batch) {
        try {
          b.resolve(((await this.write([b.item])) as R[])[0] as R);
        } catch (e) {
          b.reject(e);
        }
      }
    }
  }
}
