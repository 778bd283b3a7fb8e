// Small pure helpers for the benchmark's numbers: percentiles, graph walks, a seeded RNG.

import { mulberry32 } from "../../src/util/prng.ts";

export interface Spread {
  readonly p50: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

/** Nearest-rank percentiles; nulls for an empty sample. */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { p50: null, p99: null, max: null };
  const s = [...values].sort((a, b) => a - b);
  const rank = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
  return { p50: round(rank(50), 2), p99: round(rank(99), 2), max: round(s[s.length - 1]!, 2) };
}

/**
 * How much the lag of a step's last items exceeds its first items' (ms): the median over the
 * last fifth of the step minus the median over the first fifth, `at` being when each was sent
 * as a share of the step (0 to 1). A network that keeps up holds its lag; one past its
 * capacity builds a backlog, and every item waits for the ones before it. Null when either
 * fifth has no item.
 */
export function lagGrowth(items: ReadonlyArray<{ readonly at: number; readonly lag: number }>): number | null {
  const first = spread(items.filter((i) => i.at < 0.2).map((i) => i.lag)).p50;
  const last = spread(items.filter((i) => i.at >= 0.8).map((i) => i.lag)).p50;
  return first === null || last === null ? null : round(last - first, 1);
}

export function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function roundOrNull(x: number | null, digits: number): number | null {
  return x === null || !Number.isFinite(x) ? null : round(x, digits);
}

/** Hop distances from `from` over an undirected adjacency map. */
export function bfs(adj: ReadonlyMap<number, ReadonlySet<number>>, from: number): Map<number, number> {
  const dist = new Map<number, number>([[from, 0]]);
  const queue = [from];
  for (let head = 0; head < queue.length; head++) {
    const n = queue[head]!;
    for (const m of adj.get(n) ?? []) {
      if (!dist.has(m)) {
        dist.set(m, dist.get(n)! + 1);
        queue.push(m);
      }
    }
  }
  return dist;
}

/** Largest distance from `from` to any node it reaches (the fewest hops a broadcast needs). */
export function eccentricity(adj: ReadonlyMap<number, ReadonlySet<number>>, from: number): number {
  let max = 0;
  for (const d of bfs(adj, from).values()) max = Math.max(max, d);
  return max;
}

export function isConnected(adj: ReadonlyMap<number, ReadonlySet<number>>): boolean {
  const first = adj.keys().next();
  if (first.done) return true;
  return bfs(adj, first.value).size === adj.size;
}

/** A seeded PRNG so origins and victims repeat with --seed. */
export const rng = mulberry32;

export function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

/** k distinct elements, in random order. */
export function sampleOf<T>(rand: () => number, xs: readonly T[], k: number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, Math.max(0, k));
}
