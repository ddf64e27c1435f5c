/**
 * Where the time goes in a V8 CPU profile (node --cpu-prof): self time by function and by
 * package, idle excluded.
 *
 *   node --import tsx bench/src/profile.ts FILE.cpuprofile [TOP]
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileRow {
  name: string;
  where: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  /** Busy (non-idle) time, ms. */
  busyMs: number;
  totalMs: number;
  functions: ProfileRow[];
  packages: ProfileRow[];
  /** Time with a frame of the package anywhere on the stack. */
  inclusivePackages: ProfileRow[];
  /** Time inside access-token verification (core's AccessTokens.verify), inclusive. */
  tokenVerifyMs: number;
  /** Time inside access-token signing (AccessTokens.sign), inclusive. */
  tokenSignMs: number;
}

/** "@trpc/server", "ws", "@anonchat/core", "node:internal", "(garbage collector)"… */
export function packageOf(url: string, fn: string): string {
  if (!url) return fn.startsWith("(") ? fn : "(native)";
  if (url.startsWith("wasm://")) return "(wasm: PGlite's PostgreSQL)";
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pnpm?.[1]) return pnpm[1];
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm?.[1]) return nm[1];
  const ws = /\/(packages|apps)\/([^/]+)\//.exec(url);
  if (ws?.[2]) return `@anonchat/${ws[2]}`;
  if (url.startsWith("node:")) return "node:internal";
  return path.basename(url);
}

function shortUrl(url: string): string {
  return url
    .replace(/^file:\/\//, "")
    .replace(/.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, "")
    .replace(/.*\/(packages|apps)\//, "$1/");
}

/**
 * Self time by function and package. With windows (CLOCK_MONOTONIC µs, the profile's own clock),
 * only samples inside them count: the measurement windows, not startup or setup.
 */
export function summarizeProfile(file: string, top = 25, windows: [number, number][] = []): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of prof.nodes) byId.set(n.id, n);
  const selfById = new Map<number, number>();
  const inside = (t: number) => windows.length === 0 || windows.some(([a, b]) => t >= a && t < b);
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i] as number;
    t += prof.timeDeltas[i] ?? 0;
    if (!inside(t)) continue;
    // timeDeltas[i] is the time before sample i; attribute the next delta to this sample.
    const dt = (prof.timeDeltas[i + 1] ?? 0) / 1000;
    selfById.set(id, (selfById.get(id) ?? 0) + dt);
  }
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** Packages on the stack of a node, and whether token verify/sign is on it (memoised). */
  const stackInfo = new Map<number, { pkgs: Set<string>; verify: boolean; sign: boolean }>();
  const infoOf = (id: number): { pkgs: Set<string>; verify: boolean; sign: boolean } => {
    const known = stackInfo.get(id);
    if (known) return known;
    const node = byId.get(id);
    const up = parent.get(id);
    const base = up === undefined ? { pkgs: new Set<string>(), verify: false, sign: false } : infoOf(up);
    const info = { pkgs: new Set(base.pkgs), verify: base.verify, sign: base.sign };
    if (node) {
      const { functionName, url } = node.callFrame;
      if (url) info.pkgs.add(packageOf(url, functionName));
      if (url.includes("auth/tokens.ts") && functionName === "verify") info.verify = true;
      if (url.includes("auth/tokens.ts") && functionName === "sign") info.sign = true;
    }
    stackInfo.set(id, info);
    return info;
  };
  const fns = new Map<string, ProfileRow>();
  const pkgs = new Map<string, ProfileRow>();
  const incl = new Map<string, ProfileRow>();
  let busy = 0;
  let total = 0;
  let tokenVerifyMs = 0;
  let tokenSignMs = 0;
  for (const [id, ms] of selfById) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    total += ms;
    if (functionName === "(idle)") continue;
    busy += ms;
    const info = infoOf(id);
    if (info.verify) tokenVerifyMs += ms;
    if (info.sign) tokenSignMs += ms;
    for (const pkg of info.pkgs) {
      const row = incl.get(pkg) ?? { name: pkg, where: "", selfMs: 0, percent: 0 };
      row.selfMs += ms;
      incl.set(pkg, row);
    }
    const name = functionName || "(anonymous)";
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : "";
    const key = `${name}@${where}`;
    const row = fns.get(key) ?? { name, where, selfMs: 0, percent: 0 };
    row.selfMs += ms;
    fns.set(key, row);
    const pkg = packageOf(url, name);
    const prow = pkgs.get(pkg) ?? { name: pkg, where: "", selfMs: 0, percent: 0 };
    prow.selfMs += ms;
    pkgs.set(pkg, prow);
  }
  const finish = (rows: Iterable<ProfileRow>) =>
    [...rows]
      .map((r) => ({ ...r, percent: busy ? (r.selfMs / busy) * 100 : 0 }))
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top);
  return {
    file,
    busyMs: busy,
    totalMs: total,
    functions: finish(fns.values()),
    packages: finish(pkgs.values()),
    inclusivePackages: finish(incl.values()),
    tokenVerifyMs,
    tokenSignMs,
  };
}

/** True for a main thread's profile (CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile, thread 0); tsx's loader thread has its own. */
export function isMainThreadProfile(file: string): boolean {
  return /\.\d+\.0\.\d+\.cpuprofile$/.test(path.basename(file));
}

export function formatProfile(s: ProfileSummary, title: string): string {
  const lines = [
    `### ${title}`,
    "",
    `${path.basename(s.file)}: ${(s.busyMs / 1000).toFixed(1)} s busy of ${(s.totalMs / 1000).toFixed(1)} s profiled (measurement windows only)`,
    "",
    "| self % | self ms | function | where |",
    "|---:|---:|---|---|",
    ...s.functions.map((r) => `| ${r.percent.toFixed(1)} | ${Math.round(r.selfMs)} | \`${r.name}\` | ${r.where} |`),
    "",
    "| self % | package | | inclusive % | package on the stack |",
    "|---:|---|---|---:|---|",
    ...Array.from({ length: 12 }, (_, i) => {
      const a = s.packages[i];
      const b = s.inclusivePackages[i];
      return `| ${a ? a.percent.toFixed(1) : ""} | ${a?.name ?? ""} | | ${b ? b.percent.toFixed(1) : ""} | ${b?.name ?? ""} |`;
    }),
    "",
    `Access-token verification (AccessTokens.verify, inclusive): ${Math.round(s.tokenVerifyMs)} ms = ${s.busyMs ? ((s.tokenVerifyMs / s.busyMs) * 100).toFixed(2) : "0"}% of busy time; ` +
      `signing (AccessTokens.sign): ${Math.round(s.tokenSignMs)} ms = ${s.busyMs ? ((s.tokenSignMs / s.busyMs) * 100).toFixed(2) : "0"}%.`,
    "",
  ];
  return lines.join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: profile.ts FILE.cpuprofile [TOP]\n");
    process.exit(2);
  }
  process.stdout.write(formatProfile(summarizeProfile(file, Number(process.argv[3] ?? 25)), path.basename(file)));
}
