// Turning runs into what people read: the Markdown tables (results, goals met or missed),
// the machine description, and the two SVG charts.

import { arch, cpus, loadavg, release, totalmem, type as osType } from "node:os";
import type { Run } from "./common.ts";
import type { Spread } from "./metrics.ts";
import { lineChart, percent, type Series } from "./svg.ts";

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memory_gb: number;
  readonly os: string;
  readonly bun: string;
  readonly date: string;
  /** 1-minute load average when the run started: other work on a shared machine skews timings. */
  readonly loadavg_1m_start: number;
}

export function machine(): Machine {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? "unknown",
    cores: c.length,
    memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${osType()} ${release()} ${arch()}`,
    bun: Bun.version,
    date: new Date().toISOString(),
    loadavg_1m_start: Math.round(loadavg()[0]! * 100) / 100,
  };
}

const num = (v: number | null | undefined, digits = 2): string => (v === null || v === undefined ? "-" : String(Math.round(v * 10 ** digits) / 10 ** digits));
const pct = (v: number | null | undefined): string => (v === null || v === undefined ? "-" : `${Math.round(v * 10000) / 100}%`);
const triple = (s: Spread): string => (s.p50 === null ? "-" : `${num(s.p50, 1)} / ${num(s.p99, 1)} / ${num(s.max, 1)}`);

/** CPU µs per delivery, and its ratio to the machine's floor when that was measured. */
const cpu = (us: number | null | undefined, floorUs: number | null): string =>
  us === null || us === undefined ? "-" : floorUs === null ? num(us, 0) : `${num(us, 0)} (${num(us / floorUs, 1)}× floor)`;

export function runsTable(runs: readonly Run[], floorUs: number | null = null): string {
  const head = [
    "mode", "N", "procs", "killed", "items", "reliability", "items 100%", "RMR", "LDH max / mean (opt. mean, max)",
    "delivery ms p50/p99/max", "last delivery ms p50/p99/max", "throughput /s", "CPU µs/delivery", "RSS MB/node idle / after (marginal)", "recovery ms (done)",
  ];
  const rows = runs.map((r) => [
    r.mode,
    String(r.nodes),
    String(r.procs),
    r.experiment === "failure" ? `${r.fail_pct}% (${r.killed ?? "-"}, seed ${r.seed})` : "0",
    r.experiment === "failure" ? String(r.messages) : `${r.messages} @ ${r.rate_per_s}/s`,
    r.experiment === "failure" ? `${pct(r.reliability)} (1st)` : pct(r.reliability),
    pct(r.items_full_share),
    num(r.rmr, 3),
    r.ldh_max === null ? "-" : `${r.ldh_max} / ${num(r.ldh_mean)} (${num(r.ldh_optimal)}, ${r.ldh_optimal_max ?? "-"})`,
    triple(r.delivery_ms),
    triple(r.last_delivery_ms),
    r.throughput_announces_per_s === null ? "-" : r.throughput_announces_per_s === 0 ? `< ${r.throughput_steps?.[0]?.rate ?? "?"}` : String(r.throughput_announces_per_s),
    cpu(r.cpu_us_per_delivery, floorUs),
    r.rss_mb_per_node === null ? "-" : `${num(r.memory_idle?.per_node_mb)} / ${num(r.rss_mb_per_node)} (${num(r.rss_mb_per_node_marginal)})`,
    r.recovery_ms === null ? (r.experiment === "failure" ? "not recovered" : "-") : `${num(r.recovery_ms, 0)} (${num(r.recovery_done_ms, 0)})`,
  ]);
  const errors = runs.flatMap((r) => r.errors.map((e) => `- ${r.mode} N=${r.nodes} fail=${r.fail_pct}%: ${e}`));
  return [table(head, rows), ...(errors.length > 0 ? ["", "Errors:", ...errors] : [])].join("\n");
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Peer frames per sealed record over a window (how much one turn's frames shared a record). */
function framesPerRecord(c: Readonly<Record<string, number>>): string {
  const records = c.sealedRecords ?? 0;
  return records > 0 ? ((c.sealedFrames ?? 0) / records).toFixed(2) : "-";
}

/** One line per throughput step: how far each run got and why it stopped. */
export function throughputTable(runs: readonly Run[], floorUs: number | null = null): string | null {
  const rows = runs.flatMap((r) =>
    (r.throughput_steps ?? []).map((s) => [
      r.mode, String(r.nodes), `${s.rate}/s`, s.ok ? "yes" : "**no**", `${s.achieved_rate}/s`, pct(s.reliability), pct(s.items_full_share),
      triple(s.last_delivery_ms), String(s.lag_growth_ms ?? "-"), String(s.announcer_behind_ms), String(s.pending_verdicts_max),
      `${s.counters.graftSent ?? 0} / ${s.counters.pruneSent ?? 0}`, framesPerRecord(s.counters), cpu(s.cpu_us_per_delivery, floorUs),
    ]),
  );
  if (rows.length === 0) return null;
  return table(
    ["mode", "N", "step", "sustained", "achieved", "reliability", "items 100%", "last delivery ms p50/p99/max", "lag growth ms", "announcer behind ms", "max pending verdicts", "GRAFT / PRUNE sent", "frames / record", "CPU µs/delivery"],
    rows,
  );
}

interface Check {
  readonly goal: string;
  readonly run: string;
  readonly measured: string;
  readonly status: "met" | "missed" | "not run";
}

const label = (r: Run) => `${r.mode} N=${r.nodes}${r.experiment === "failure" ? ` ${r.fail_pct}% killed, seed ${r.seed}` : ""}`;

export function goals(runs: readonly Run[]): Check[] {
  const base = runs.filter((r) => r.experiment === "base");
  const out: Check[] = [];
  const add = (goal: string, subset: readonly Run[], measured: (r: Run) => string, ok: (r: Run) => boolean | null) => {
    if (subset.length === 0) out.push({ goal, run: "-", measured: "-", status: "not run" });
    for (const r of subset) {
      const v = r.errors.length > 0 && r.reliability === null ? null : ok(r);
      out.push({ goal, run: label(r), measured: measured(r), status: v === null ? "not run" : v ? "met" : "missed" });
    }
  };
  add("reliability 100% without failures", base, (r) => `${pct(r.reliability)} of pairs, ${pct(r.items_full_share)} of items`, (r) =>
    r.reliability === null ? null : r.reliability === 1 && r.items_full_share === 1);
  add("plumtree RMR <= 0.1 after warm-up", base.filter((r) => r.mode === "plumtree"), (r) => `RMR ${num(r.rmr, 3)}`, (r) => (r.rmr === null ? null : r.rmr <= 0.1));
  add("LDH within 2 of the BFS optimum", base, (r) => `worst item: LDH - eccentricity = ${r.ldh_excess_max ?? "-"} (LDH max ${r.ldh_max ?? "-"}, opt. max ${r.ldh_optimal_max ?? "-"})`, (r) =>
    r.ldh_excess_max === null ? null : r.ldh_excess_max <= 2);
  add("N=100: time-to-last-delivery p99 <= 50 ms at light load", base.filter((r) => r.nodes === 100), (r) => `p99 ${num(r.last_delivery_ms.p99, 1)} ms at ${r.rate_per_s}/s`, (r) =>
    r.last_delivery_ms.p99 === null ? null : r.last_delivery_ms.p99 <= 50);
  add("N=50: throughput >= 1000 announces/s with 100% delivery", base.filter((r) => r.nodes === 50 && r.throughput_announces_per_s !== null), (r) =>
    r.throughput_announces_per_s === 0 ? `no step sustained (lowest ${r.throughput_steps?.[0]?.rate}/s)` : `${r.throughput_announces_per_s}/s sustained`, (r) => r.throughput_announces_per_s! >= 1000);
  add("<= 2 MB RSS per node, many nodes per process (>= 25)", base.filter((r) => r.nodes / r.procs >= 25), (r) =>
    `${num(r.rss_mb_per_node_marginal)} MB marginal (${num(r.rss_mb_per_node)} MB with the runtime)`, (r) => (r.rss_mb_per_node_marginal === null ? null : r.rss_mb_per_node_marginal <= 2));
  const failure = (p: number, rel: number, ms: number) =>
    add(`${p}% killed: first broadcast >= ${rel * 100}%, 100% within ${ms / 1000} s`, runs.filter((r) => r.experiment === "failure" && r.fail_pct === p), (r) =>
      `first ${pct(r.first_broadcast_reliability)}, 100% reached ${r.recovery_done_ms === null ? "never" : `${num(r.recovery_done_ms, 0)} ms`} after the kill`, (r) =>
      r.first_broadcast_reliability === null ? null : r.first_broadcast_reliability >= rel && r.recovery_done_ms !== null && r.recovery_done_ms <= ms);
  failure(50, 0.99, 2000);
  failure(80, 0.9, 5000);
  return out;
}

export function goalsTable(runs: readonly Run[]): string {
  return table(["goal", "run", "measured", "result"], goals(runs).map((c) => [c.goal, c.run, c.measured, c.status === "missed" ? "**missed**" : c.status]));
}

/** Chart (a): cumulative share of subscribers against ms for one broadcast per mode (base runs). */
export function deliveryChart(runs: readonly Run[], n: number): string | null {
  const series: Series[] = runs
    .filter((r) => r.experiment === "base" && r.nodes === n && r.curve)
    .map((r) => ({ name: `${r.mode} (item ${r.curve!.item}: median time to last delivery)`, points: r.curve!.points, step: true }));
  if (series.length === 0) return null;
  return lineChart({ title: `Delivery over time, one broadcast, N=${n}`, xLabel: "ms since announce", yLabel: "subscribers reached", series, yMin: 0, yMax: 1, yFormat: percent, legend: "bottom-right" });
}

/** Chart (b): first-broadcast reliability against the share of nodes killed, one line per mode (and N, for all sizes). */
export function failureChart(runs: readonly Run[], sizes: readonly number[]): string | null {
  if (!runs.some((r) => sizes.includes(r.nodes) && r.experiment === "failure")) return null;
  const series: Series[] = [];
  for (const n of sizes) {
    for (const m of [...new Set(runs.filter((r) => r.nodes === n).map((r) => r.mode))]) {
      // Repeats (--fail-repeat) are averaged per failure percentage.
      const byPct = new Map<number, number[]>();
      for (const r of runs) {
        if (r.nodes !== n || r.mode !== m || r.reliability === null) continue;
        byPct.set(r.fail_pct, [...(byPct.get(r.fail_pct) ?? []), r.reliability]);
      }
      const pts = [...byPct].map(([p, v]): [number, number] => [p, v.reduce((a, b) => a + b, 0) / v.length]).sort((a, b) => a[0] - b[0]);
      const reps = Math.max(...[...byPct.values()].map((v) => v.length));
      series.push({ name: `${m}${sizes.length > 1 ? ` N=${n}` : ""}${reps > 1 ? ` (mean of ${reps} runs)` : ""}`, points: pts, markers: true });
    }
  }
  const lo = Math.min(...series.flatMap((s) => s.points.map((p) => p[1])), 0.9);
  return lineChart({
    title: `First-broadcast reliability after failures${sizes.length === 1 ? `, N=${sizes[0]}` : ""}`,
    xLabel: "% of nodes killed at once", yLabel: "live subscribers reached",
    series, xMin: 0, xMax: 100, yMin: lo < 0.8 ? 0 : Math.floor(lo * 10) / 10, yMax: 1, yFormat: percent, legend: "bottom-left",
  });
}
