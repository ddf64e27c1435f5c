import { describe, expect, it } from "vitest";
import { AsyncQueue } from "./async-queue.js";

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
