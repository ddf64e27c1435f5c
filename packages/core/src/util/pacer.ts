/**
 * Cooperative time slicing for bulk work on the event loop (replays of many events): a worker
 * waits for its turn, works until its slice is used up, then waits again. Turns are handed out
 * one per event-loop iteration, in arrival order, so between any two slices the loop polls for
 * I/O: other users' requests are served every sliceMs at worst, however many replays run.
 */
export class Pacer {
  private readonly waiting: Array<() => void> = [];
  private scheduled = false;

  constructor(private readonly sliceMs: number) {}

  /** Waits for a turn; the returned slice says when to wait again. */
  async turn(): Promise<Slice> {
    await new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
    return new Slice(performance.now() + this.sliceMs);
  }

  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    // setImmediate queued from inside a check phase runs on the next loop iteration, after the
    // poll phase: exactly one turn per iteration, with I/O in between.
    setImmediate(() => {
      this.scheduled = false;
      this.waiting.shift()?.();
      this.schedule();
    });
  }
}

export class Slice {
  constructor(private readonly endsAt: number) {}

  /** True once this slice's time is up: the worker should wait for its next turn. */
  spent(): boolean {
    return performance.now() >= this.endsAt;
  }
}
