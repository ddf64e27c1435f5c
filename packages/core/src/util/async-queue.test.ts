import { describe, expect, it } from "vitest";
import { AsyncQueue } from "./async-queue";
import { Semaphore } from "./semaphore";

describe("AsyncQueue", () => {
  it("hands items over in order, waits when empty, ends on close", async () => {
    const q = new AsyncQueue<number>();
    const taken: Array<number | undefined> = [];
    const consumer = (async () => {
      for (;;) {
        const v = await q.take();
        taken.push(v);
        if (v === undefined) return;
      }
    })();
    for (let i = 0; i < 3000; i++) q.push(i);
    await new Promise((r) => setTimeout(r, 10));
    q.push(3000);
    q.close();
    await consumer;
    expect(taken.length).toBe(3002);
    expect(taken.slice(0, 3001)).toEqual(Array.from({ length: 3001 }, (_, i) => i));
    expect(taken.at(-1)).toBeUndefined();
  });
});

describe("Semaphore", () => {
  it("never runs more than max at once and refuses past the queue bound", async () => {
    const s = new Semaphore(2, 3);
    let active = 0;
    let peak = 0;
    const job = () =>
      s.run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
        return 1;
      });
    const results = await Promise.allSettled(Array.from({ length: 8 }, job));
    expect(peak).toBe(2);
    expect(results.filter((r) => r.status === "fulfilled").length).toBe(5);
    expect(results.filter((r) => r.status === "rejected").length).toBe(3);
    expect(await job()).toBe(1);
  });
});
