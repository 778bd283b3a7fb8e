// Several seeds of one scenario, summarised: the median, min and max of every numeric figure
// of the results (issue 12: "several seeds where noise matters"), and a markdown table of the
// figures each scenario is judged by, for docs/SIMULATION.md.

import type { ScenarioName } from "./scenarios.ts";

export interface Spread {
  readonly median: number | null;
  readonly min: number | null;
  readonly max: number | null;
  /** Per seed, in order of the seeds (null: the run had no such figure, e.g. never recovered). */
  readonly values: readonly (number | null)[];
}

/** Numeric leaves of a results object by dotted path (`last_delivery_ms.p50`, `extra.recovery_ms`); null leaves are kept. */
export function flatten(o: unknown, prefix = "", out: Record<string, number | null> = {}): Record<string, number | null> {
  if (o === null) {
    if (prefix) out[prefix] = null;
    return out;
  }
  if (typeof o === "number") {
    out[prefix] = o;
    return out;
  }
  if (typeof o !== "object" || Array.isArray(o)) return out;
  for (const [k, v] of Object.entries(o)) {
    // Per-broadcast rounds, message counts by kind and histograms are series, not figures.
    if (k === "rounds" || k === "messages_by_kind" || k === "histogram" || k === "params") continue;
    flatten(v, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}

export function median(v: readonly number[]): number | null {
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median, min and max of every figure over the runs (one results object per seed). */
export function summarise(runs: readonly unknown[]): Record<string, Spread> {
  const flat = runs.map((r) => flatten(r));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const out: Record<string, Spread> = {};
  for (const k of keys) {
    const values = flat.map((f) => (k in f ? f[k]! : null));
    const nums = values.filter((x): x is number => x !== null);
    out[k] = {
      median: median(nums),
      min: nums.length ? Math.min(...nums) : null,
      max: nums.length ? Math.max(...nums) : null,
      values,
    };
  }
  return out;
}

/** The figures a scenario is judged by (columns of its table), with a header and a format each. */
export function columns(scenario: ScenarioName): Array<{ key: string; head: string; fmt: (x: number) => string }> {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const ms = (x: number) => `${Math.round(x)}`;
  const n3 = (x: number) => `${Math.round(x * 1000) / 1000}`;
  const int = (x: number) => `${Math.round(x * 10) / 10}`;
  const common = [
    { key: "reliability", head: "reliability", fmt: pct },
    { key: "rmr", head: "RMR", fmt: n3 },
    { key: "ldh_max", head: "LDH", fmt: int },
    { key: "ldh_optimal_max", head: "BFS opt.", fmt: int },
    { key: "last_delivery_ms.p50", head: "last delivery p50 ms", fmt: ms },
    { key: "last_delivery_ms.p99", head: "p99 ms", fmt: ms },
  ];
  const tail = [{ key: "wall_ms", head: "wall s", fmt: (x: number) => `${Math.round(x / 100) / 10}` }];
  switch (scenario) {
    case "kill":
      return [
        { key: "extra.first_broadcast_reliability", head: "1st broadcast", fmt: pct },
        { key: "extra.first_broadcast_reliability_5s", head: "1st within 5 s", fmt: pct },
        { key: "extra.survivors_connected_at_kill", head: "connected at kill", fmt: int },
        { key: "extra.survivors", head: "survivors", fmt: int },
        { key: "extra.connected_reached_within_5s", head: "connected reached within 5 s", fmt: pct },
        { key: "extra.recovery_ms", head: "all survivors reached, ms", fmt: ms },
        { key: "extra.reconnected_ms", head: "one overlay again, ms", fmt: ms },
        { key: "isolated_nodes", head: "isolated at end", fmt: int },
        ...common.slice(0, 2),
        ...tail,
      ];
    case "hostile":
      return [
        { key: "extra.honest_reliability", head: "honest reliability", fmt: pct },
        { key: "views.only_hostile_neighbours", head: "honest with only hostile neighbours", fmt: int },
        { key: "isolated_nodes", head: "honest outside the largest component", fmt: int },
        ...common.slice(1),
        ...tail,
      ];
    default:
      return [...common, { key: "control_messages_per_node", head: "control msgs/node", fmt: (x) => `${Math.round(x)}` }, ...tail];
  }
}

/** "median (min–max)", or one value when all seeds agree; "never" for a run without the figure. */
export function cell(s: Spread | undefined, fmt: (x: number) => string): string {
  if (!s) return "–";
  if (s.median === null) return s.values.length > 0 ? "never" : "–";
  const nulls = s.values.filter((v) => v === null).length;
  const body = fmt(s.min!) === fmt(s.max!) ? fmt(s.median) : `${fmt(s.median)} (${fmt(s.min!)}–${fmt(s.max!)})`;
  return nulls > 0 ? `${body}, never in ${nulls} of ${s.values.length}` : body;
}

/** A markdown table: one row per labelled summary. */
export function table(scenario: ScenarioName, rows: ReadonlyArray<{ label: string; spread: Record<string, Spread> }>, first = "run"): string {
  const cols = columns(scenario);
  const lines = [`| ${first} | ${cols.map((c) => c.head).join(" | ")} |`, `|${"---|".repeat(cols.length + 1)}`];
  for (const r of rows) lines.push(`| ${r.label} | ${cols.map((c) => cell(r.spread[c.key], c.fmt)).join(" | ")} |`);
  return lines.join("\n") + "\n";
}
