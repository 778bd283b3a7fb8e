// Line charts as SVG text: no plotting dependency. Linear axes with "nice" ticks, one
// polyline (optionally stepped) and markers per series, a legend in the top-left corner.

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /** Draw as a step function (cumulative counts), not straight segments. */
  readonly step?: boolean;
  readonly markers?: boolean;
}

export interface Chart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly xMin?: number;
  readonly xMax?: number;
  readonly yMin?: number;
  readonly yMax?: number;
  /** Format of y tick labels, e.g. as percentages. */
  readonly yFormat?: (v: number) => string;
  /** Corner of the legend (default top-left); put it where the lines are not. */
  readonly legend?: "top-left" | "bottom-right" | "bottom-left";
}

const W = 640;
const H = 400;
const M = { left: 64, right: 20, top: 40, bottom: 52 };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
}

export function lineChart(c: Chart): string {
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = c.series.flatMap((s) => s.points.map((p) => p[1]));
  const x0 = c.xMin ?? Math.min(0, ...xs);
  const x1 = c.xMax ?? Math.max(x0 + 1, ...xs);
  const y0 = c.yMin ?? Math.min(0, ...ys);
  const y1 = c.yMax ?? Math.max(y0 + 1, ...ys);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => M.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => M.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const yFmt = c.yFormat ?? fmt;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(c.title)}</text>`,
  ];
  for (const t of ticks(x0, x1)) {
    const x = sx(t).toFixed(1);
    out.push(`<line x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + ph}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle">${esc(fmt(t))}</text>`);
  }
  for (const t of ticks(y0, y1, 5)) {
    const y = sy(t).toFixed(1);
    out.push(`<line x1="${M.left}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(yFmt(t))}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts: string[] = [];
    s.points.forEach(([x, y], k) => {
      if (s.step && k > 0) pts.push(`${sx(x).toFixed(1)},${sy(s.points[k - 1]![1]).toFixed(1)}`);
      pts.push(`${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    });
    // Every other series dashed, so lines that coincide stay visible.
    const dash = i % 2 === 1 ? ' stroke-dasharray="7 4"' : "";
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${pts.join(" ")}"/>`);
    if (s.markers) for (const [x, y] of s.points) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${color}"/>`);
  });
  // Legend last, on a white box, so it stays readable over the lines.
  const rows = c.series.length;
  const boxW = 24 + 8 + Math.max(...c.series.map((x) => x.name.length)) * 6.6 + 16;
  const boxH = rows * 18 + 8;
  const corner = c.legend ?? "top-left";
  const bx = corner === "bottom-right" ? M.left + pw - boxW - 6 : M.left + 6;
  const by = corner === "top-left" ? M.top + 6 : M.top + ph - boxH - 6;
  out.push(`<rect x="${bx.toFixed(1)}" y="${by}" width="${boxW.toFixed(1)}" height="${boxH}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`);
  c.series.forEach((x, i) => {
    const color = COLORS[i % COLORS.length];
    const dash = i % 2 === 1 ? ' stroke-dasharray="7 4"' : "";
    const ly = by + 13 + i * 18;
    out.push(`<line x1="${(bx + 8).toFixed(1)}" y1="${ly}" x2="${(bx + 32).toFixed(1)}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${(bx + 38).toFixed(1)}" y="${ly}" dominant-baseline="middle">${esc(x.name)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

export const percent = (v: number): string => `${Math.round(v * 100)}%`;
