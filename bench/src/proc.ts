import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second for /proc/<pid>/stat's utime and stime. */
export const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

interface Stat {
  ppid: number;
  /** utime + stime, seconds. */
  cpu: number;
}

function readStat(pid: number): Stat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // rest[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
    const ppid = Number(rest[1]);
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return { ppid, cpu: (utime + stime) / CLK_TCK };
  } catch {
    return undefined;
  }
}

/** Every live process whose parent is `ppid`. */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st && st.ppid === ppid) out.push(Number(name));
  }
  return out;
}

/**
 * A set of processes whose CPU time is summed: fixed pids, plus (optionally) the children of a
 * root (PostgreSQL's backends under the postmaster).
 */
export interface CpuGroup {
  name: string;
  pids: number[];
  withChildrenOf?: number;
}

export type CpuSample = Record<string, { cpu: number; byPid: Map<number, number> }>;

export function sampleCpu(groups: readonly CpuGroup[]): CpuSample {
  const out: CpuSample = {};
  for (const g of groups) {
    const byPid = new Map<number, number>();
    const pids = [...g.pids, ...(g.withChildrenOf !== undefined ? [g.withChildrenOf, ...childPids(g.withChildrenOf)] : [])];
    let cpu = 0;
    for (const pid of new Set(pids)) {
      const st = readStat(pid);
      if (!st) continue;
      byPid.set(pid, st.cpu);
      cpu += st.cpu;
    }
    out[g.name] = { cpu, byPid };
  }
  return out;
}

/**
 * CPU used between two samples, as a percentage of one core. Processes that appeared in between
 * count from zero; processes that vanished lose what they used after the first sample.
 */
export function cpuPercent(a: CpuSample, b: CpuSample, seconds: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, after] of Object.entries(b)) {
    const before = a[name];
    let used = 0;
    for (const [pid, cpu] of after.byPid) used += cpu - (before?.byPid.get(pid) ?? 0);
    out[name] = seconds > 0 ? (used / seconds) * 100 : 0;
  }
  return out;
}

/** Resident set size of a process, bytes. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function loadAverage(): string {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}
