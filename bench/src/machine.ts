/**
 * How busy the machine was while something was measured: the 1-minute load average at the start
 * and the end, and CPU steal (the hypervisor running someone else on our cores) from /proc/stat's
 * aggregate "cpu" line as a share of all CPU time in between. A ratio measured while another
 * tenant or process ate the cores is not comparable with one measured on a quiet machine; these
 * figures sit beside every scenario run so that a reader can tell.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import { sleep } from "./util.js";

/** Jiffies from /proc/stat's first line (all CPUs together). */
export interface CpuTimes {
  total: number;
  idle: number;
  steal: number;
}

export function readCpuTimes(): CpuTimes | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined;
    // guest and guest_nice are already inside user and nice: not added again.
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { total, idle: (f[3] ?? 0) + (f[4] ?? 0), steal: f[7] ?? 0 };
  } catch {
    return undefined;
  }
}

export function load1(): number | undefined {
  try {
    const v = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The machine over one measured stretch. */
export interface MachineWindow {
  /** 1-minute load average when it started and when it ended. */
  load1Start?: number;
  load1End?: number;
  /** Steal jiffies over all jiffies in between, %. */
  stealPct?: number;
  /** Non-idle jiffies over all jiffies in between, % of all cores (everything on the machine, us included). */
  busyPct?: number;
  seconds: number;
}

export class MachineMeter {
  private readonly t0 = performance.now();
  private readonly cpu0 = readCpuTimes();
  private readonly l0 = load1();

  stop(): MachineWindow {
    const cpu1 = readCpuTimes();
    const w: MachineWindow = { seconds: (performance.now() - this.t0) / 1000 };
    if (this.l0 !== undefined) w.load1Start = this.l0;
    const l1 = load1();
    if (l1 !== undefined) w.load1End = l1;
    if (this.cpu0 && cpu1 && cpu1.total > this.cpu0.total) {
      const total = cpu1.total - this.cpu0.total;
      w.stealPct = (100 * (cpu1.steal - this.cpu0.steal)) / total;
      w.busyPct = (100 * (total - (cpu1.idle - this.cpu0.idle))) / total;
    }
    return w;
  }
}

/** Runs fn and returns its value with the machine's window around it. */
export async function metered<T>(fn: () => Promise<T>): Promise<{ value: T; machine: MachineWindow }> {
  const m = new MachineMeter();
  const value = await fn();
  return { value, machine: m.stop() };
}

/**
 * The busy rule for a run's start (documented in BENCHMARKS.md): the 1-minute load average above
 * half the cores (something else already keeps half the machine busy), or more than 5% of CPU
 * time stolen over a 2-second sample. A run that starts busy does not overwrite BENCHMARKS.md
 * unless --force is given.
 */
export const BUSY_LOAD_PER_CORE = 0.5;
export const BUSY_STEAL_PCT = 5;
export const BUSY_SAMPLE_MS = 2000;

export interface StartVerdict {
  cores: number;
  load1?: number;
  stealPct?: number;
  busy: boolean;
  reasons: string[];
}

export async function startVerdict(): Promise<StartVerdict> {
  const cores = os.cpus().length || 1;
  const m = new MachineMeter();
  await sleep(BUSY_SAMPLE_MS);
  const w = m.stop();
  const reasons: string[] = [];
  const l = w.load1Start;
  if (l !== undefined && l > BUSY_LOAD_PER_CORE * cores) {
    reasons.push(`1-minute load average ${l.toFixed(2)} > ${BUSY_LOAD_PER_CORE} × ${cores} cores = ${(BUSY_LOAD_PER_CORE * cores).toFixed(2)}`);
  }
  if (w.stealPct !== undefined && w.stealPct > BUSY_STEAL_PCT) {
    reasons.push(`CPU steal ${w.stealPct.toFixed(1)}% > ${BUSY_STEAL_PCT}% over a ${BUSY_SAMPLE_MS / 1000} s sample`);
  }
  return { cores, ...(l !== undefined ? { load1: l } : {}), ...(w.stealPct !== undefined ? { stealPct: w.stealPct } : {}), busy: reasons.length > 0, reasons };
}

/** "load 0.42 → 1.10, steal 0.3%" for a log line or a table cell. */
export function formatMachine(w: MachineWindow | undefined): string {
  if (!w) return "–";
  const l = (v: number | undefined) => (v === undefined ? "?" : v.toFixed(2));
  return `load ${l(w.load1Start)} → ${l(w.load1End)}, steal ${w.stealPct === undefined ? "?" : `${w.stealPct.toFixed(1)}%`}`;
}
