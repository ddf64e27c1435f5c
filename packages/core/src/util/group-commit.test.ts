import { describe, expect, it } from "vitest";
import { GroupCommit } from "./group-commit.js";

describe("GroupCommit", () => {
  it("batches what arrives in one turn and what arrives while a batch is written, preserving order", async () => {
    const batches: number[][] = [];
    const gc = new GroupCommit<number, number>(async (items) => {
      batches.push(items);
      await new Promise((r) => setTimeout(r, 5));
      return items.map((i) => i * 10);
    }, 4);
    const first = Array.from({ length: 9 }, (_, i) => gc.submit(i));
    await new Promise((r) => setTimeout(r, 1));
    const later = [9, 10].map((i) => gc.submit(i));
    const results = await Promise.all([...first, ...later]);
    expect(results).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    expect(batches).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]);
  });

  it("batches on a writer that finishes without an event-loop turn (an embedded database)", async () => {
    const batches: number[][] = [];
    const gc = new GroupCommit<number, number>(async (items) => {
      batches.push(items);
      return items;
    }, 100);
    // Requests read in one turn of the event loop, each submitting as it is parsed.
    await Promise.all(Array.from({ length: 10 }, (_, i) => Promise.resolve().then(() => gc.submit(i))));
    expect(batches).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
  });

  it("isolates a failing item by retrying the batch one by one", async () => {
    const gc = new GroupCommit<number, number>(async (items) => {
      await new Promise((r) => setTimeout(r, 1));
      if (items.includes(3)) throw new Error("bad item");
      return items;
    }, 10);
    const settled = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => gc.submit(i)));
    expect(settled.map((s) => s.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "rejected", "fulfilled"]);
  });

  it("writes up to maxInFlight batches at once", async () => {
    let active = 0;
    let peak = 0;
    const gc = new GroupCommit<number, number>(
      async (items) => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
        return items;
      },
      2,
      () => true,
      3,
    );
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => gc.submit(i)));
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(peak).toBe(3);
  });
});
