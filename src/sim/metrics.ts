// What the papers report, computed from a World: per-broadcast reliability, RMR and LDH,
// latency percentiles, overlay components and view sizes.

import type { Broadcast, SimNode, World } from "./world.ts";

export interface Round {
  /** Virtual ms since the run began when the item was announced. */
  readonly at: number;
  readonly origin: number;
  /** Delivered / expected (live subscribers other than the origin). */
  readonly reliability: number;
  /** Relative message redundancy: item copies received / nodes reached - 1. */
  readonly rmr: number;
  /** Largest hop count of a delivery (last delivery hop). */
  readonly ldh: number;
  /** The same for shortest paths over the active views at announce time (BFS). */
  readonly ldh_optimal: number;
  /** Virtual ms from announce to the last delivery. */
  readonly last_delivery_ms: number;
}

export function round(w: World, b: Broadcast): Round {
  let delivered = 0;
  let ldh = 0;
  let last = 0;
  for (const [i, g] of b.got) {
    if (!b.expected.has(i)) continue;
    delivered++;
    if (g.hops > ldh) ldh = g.hops;
    if (g.at - b.at > last) last = g.at - b.at;
  }
  const copies = w.net.stats.gossipByItem.get(b.key) ?? 0;
  const reached = b.got.size;
  return {
    at: b.at,
    origin: b.origin,
    reliability: b.expected.size === 0 ? 1 : delivered / b.expected.size,
    rmr: reached === 0 ? 0 : copies / reached - 1,
    ldh,
    ldh_optimal: b.optimalMax,
    last_delivery_ms: last,
  };
}

/**
 * Reliability of `b` over a subset of nodes (e.g. the honest survivors of one component),
 * counting only deliveries up to virtual time `until` (default: all of them).
 */
export function reachOf(b: Broadcast, among: ReadonlySet<number>, until = Infinity): number {
  let want = 0;
  let got = 0;
  for (const i of among) {
    if (i === b.origin || !b.expected.has(i)) continue;
    want++;
    const g = b.got.get(i);
    if (g && g.at <= until) got++;
  }
  return want === 0 ? 1 : got / want;
}

export function percentiles(values: readonly number[]): { p50: number; p90: number; p99: number; max: number } {
  if (values.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0 };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1]! };
}

/** Connected components of the live honest nodes over active links (either direction). */
export function components(w: World, nodes: readonly SimNode[] = w.nodes): number[][] {
  const live = nodes.filter((n) => n.alive && n.honest);
  const parent = new Map<number, number>(live.map((n) => [n.index, n.index]));
  const find = (x: number): number => {
    let r = x;
    while (parent.get(r)! !== r) r = parent.get(r)!;
    while (parent.get(x)! !== r) {
      const nx = parent.get(x)!;
      parent.set(x, r);
      x = nx;
    }
    return r;
  };
  const byId = w.idIndex();
  for (const n of live) {
    for (const id of n.activeIds()) {
      const m = byId.get(id);
      if (!m || !parent.has(m.index)) continue;
      const a = find(n.index);
      const b = find(m.index);
      if (a !== b) parent.set(a, b);
    }
  }
  const groups = new Map<number, number[]>();
  for (const n of live) {
    const r = find(n.index);
    let g = groups.get(r);
    if (!g) groups.set(r, (g = []));
    g.push(n.index);
  }
  return [...groups.values()].sort((a, b) => b.length - a.length || a[0]! - b[0]!);
}

export interface ViewStats {
  readonly active: { min: number; mean: number; max: number; histogram: Record<string, number> };
  readonly passive: { min: number; mean: number; max: number };
  /** Honest live nodes whose active view holds hostile nodes only (or nothing). */
  readonly only_hostile_neighbours: number;
}

export function viewStats(w: World): ViewStats {
  const live = w.nodes.filter((n) => n.alive && n.honest);
  const byId = w.idIndex();
  const a = live.map((n) => n.core!.membership.active.size);
  const p = live.map((n) => n.core!.membership.passive.size);
  const hist: Record<string, number> = {};
  for (const x of a) hist[x] = (hist[x] ?? 0) + 1;
  let onlyHostile = 0;
  for (const n of live) if (!n.activeIds().some((id) => byId.get(id)?.honest && byId.get(id)?.alive)) onlyHostile++;
  const stat = (v: number[]) => ({
    min: v.reduce((m, x) => Math.min(m, x), v.length ? Infinity : 0),
    mean: v.length ? round3(v.reduce((s, x) => s + x, 0) / v.length) : 0,
    max: v.reduce((m, x) => Math.max(m, x), 0),
  });
  return { active: { ...stat(a), histogram: hist }, passive: stat(p), only_hostile_neighbours: onlyHostile };
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
