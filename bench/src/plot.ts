/**
 * Latency against offered load as a self-contained SVG (no plotting dependency): one panel per
 * scenario, log-log axes, p99 solid and p50 dashed, one colour per target.
 */

export interface Series {
  label: string;
  color: string;
  p50: [number, number][];
  p99: [number, number][];
  /** Offered loads at which the target was overloaded (drawn as open circles). */
  overloadedAt: number[];
}

export interface Panel {
  title: string;
  series: Series[];
}

const W = 480;
const H = 360;
const M = { left: 64, right: 16, top: 36, bottom: 48 };

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function decades(min: number, max: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) out.push(10 ** e);
  return out;
}

function label(v: number, unit: "load" | "ms"): string {
  if (unit === "load") return v >= 1000 ? `${v / 1000}k` : String(v);
  return v >= 1000 ? `${v / 1000} s` : `${v} ms`;
}

function panelSvg(p: Panel, ox: number, oy: number): string {
  const pts = p.series.flatMap((s) => [...s.p50, ...s.p99]).filter(([x, y]) => x > 0 && y > 0);
  const xs = pts.map(([x]) => x);
  const ys = pts.map(([, y]) => y);
  const xMin = 10 ** Math.floor(Math.log10(Math.min(...xs, 1000)));
  const xMax = 10 ** Math.ceil(Math.log10(Math.max(...xs, 10_000)));
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...ys, 1)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys, 10)));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => ox + M.left + ((Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * pw;
  const sy = (y: number) => oy + M.top + ph - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph;
  const out: string[] = [];
  out.push(`<text x="${ox + W / 2}" y="${oy + 22}" text-anchor="middle" font-size="15" font-weight="bold">${esc(p.title)}</text>`);
  out.push(`<rect x="${ox + M.left}" y="${oy + M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  for (const d of decades(xMin, xMax)) {
    for (const m of [1, 2, 5]) {
      const v = d * m;
      if (v < xMin || v > xMax) continue;
      const x = sx(v);
      out.push(`<line x1="${x}" y1="${oy + M.top}" x2="${x}" y2="${oy + M.top + ph}" stroke="${m === 1 ? "#ccc" : "#eee"}"/>`);
      if (m === 1 || m === 5) out.push(`<text x="${x}" y="${oy + M.top + ph + 16}" text-anchor="middle" font-size="11">${label(v, "load")}</text>`);
    }
  }
  for (const d of decades(yMin, yMax)) {
    if (d < yMin || d > yMax) continue;
    const y = sy(d);
    out.push(`<line x1="${ox + M.left}" y1="${y}" x2="${ox + M.left + pw}" y2="${y}" stroke="#ccc"/>`);
    out.push(`<text x="${ox + M.left - 6}" y="${y + 4}" text-anchor="end" font-size="11">${label(d, "ms")}</text>`);
  }
  out.push(`<text x="${ox + M.left + pw / 2}" y="${oy + H - 10}" text-anchor="middle" font-size="12">offered load, delivered messages/s</text>`);
  out.push(`<text transform="translate(${ox + 14},${oy + M.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">end-to-end latency</text>`);
  for (const s of p.series) {
    for (const [pts2, dash] of [
      [s.p99, ""],
      [s.p50, ' stroke-dasharray="5,4"'],
    ] as const) {
      const valid = pts2.filter(([x, y]) => x > 0 && y > 0).sort((a, b) => a[0] - b[0]);
      if (valid.length === 0) continue;
      const d = valid.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
      for (const [x, y] of valid) {
        const open = s.overloadedAt.includes(x);
        out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="${open ? 3.5 : 2.5}" fill="${open ? "white" : s.color}" stroke="${s.color}"/>`);
      }
    }
  }
  return out.join("\n");
}

export function latencySvg(panels: Panel[], caption: string): string {
  const width = W * panels.length;
  const legendY = H + 8;
  const labels = [...new Map(panels.flatMap((p) => p.series.map((s) => [s.label, s.color] as const))).entries()];
  const legend: string[] = [];
  let x = 16;
  for (const [name, color] of labels) {
    legend.push(`<line x1="${x}" y1="${legendY + 8}" x2="${x + 24}" y2="${legendY + 8}" stroke="${color}" stroke-width="2"/>`);
    legend.push(`<text x="${x + 30}" y="${legendY + 12}" font-size="12">${esc(name)}</text>`);
    x += 40 + name.length * 7;
  }
  legend.push(`<text x="${x + 10}" y="${legendY + 12}" font-size="12">solid: p99, dashed: p50, open circle: overloaded</text>`);
  const height = H + 52;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...panels.map((p, i) => panelSvg(p, i * W, 0)),
    ...legend,
    `<text x="16" y="${height - 8}" font-size="11" fill="#555">${esc(caption)}</text>`,
    `</svg>`,
    "",
  ].join("\n");
}
