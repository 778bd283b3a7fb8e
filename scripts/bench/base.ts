// The no-failure experiment for one mode: settle, warm up, announce M items at a light fixed
// rate and measure reliability, RMR, LDH, latency, CPU and memory; then, if asked, step the
// announce rate up to find the highest one the network sustains.

import type { Cluster, Overlay } from "./cluster.ts";
import { total } from "./cluster.ts";
import {
  announceAtRate,
  avgActive,
  benchDegree,
  bringUp,
  counterDelta,
  emptyRun,
  errorText,
  memory,
  nodeSettings,
  sustained,
  waitItems,
  waitQuiet,
  type BenchOptions,
  type Mode,
  type Run,
  type Sent,
  type ThroughputStep,
} from "./common.ts";
import { eccentricity, lagGrowth, mean, rng, round, roundOrNull, spread } from "./metrics.ts";
import type { Detail } from "./protocol.ts";

export const PHASE_WARMUP = 1;
/** Warm-up items per second (see warmUp). */
export const WARMUP_RATE = 0.8;
export const PHASE_MEASURE = 2;
export const PHASE_FAILURE = 3;
const PHASE_THROUGHPUT = 10;

export async function warmUp(cluster: Cluster, o: BenchOptions, rand: () => number): Promise<void> {
  if (o.warmup === 0) return;
  await cluster.setPhase(PHASE_WARMUP, false);
  // 1.25 s apart: every item after the first is then a prune decider (PROTOCOL.md §6.4), and
  // the second prunes the overlay's links, all eager at first, down to a tree (at 10 items/s,
  // the rate before deciders, a tree could stay unpruned into the measured window).
  const items = await announceAtRate(cluster, PHASE_WARMUP, o.warmup, WARMUP_RATE, rand, 0);
  await waitItems(cluster, PHASE_WARMUP, items.keys(), cluster.live.size - 1, 1000, 10_000);
  await waitQuiet(cluster, 300, 5000);
}

export async function baseRun(o: BenchOptions, mode: Mode, n: number): Promise<Run> {
  const run = emptyRun(mode, "base", n, o, 0, benchDegree(n));
  const rand = rng(o.seed * 7919 + n);
  const settings = nodeSettings(mode, n, o.overrides);
  run.degree = Number(settings.degree);
  let cluster: Cluster;
  try {
    const up = await bringUp(o, n, settings);
    cluster = up.cluster;
    run.settle_ms = up.settleMs;
  } catch (e) {
    run.errors.push(errorText(e));
    return run;
  }
  try {
    run.memory_idle = memory(await cluster.stats(true), n);
    await warmUp(cluster, o, rand);

    // The overlay as it stands right before the measured broadcasts: their optimum LDH.
    const overlay = await cluster.views();
    run.avg_active_view = avgActive(overlay);
    const before = await cluster.stats();
    await cluster.setPhase(PHASE_MEASURE, true);
    const items = await announceAtRate(cluster, PHASE_MEASURE, o.messages, run.rate_per_s, rand);
    await waitItems(cluster, PHASE_MEASURE, items.keys(), n - 1, 2000, 10_000);
    const after = await waitQuiet(cluster, 300, 5000);
    const detail = (await cluster.each((w) => w.call("detail", { phase: PHASE_MEASURE }))) as Detail[];
    measure(run, items, detail, overlay, n - 1);
    run.counters = counterDelta(before, after);
    const sent = run.counters.gossipSent!;
    const nodeDeliveries = run.counters.delivered!;
    run.rmr = nodeDeliveries > 0 ? round(sent / nodeDeliveries - 1, 3) : null;
    const deliveries = detail.reduce((a, d) => a + d.deliveries.length / 3, 0);
    run.cpu_us_per_delivery = deliveries > 0 ? Math.round((total(after, "cpuUs") - total(before, "cpuUs")) / deliveries) : null;
    run.cpu_window = "measured window (light load; includes idle timers and the modules)";

    run.memory_after = memory(await cluster.stats(true), n);
    run.rss_mb_per_node = run.memory_after.per_node_mb;
    run.rss_mb_per_node_marginal = run.memory_after.per_node_marginal_mb;

    if (o.throughput) {
      run.throughput_steps = await throughput(cluster, o, n);
      const ok = run.throughput_steps.filter((s) => s.ok);
      run.throughput_announces_per_s = ok.length > 0 ? Math.max(...ok.map((s) => s.rate)) : 0;
      const best = ok.at(-1);
      if (best?.cpu_us_per_delivery != null) {
        run.cpu_us_per_delivery = best.cpu_us_per_delivery;
        run.cpu_window = `throughput step at ${best.rate} announces/s`;
      }
    }
  } catch (e) {
    run.errors.push(errorText(e));
  } finally {
    await cluster.shutdown();
  }
  return run;
}

/** Reliability, LDH and latency from every delivery of the measured items. */
export function measure(run: Run, items: ReadonlyMap<number, Sent>, detail: readonly Detail[], overlay: Overlay | null, expected: number): void {
  const lat = new Map<number, number[]>();
  const hops = new Map<number, number>();
  for (const i of items.keys()) lat.set(i, []);
  const all: number[] = [];
  for (const d of detail) {
    for (let k = 0; k < d.deliveries.length; k += 3) {
      const l = lat.get(d.deliveries[k + 1]!);
      if (!l) continue;
      l.push(d.deliveries[k + 2]!);
      all.push(d.deliveries[k + 2]!);
    }
    for (let k = 0; k < d.hops.length; k += 3) {
      const item = d.hops[k + 1]!;
      if (items.has(item)) hops.set(item, Math.max(hops.get(item) ?? 0, d.hops[k + 2]!));
    }
  }
  const m = items.size;
  run.messages = m;
  run.reliability = m > 0 && expected > 0 ? round(all.length / (m * expected), 4) : null;
  run.items_full_share = m > 0 ? round([...lat.values()].filter((l) => l.length >= expected).length / m, 4) : null;
  run.delivery_ms = spread(all);
  run.last_delivery_ms = spread([...lat.values()].filter((l) => l.length > 0).map((l) => Math.max(...l)));
  if (overlay) {
    const ldh = [...items.keys()].filter((i) => hops.has(i)).map((i) => hops.get(i)!);
    const ecc = new Map<number, number>();
    const opt = [...items.values()].map((s) => {
      if (!ecc.has(s.origin)) ecc.set(s.origin, eccentricity(overlay.adj, s.origin));
      return ecc.get(s.origin)!;
    });
    const excess = [...items].filter(([i]) => hops.has(i)).map(([i, s]) => hops.get(i)! - ecc.get(s.origin)!);
    run.ldh_max = ldh.length > 0 ? Math.max(...ldh) : null;
    run.ldh_mean = roundOrNull(mean(ldh), 2);
    run.ldh_optimal = roundOrNull(mean(opt), 2);
    run.ldh_optimal_max = opt.length > 0 ? Math.max(...opt) : null;
    run.ldh_excess_max = excess.length > 0 ? Math.max(...excess) : null;
  }
  // One broadcast for chart (a): the one with the median time to last delivery.
  const full = [...lat].filter(([, l]) => l.length > 0).sort((a, b) => Math.max(...a[1]) - Math.max(...b[1]));
  const mid = full[Math.floor(full.length / 2)];
  if (mid) {
    const sorted = [...mid[1]].sort((a, b) => a - b);
    run.curve = { item: mid[0], points: [[0, 0], ...sorted.map((t, k): [number, number] => [round(t, 3), round((k + 1) / expected, 4)])] };
  }
}

/** Steps the announce rate up; stops at the first rate the network does not sustain. */
async function throughput(cluster: Cluster, o: BenchOptions, n: number): Promise<ThroughputStep[]> {
  const steps: ThroughputStep[] = [];
  const k = cluster.workers.length;
  for (const [s, rate] of o.rates.entries()) {
    const phase = PHASE_THROUGHPUT + s;
    await cluster.setPhase(phase, false);
    const before = await waitQuiet(cluster, 300, 5000);
    const live = cluster.live.size;
    // Each worker announces from its own nodes, its share of the rate; items are seq * K + worker.
    const results = await cluster.each((w) => {
      const origins = cluster.indicesOf(w.index).filter((i) => cluster.live.has(i));
      return w.call("schedule", { phase, rate: (rate * origins.length) / live, seconds: o.throughputSeconds, origins, stride: k, offset: w.index });
    });
    const items: number[] = [];
    results.forEach((r, w) => {
      for (let q = 0; q < r.sent; q++) items.push(q * k + w);
    });
    await waitItems(cluster, phase, items, n - 1, 2000, Math.max(5000, o.lagBoundMs * 4));
    const after = await waitQuiet(cluster, 300, 5000);
    // Read again once the network is quiet: an overloaded step's last copies arrive late, not never.
    const counts = await cluster.counts(phase);
    let delivered = 0;
    let full = 0;
    const last: number[] = [];
    /** Each item's last delivery, and when it was sent as a share of its worker's step. */
    const lags: Array<{ at: number; lag: number }> = [];
    for (const i of items) {
      const c = counts.get(i);
      delivered += c?.n ?? 0;
      if ((c?.n ?? 0) >= n - 1) full++;
      if (!c) continue;
      last.push(c.maxLat);
      lags.push({ at: Math.floor(i / k) / results[i % k]!.sent, lag: c.maxLat });
    }
    const elapsed = Math.max(...results.map((r) => r.elapsedMs), 1);
    const lastSpread = spread(last);
    const growth = lagGrowth(lags);
    const behind = Math.max(...results.map((r) => r.maxBehindMs));
    const step: ThroughputStep = {
      rate,
      announced: items.length,
      achieved_rate: Math.round((items.length * 1000) / elapsed),
      reliability: items.length > 0 ? round(delivered / (items.length * (n - 1)), 4) : 0,
      items_full_share: items.length > 0 ? round(full / items.length, 4) : 0,
      last_delivery_ms: lastSpread,
      lag_growth_ms: growth,
      announcer_behind_ms: Math.round(behind),
      peer_queue_max_bytes: Math.max(...results.map((r) => r.peerQueueMaxBytes)),
      pending_verdicts_max: Math.max(...results.map((r) => r.pendingMax)),
      rate_limited: total(after, "rateLimited") - total(before, "rateLimited"),
      cpu_us_per_delivery: delivered > 0 ? Math.round((total(after, "cpuUs") - total(before, "cpuUs")) / delivered) : null,
      counters: counterDelta(before, after),
      ok: false,
    };
    const ok = sustained(step, full, o);
    steps.push({ ...step, ok });
    console.error(
      `bench:   ${rate}/s: ${ok ? "sustained" : "NOT sustained"} (reliability ${step.reliability}, last delivery p99 ${lastSpread.p99} ms max ${lastSpread.max} ms, lag growth ${growth} ms, announcer behind ${step.announcer_behind_ms} ms, ${step.counters.graftSent} GRAFTs, ${step.counters.graftDeferred} deferred, ${step.counters.graftMissed} GRAFTed ids no longer held)`,
    );
    if (!ok) break;
  }
  return steps;
}
