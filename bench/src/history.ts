/**
 * Cost that does not grow with history (issue 12): one room holds `historyMessages` stored
 * messages (seeded with SQL into the halted server's database, seed-sql.ts), another none. The
 * server is started afresh on that data, and then, one call at a time over HTTP, alternating
 * between the two rooms so that both see the same machine:
 *
 * - `room.send` p50 in the big room ÷ p50 in the empty one (the dedupe and seq assignment must use
 *   the indexes, not the size of the room);
 * - `room.history` page latency in the big room: the newest page, a page from the middle
 *   (beforeSeq = half the history) and the oldest page, each beside the empty room's page.
 */
import type { HistoryPage, Message, Room, Session } from "@anonchat/shared";
import type { Config } from "./config.js";
import { Histogram, summarize, type LatencySummary } from "./histogram.js";
import { TrpcHttp } from "./http.js";
import { loadEnv, serverLogIssues, type Ctx } from "./scenarios.js";
import { seedHistory } from "./seed-sql.js";
import { startServer, type ServerTarget, type TargetKind } from "./targets.js";
import { log, randomId } from "./util.js";

export interface HistoryResult {
  target: TargetKind;
  messages: number;
  seedSeconds?: number;
  /** room.send latency (ms) in the big room and in the empty one. */
  sendBig?: LatencySummary;
  sendEmpty?: LatencySummary;
  /** p50 big ÷ p50 empty. */
  sendRatio?: number;
  /** room.history page latency (ms), by page, in the big room; and the empty room's page. */
  pages?: { page: "newest" | "middle" | "oldest"; big: LatencySummary }[];
  emptyPage?: LatencySummary;
  /** Pages whose content was not the seqs asked for (must be 0). */
  wrongPages: number;
  logIssues?: { warnings: number; errors: number; samples: string[] };
  error?: string;
}

export async function historyScenario(ctx: Ctx, kind: TargetKind): Promise<HistoryResult> {
  const { cfg } = ctx;
  if (kind !== "pglite" && kind !== "postgres") throw new Error("the history scenario runs against the server");
  const result: HistoryResult = { target: kind, messages: cfg.historyMessages, wrongPages: 0 };
  const env = loadEnv(cfg);
  let target: ServerTarget | undefined;
  let api: TrpcHttp | undefined;
  try {
    target = await startServer({ kind, ...(ctx.pg ? { pg: ctx.pg } : {}), env, runDir: ctx.runDir });
    const setup = new TrpcHttp(target.httpUrl, 4);
    const tag = randomId(5);
    const writer = await setup.mutation<Session>("auth.register", { login: `h${tag}`, email: `h${tag}@history.test`, password: `pw-${tag}-secret-1` });
    const big = await setup.mutation<Room>("room.create", { name: "a long history", maxMembers: 10 }, writer.accessToken);
    const empty = await setup.mutation<Room>("room.create", { name: "no history", maxMembers: 10 }, writer.accessToken);
    setup.close();

    await target.halt();
    const t0 = performance.now();
    const [seeded] = await seedHistory(target, [{ roomId: big.id, senderId: writer.user.id, senderLogin: writer.user.login }], cfg.historyMessages, cfg.textBytes);
    result.seedSeconds = (performance.now() - t0) / 1000;
    log(`  history/${kind}: seeded ${cfg.historyMessages.toLocaleString("en-US")} messages with SQL in ${result.seedSeconds.toFixed(1)} s`);
    // A fresh process: nothing of the history is in its memory.
    target = await target.relaunch(env);
    api = new TrpcHttp(target.httpUrl, 2);
    const token = writer.accessToken;
    const lastSeq = seeded?.lastSeq ?? 0;

    const sendBig = new Histogram();
    const sendEmpty = new Histogram();
    let n = 0;
    const send = async (roomId: string, h: Histogram | undefined) => {
      const t = performance.now();
      await api?.mutation<Message>("room.send", { roomId, text: `history bench ${n}`, clientMsgId: `hb-${tag}-${n++}` }, token);
      h?.add(performance.now() - t);
    };
    // Warm-up (connections, code paths), then the two rooms in turn.
    for (let i = 0; i < 20; i++) await send(i % 2 ? big.id : empty.id, undefined);
    for (let i = 0; i < cfg.historySamples; i++) {
      await send(big.id, sendBig);
      await send(empty.id, sendEmpty);
    }
    result.sendBig = summarize(sendBig);
    result.sendEmpty = summarize(sendEmpty);
    if (result.sendBig.p50 && result.sendEmpty.p50) result.sendRatio = result.sendBig.p50 / result.sendEmpty.p50;

    const limit = 50;
    const pages: { page: "newest" | "middle" | "oldest"; beforeSeq: number | undefined }[] = [
      { page: "newest", beforeSeq: undefined },
      { page: "middle", beforeSeq: Math.floor(lastSeq / 2) },
      { page: "oldest", beforeSeq: limit + 1 },
    ];
    const hist = pages.map(() => new Histogram());
    const emptyHist = new Histogram();
    const read = async (roomId: string, beforeSeq: number | undefined, h: Histogram) => {
      const t = performance.now();
      const p = await api?.query<HistoryPage>("room.history", { roomId, limit, ...(beforeSeq !== undefined ? { beforeSeq } : {}) }, token);
      h.add(performance.now() - t);
      return p?.messages ?? [];
    };
    for (let i = 0; i < cfg.historySamples; i++) {
      for (const [j, pg] of pages.entries()) {
        const got = await read(big.id, pg.beforeSeq, hist[j] as Histogram);
        const seqs = got.map((m) => m.seq);
        // The page holds `limit` consecutive seqs just below beforeSeq (the newest: the room's last ones).
        const top = pg.beforeSeq !== undefined ? pg.beforeSeq - 1 : Math.max(...seqs);
        const ok = seqs.length === limit && seqs.every((s) => s > top - limit && s <= top) && new Set(seqs).size === limit;
        if (!ok) result.wrongPages++;
      }
      await read(empty.id, undefined, emptyHist);
    }
    result.pages = pages.map((pg, j) => ({ page: pg.page, big: summarize(hist[j] as Histogram) }));
    result.emptyPage = summarize(emptyHist);
    const f = (v: number | undefined) => (v === undefined ? "–" : `${v.toFixed(2)} ms`);
    log(
      `  history/${kind}: room.send p50 ${f(result.sendBig.p50)} with ${cfg.historyMessages.toLocaleString("en-US")} stored vs ${f(result.sendEmpty.p50)} empty ` +
        `(${result.sendRatio?.toFixed(2) ?? "–"}×); history page p50 newest ${f(result.pages[0]?.big.p50)}, middle ${f(result.pages[1]?.big.p50)}, ` +
        `oldest ${f(result.pages[2]?.big.p50)}, empty room ${f(result.emptyPage.p50)}; wrong pages ${result.wrongPages}`,
    );
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    log(`  history/${kind}: FAILED ${result.error}`);
  } finally {
    api?.close();
    await target?.stop();
    if (target) result.logIssues = serverLogIssues(target);
  }
  return result;
}

export function historyProblems(h: HistoryResult): string[] {
  const tag = `history/${h.target}`;
  if (h.error) return [`${tag}: ${h.error}`];
  return h.wrongPages ? [`${tag}: ${h.wrongPages} history pages did not hold the seqs asked for`] : [];
}

// ---- report ---------------------------------------------------------------------------------------

const LABEL: Record<string, string> = { pglite: "PGlite", postgres: "PostgreSQL" };
const ms = (v: number | undefined) => (v === undefined ? "–" : v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(2)} ms`);
const n = (v: number) => v.toLocaleString("en-US");
const SEND_GOAL = 1.5;

export function historyTargets(results: HistoryResult[]) {
  return results.flatMap((h) => [
    {
      what: `history: room.send p50 with ${n(h.messages)} stored messages vs an empty room`,
      server: h.target,
      goal: `≤ ${SEND_GOAL}×`,
      baseline: ms(h.sendEmpty?.p50),
      measured: h.error ? "failed" : ms(h.sendBig?.p50),
      ratio: h.sendRatio !== undefined ? `${h.sendRatio.toFixed(2)}×` : "",
      met: h.error ? false : h.sendRatio === undefined ? undefined : h.sendRatio <= SEND_GOAL && historyProblems(h).length === 0,
      note: h.error?.slice(0, 100) ?? "",
    },
    {
      what: `history: room.history page p50 / p99 at ${n(h.messages)} messages (newest, middle, oldest page)`,
      server: h.target,
      goal: "reported",
      baseline: ms(h.emptyPage?.p50),
      measured: h.error ? "failed" : (h.pages ?? []).map((p) => `${ms(p.big.p50)} / ${ms(p.big.p99)}`).join(", "),
      ratio: "",
      met: undefined,
      note: h.wrongPages ? `${h.wrongPages} wrong pages` : "baseline: the empty room's page",
    },
  ]);
}

export function historySection(results: HistoryResult[], cfg: Config): string {
  if (results.length === 0) return "";
  const out: string[] = [];
  out.push(`## History: ${n(cfg.historyMessages)} stored messages in one room`);
  out.push("");
  out.push(
    `One room holds ${n(cfg.historyMessages)} messages (written with SQL into the stopped server's database), another none; the server is started afresh on that data. ` +
      `Over HTTP, one call at a time, the two rooms in turn (${cfg.historySamples} calls each, after 20 warm-up sends): \`room.send\` with a clientMsgId, ` +
      "then `room.history` pages of 50: the newest, one from the middle (`beforeSeq` = half the history) and the oldest, beside the empty room's page. Each page is checked to hold the 50 seqs asked for.",
  );
  out.push("");
  const head = ["server", "seeded in", "send p50 big / empty", "×", "send p99 big / empty", "newest page p50 / p99", "middle page p50 / p99", "oldest page p50 / p99", "empty room page p50", "wrong pages"];
  const rows = results.map((h) => {
    const page = (i: number) => {
      const p = h.pages?.[i]?.big;
      return p ? `${ms(p.p50)} / ${ms(p.p99)}` : "–";
    };
    return [
      LABEL[h.target] ?? h.target,
      h.seedSeconds !== undefined ? `${h.seedSeconds.toFixed(1)} s` : "–",
      h.error ? `failed: ${h.error.slice(0, 80)}` : `${ms(h.sendBig?.p50)} / ${ms(h.sendEmpty?.p50)}`,
      h.sendRatio !== undefined ? `${h.sendRatio.toFixed(2)}×` : "–",
      `${ms(h.sendBig?.p99)} / ${ms(h.sendEmpty?.p99)}`,
      page(0),
      page(1),
      page(2),
      ms(h.emptyPage?.p50),
      String(h.wrongPages),
    ];
  });
  out.push([`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n"));
  out.push("");
  return out.join("\n");
}
