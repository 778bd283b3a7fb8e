// What every experiment shares: options, the shape of one result row, node settings,
// bringing a network up until its overlay has settled, and waiting on deliveries.

import { Cluster, total, type Overlay } from "./cluster.ts";
import { isConnected, pick, round, type Spread } from "./metrics.ts";
import type { NodeInfo, WorkerStats } from "./protocol.ts";

export type Mode = "plumtree" | "flood";

export interface BenchOptions {
  readonly messages: number;
  readonly procs: number;
  /** Announces per second in the measured window ("light load"); null: lightRate(N). */
  readonly rate: number | null;
  readonly warmup: number;
  readonly throughput: boolean;
  readonly throughputSeconds: number;
  readonly rates: readonly number[];
  /** --set key=value: [gossip] keys over the bench defaults. */
  readonly overrides: Readonly<Record<string, string>>;
  readonly bits: number;
  readonly payload: number;
  readonly logLevel: string;
  readonly seed: number;
  readonly settleTimeoutMs: number;
  readonly settleQuietMs: number;
  readonly recoveryTimeoutMs: number;
  /** A throughput step fails when an item's last delivery (or the announcer) lags more than this. */
  readonly lagBoundMs: number;
  readonly staggerMs: number;
  /** Where workers write CPU profiles (bun --cpu-prof), or null. */
  readonly profileDir: string | null;
}

export interface Memory {
  readonly per_process_mb: number[];
  /** Sum of the workers' RSS over the nodes they host. */
  readonly per_node_mb: number;
  /** The same without what each worker weighed before it started any node (runtime, code). */
  readonly per_node_marginal_mb: number;
}

export interface ThroughputStep {
  readonly rate: number;
  readonly announced: number;
  readonly achieved_rate: number;
  readonly reliability: number;
  readonly items_full_share: number;
  readonly last_delivery_ms: Spread;
  /** Median lag of the step's last fifth of items minus its first fifth's (see lagGrowth). */
  readonly lag_growth_ms: number | null;
  readonly announcer_behind_ms: number;
  readonly peer_queue_max_bytes: number;
  readonly pending_verdicts_max: number;
  readonly rate_limited: number;
  readonly cpu_us_per_delivery: number | null;
  readonly counters: Record<string, number>;
  readonly ok: boolean;
}

/**
 * Whether a throughput step was sustained: every item reached every subscriber (`full` of
 * them did), and neither the network nor the announcer fell behind by more than the lag bound.
 */
export function sustained(s: Omit<ThroughputStep, "ok">, full: number, o: Pick<BenchOptions, "lagBoundMs">): boolean {
  return s.announced > 0 && full === s.announced && (s.last_delivery_ms.max ?? Infinity) <= o.lagBoundMs &&
    s.announcer_behind_ms <= o.lagBoundMs;
}

export interface Run {
  mode: Mode;
  experiment: "base" | "failure";
  nodes: number;
  procs: number;
  fail_pct: number;
  /** Seed of this run's random choices (origins, victims): --seed, plus the repeat number for failures. */
  seed: number;
  messages: number;
  degree: number;
  avg_active_view: number | null;
  settle_ms: number | null;
  warmup: number;
  rate_per_s: number;
  reliability: number | null;
  items_full_share: number | null;
  rmr: number | null;
  ldh_max: number | null;
  ldh_mean: number | null;
  ldh_optimal: number | null;
  ldh_optimal_max: number | null;
  /** Largest (LDH - origin eccentricity) over items. */
  ldh_excess_max: number | null;
  delivery_ms: Spread;
  last_delivery_ms: Spread;
  throughput_announces_per_s: number | null;
  throughput_steps: ThroughputStep[] | null;
  cpu_us_per_delivery: number | null;
  /** Which window cpu_us_per_delivery comes from. */
  cpu_window: string | null;
  rss_mb_per_node: number | null;
  rss_mb_per_node_marginal: number | null;
  memory_idle: Memory | null;
  memory_after: Memory | null;
  killed: number | null;
  first_broadcast_reliability: number | null;
  /** Kill to the send of the first broadcast that reached every live subscriber. */
  recovery_ms: number | null;
  /** Kill to the last delivery of that broadcast: when 100% was first reached. */
  recovery_done_ms: number | null;
  overlay_connected_after: boolean | null;
  /** The first broadcast's origin: its active view and plumtree link split just before and after the kill. */
  origin_view: { at_kill: NodeInfo | null; after_kill: NodeInfo | null; neighbours: number; neighbours_killed: number } | null;
  /** Cumulative share of subscribers against ms for one broadcast (chart a). */
  curve: { item: number; points: [number, number][] } | null;
  counters: Record<string, number> | null;
  /** The [gossip] keys every node ran with (besides addresses and bootstrapper). */
  settings: Record<string, string>;
  errors: string[];
}

export function emptyRun(mode: Mode, experiment: Run["experiment"], nodes: number, o: BenchOptions, failPct: number, degree: number, seed = o.seed): Run {
  const none: Spread = { p50: null, p99: null, max: null };
  return {
    mode, experiment, nodes, procs: Math.min(o.procs, nodes), fail_pct: failPct, seed, messages: o.messages, degree,
    avg_active_view: null, settle_ms: null, warmup: o.warmup, rate_per_s: measuredRate(o, nodes),
    reliability: null, items_full_share: null, rmr: null, ldh_max: null, ldh_mean: null, ldh_optimal: null,
    ldh_optimal_max: null, ldh_excess_max: null, delivery_ms: none, last_delivery_ms: none,
    throughput_announces_per_s: null, throughput_steps: null, cpu_us_per_delivery: null, cpu_window: null,
    rss_mb_per_node: null, rss_mb_per_node_marginal: null, memory_idle: null, memory_after: null,
    killed: null, first_broadcast_reliability: null, recovery_ms: null, recovery_done_ms: null,
    overlay_connected_after: null, origin_view: null, curve: null, counters: null, settings: nodeSettings(mode, nodes, o.overrides), errors: [],
  };
}

/**
 * Light load for N nodes on one machine: about 2000 deliveries per second in total (a small
 * share of what 2 cores carry), so the measured window stays light whatever N is.
 */
export const LIGHT_DELIVERIES_PER_S = 2000;
export function measuredRate(o: BenchOptions, n: number): number {
  return o.rate ?? Math.max(1, Math.round(LIGHT_DELIVERIES_PER_S / Math.max(1, n - 1)));
}

/** Active view size for N nodes: about log2(N) + 1, kept within 4-8 (and below N). */
export function benchDegree(n: number): number {
  return Math.max(1, Math.min(n - 1, Math.max(4, Math.min(8, Math.round(Math.log2(n)) + 1))));
}

/** [gossip] keys every bench node runs with; --set overrides any of them. */
export function nodeSettings(mode: Mode, n: number, overrides: Readonly<Record<string, string>>): Record<string, string> {
  return {
    degree: String(benchDegree(n)),
    // Joins are cheap on purpose: the bench measures dissemination, not the join cost.
    pow_bits: "8",
    keepalive_ms: "1000",
    shuffle_interval_ms: "2000",
    // Every bench node is on 127.0.0.1: the per-address limits against one host filling our
    // views would cut a loopback network apart.
    max_conns_per_ip: "0",
    view_prefix_limit: "0",
    ...overrides,
    dissemination: mode,
  };
}

export async function bringUp(o: BenchOptions, n: number, settings: Record<string, string>): Promise<{ cluster: Cluster; settleMs: number; overlay: Overlay }> {
  const cluster = await Cluster.spawn({ nodes: n, procs: Math.min(o.procs, n), bits: o.bits, logLevel: o.logLevel, payload: o.payload, profileDir: o.profileDir });
  try {
    const t0 = performance.now();
    await cluster.start(settings, o.staggerMs);
    const overlay = await settle(cluster, o);
    return { cluster, settleMs: Math.round(performance.now() - t0), overlay };
  } catch (e) {
    await cluster.shutdown();
    throw e;
  }
}

function signature(ov: Overlay): string {
  return [...ov.adj].map(([i, s]) => `${i}:${[...s].sort((a, b) => a - b).join(",")}`).sort().join(" ");
}

/** Every live node has a neighbour and the overlay is connected, then views stop changing (bounded). */
async function settle(cluster: Cluster, o: BenchOptions): Promise<Overlay> {
  const end = performance.now() + o.settleTimeoutMs;
  let ov = await cluster.views();
  const ready = (v: Overlay) => v.adj.size === cluster.live.size && [...v.degrees.values()].every((d) => d >= 1) && isConnected(v.adj);
  while (!ready(ov)) {
    if (performance.now() > end) {
      const lonely = [...ov.degrees].filter(([, d]) => d === 0).length;
      throw new Error(`overlay did not settle within ${o.settleTimeoutMs} ms (${lonely} nodes without neighbours, connected=${isConnected(ov.adj)})`);
    }
    await Bun.sleep(200);
    ov = await cluster.views();
  }
  // Joins still in flight reshuffle views for a moment; measure on a quiet overlay if it gets one soon.
  const quietEnd = performance.now() + Math.max(5000, 5 * o.settleQuietMs);
  let sig = signature(ov);
  let since = performance.now();
  while (performance.now() - since < o.settleQuietMs && performance.now() < quietEnd) {
    await Bun.sleep(200);
    const next = await cluster.views();
    const s = signature(next);
    if (s !== sig || !ready(next)) {
      sig = s;
      since = performance.now();
    }
    ov = next;
  }
  return ov;
}

export function avgActive(ov: Overlay): number {
  const d = [...ov.degrees.values()];
  return round(d.reduce((a, b) => a + b, 0) / Math.max(1, d.length), 2);
}

export interface Sent {
  readonly origin: number;
  readonly sentAt: number;
}

/** Announces `count` items at `rate` per second from random live origins; items numbered from `first`. */
export async function announceAtRate(cluster: Cluster, phase: number, count: number, rate: number, rand: () => number, first = 0): Promise<Map<number, Sent>> {
  const live = [...cluster.live];
  const out = new Map<number, Sent>();
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    const origin = pick(rand, live);
    const item = first + i;
    pending.push(cluster.announce(origin, phase, item).then((sentAt) => void out.set(item, { origin, sentAt })));
  }
  await Promise.all(pending);
  return out;
}

/**
 * Polls delivery counts until every item reached `expected` subscribers, or nothing new arrived
 * for `quietMs`, or `deadlineMs` passed. Returns the last counts.
 */
export async function waitItems(cluster: Cluster, phase: number, items: Iterable<number>, expected: number, quietMs: number, deadlineMs: number) {
  const want = [...items];
  const end = performance.now() + deadlineMs;
  let last = -1;
  let since = performance.now();
  for (;;) {
    const counts = await cluster.counts(phase);
    if (want.every((i) => (counts.get(i)?.n ?? 0) >= expected)) return counts;
    let sum = 0;
    for (const c of counts.values()) sum += c.n;
    if (sum !== last) {
      last = sum;
      since = performance.now();
    }
    if (performance.now() - since >= quietMs || performance.now() > end) return counts;
    await Bun.sleep(100);
  }
}

/** Waits until no dissemination counter moves for `quietMs` (no item frame left in flight). */
export async function waitQuiet(cluster: Cluster, quietMs: number, deadlineMs: number): Promise<WorkerStats[]> {
  const end = performance.now() + deadlineMs;
  const key = (s: WorkerStats[]) => [total(s, "gossipSent"), total(s, "ihaveSent"), total(s, "graftSent"), total(s, "delivered")].join(",");
  let stats = await cluster.stats();
  let k = key(stats);
  let since = performance.now();
  while (performance.now() - since < quietMs && performance.now() < end) {
    await Bun.sleep(100);
    stats = await cluster.stats();
    const next = key(stats);
    if (next !== k) {
      k = next;
      since = performance.now();
    }
  }
  return stats;
}

export function memory(stats: readonly WorkerStats[], nodes: number): Memory {
  const mb = (b: number) => round(b / 2 ** 20, 2);
  return {
    per_process_mb: stats.map((s) => mb(s.rss)),
    per_node_mb: mb(total(stats, "rss") / nodes),
    per_node_marginal_mb: mb(stats.reduce((a, s) => a + s.rss - s.rssBaseline, 0) / nodes),
  };
}

/** Counter deltas over a window, summed over workers. */
export function counterDelta(a: readonly WorkerStats[], b: readonly WorkerStats[]): Record<string, number> {
  const keys = ["gossipSent", "ihaveSent", "graftSent", "graftDeferred", "graftMissed", "pruneSent", "delivered", "duplicates", "rateLimited", "dropped", "queueDropped", "badNotifications", "sealedRecords", "sealedFrames"] as const;
  return Object.fromEntries(keys.map((k) => [k, total(b, k) - total(a, k)]));
}

export function errorText(e: unknown): string {
  return (e as Error)?.message?.split("\n")[0] ?? String(e);
}
