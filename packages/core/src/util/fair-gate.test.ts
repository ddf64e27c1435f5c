import { describe, expect, it } from "vitest";
import { AppError } from "@anonchat/shared";
import { FairGate } from "./fair-gate.js";

/** A job that holds its slot until released by hand, recording the order jobs started in. */
function harness(gate: FairGate) {
  const started: string[] = [];
  const finish: Array<() => void> = [];
  const job = (key: string, tag = key) =>
    gate.run(key, async () => {
      started.push(tag);
      await new Promise<void>((r) => finish.push(r));
      return tag;
    });
  /** Lets the first running job end, then lets the gate hand its slot on. */
  const endOne = async () => {
    finish.shift()?.();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { started, job, endOne };
}

const settle = () => new Promise((r) => setImmediate(r));

describe("FairGate", () => {
  it("never runs more than the global or per-key bound at once", async () => {
    const gate = new FairGate({ concurrency: 3, perKeyConcurrency: 2, perKeyQueue: 100, maxQueue: 100 });
    let active = 0;
    let peak = 0;
    const perKey = new Map<string, number>();
    let peakPerKey = 0;
    const job = (key: string) =>
      gate.run(key, async () => {
        active++;
        perKey.set(key, (perKey.get(key) ?? 0) + 1);
        peak = Math.max(peak, active);
        peakPerKey = Math.max(peakPerKey, perKey.get(key) ?? 0);
        await new Promise((r) => setTimeout(r, 2));
        perKey.set(key, (perKey.get(key) ?? 1) - 1);
        active--;
      });
    await Promise.all([...Array.from({ length: 20 }, () => job("a")), ...Array.from({ length: 5 }, () => job("b"))]);
    expect(peak).toBe(3);
    expect(peakPerKey).toBe(2);
    expect(gate.waiting()).toBe(0);
  });

  it("serves waiting keys round-robin: a burst from one key does not go before a later key", async () => {
    const gate = new FairGate({ concurrency: 1, perKeyConcurrency: 1, perKeyQueue: 100, maxQueue: 100 });
    const h = harness(gate);
    const all = [h.job("a", "a1"), h.job("a", "a2"), h.job("a", "a3"), h.job("a", "a4"), h.job("b", "b1"), h.job("b", "b2")];
    await settle();
    for (let i = 0; i < 6; i++) await h.endOne();
    await Promise.all(all);
    // With a plain FIFO semaphore b1 would start fifth.
    expect(h.started).toEqual(["a1", "a2", "b1", "a3", "b2", "a4"]);
  });

  it("refuses a key past its own queue bound (429) and everyone past the global one (503), at once", async () => {
    const gate = new FairGate({ concurrency: 1, perKeyConcurrency: 1, perKeyQueue: 2, maxQueue: 3 });
    const h = harness(gate);
    const running = h.job("a");
    const queued = [h.job("a"), h.job("a")];
    await expect(h.job("a")).rejects.toMatchObject({ code: "TOO_MANY_REQUESTS" });
    const other = h.job("b");
    const refused = await h.job("c").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe("SERVICE_UNAVAILABLE");
    for (let i = 0; i < 4; i++) await h.endOne();
    await Promise.all([running, ...queued, other]);
    expect(gate.waiting()).toBe(0);
    // The lanes are free again.
    const again = h.job("a");
    await settle();
    await h.endOne();
    expect(await again).toBe("a");
  });

  it("a release called twice frees one slot only", async () => {
    const gate = new FairGate({ concurrency: 1, perKeyConcurrency: 1, perKeyQueue: 10, maxQueue: 10 });
    const release = await gate.acquire("a");
    const second = gate.acquire("b");
    release();
    release();
    const releaseB = await second;
    let thirdIn = false;
    const third = Promise.resolve(gate.acquire("c")).then((r) => {
      thirdIn = true;
      return r;
    });
    await settle();
    expect(thirdIn).toBe(false);
    releaseB();
    (await third)();
  });
});
