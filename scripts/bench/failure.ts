// The failure experiment: on a settled, warmed-up network, stop PCT% of the nodes at once
// (never the origins), announce at once, then one item every ~100 ms until one reaches every
// live subscriber. Reports first-broadcast reliability, the recovery time and whether the
// surviving overlay is connected.

import { PHASE_FAILURE, measure, warmUp } from "./base.ts";
import type { Cluster } from "./cluster.ts";
import {
  avgActive,
  benchDegree,
  bringUp,
  counterDelta,
  emptyRun,
  errorText,
  memory,
  nodeSettings,
  waitItems,
  waitQuiet,
  type BenchOptions,
  type Mode,
  type Run,
  type Sent,
} from "./common.ts";
import { isConnected, rng, round, sampleOf } from "./metrics.ts";
import type { Detail } from "./protocol.ts";

const PROBE_EVERY_MS = 100;
/** How long to keep listening once some broadcast reached everybody (earlier ones may still complete). */
const GRACE_MS = 300;

export async function failureRun(o: BenchOptions, mode: Mode, n: number, pct: number, seed: number): Promise<Run> {
  const run = emptyRun(mode, "failure", n, o, pct, benchDegree(n), seed);
  const rand = rng(seed * 104729 + n * 101 + pct);
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
    run.avg_active_view = avgActive(await cluster.views());

    // Origins are chosen first and spared; at least one subscriber besides the origin survives.
    const all = [...cluster.live];
    const kill = Math.min(Math.round((n * pct) / 100), n - 2);
    const origins = sampleOf(rand, all, Math.max(1, Math.min(3, n - kill)));
    const victims = sampleOf(rand, all.filter((i) => !origins.includes(i)), kill);
    run.killed = victims.length;

    await cluster.setPhase(PHASE_FAILURE, true);
    const before = await cluster.stats();
    const origin = origins[0]!;
    const inspect = () => cluster.workerOf(origin).call("inspect", { idx: origin });
    const pre = await cluster.views();
    const atKill = await inspect();
    const killAt = await cluster.kill(victims);
    const afterKill = await inspect();
    const expected = cluster.live.size - 1;
    const items = new Map<number, Sent>();
    const send = async (item: number) => {
      const from = origins[item % origins.length]!;
      items.set(item, { origin: from, sentAt: await cluster.announce(from, PHASE_FAILURE, item) });
    };
    await send(0);
    const nb = [...(pre.adj.get(origin) ?? [])];
    run.origin_view = { at_kill: atKill, after_kill: afterKill, neighbours: nb.length, neighbours_killed: nb.filter((i) => victims.includes(i)).length };

    const end = performance.now() + o.recoveryTimeoutMs;
    let next = 1;
    let lastSend = performance.now();
    let graceFrom: number | null = null;
    while (performance.now() < end) {
      const counts = await cluster.counts(PHASE_FAILURE);
      const someFull = [...items.keys()].some((i) => (counts.get(i)?.n ?? 0) >= expected);
      if (someFull) graceFrom ??= performance.now();
      if (graceFrom !== null && performance.now() - graceFrom >= GRACE_MS) break;
      if (graceFrom === null && performance.now() - lastSend >= PROBE_EVERY_MS) {
        lastSend = performance.now();
        await send(next++);
      }
      await Bun.sleep(20);
    }
    // Late copies (GRAFTs, repaired links) still count for the broadcasts already made.
    const counts = await waitItems(cluster, PHASE_FAILURE, items.keys(), expected, 1000, 3000);
    const after = await waitQuiet(cluster, 300, 3000);
    const detail = (await cluster.each((w) => w.call("detail", { phase: PHASE_FAILURE }))) as Detail[];

    measure(run, items, detail, null, expected);
    const first = counts.get(0)?.n ?? 0;
    run.first_broadcast_reliability = expected > 0 ? round(first / expected, 4) : null;
    run.reliability = run.first_broadcast_reliability;
    const full = [...items].filter(([i]) => (counts.get(i)?.n ?? 0) >= expected).sort((a, b) => a[1].sentAt - b[1].sentAt)[0];
    if (full) {
      run.recovery_ms = round(full[1].sentAt - killAt, 1);
      run.recovery_done_ms = round(full[1].sentAt + counts.get(full[0])!.maxLat - killAt, 1);
    }
    run.counters = counterDelta(before, after);
    const nodeDeliveries = run.counters.delivered!;
    run.rmr = nodeDeliveries > 0 ? round(run.counters.gossipSent! / nodeDeliveries - 1, 3) : null;
    // The first broadcast is the one chart (a) would show for this run.
    const firstOnly = new Map([[0, items.get(0)!]]);
    const probe = structuredClone(run);
    measure(probe, firstOnly, detail, null, expected);
    run.curve = probe.curve;

    const ov = await cluster.views();
    run.overlay_connected_after = ov.adj.size === cluster.live.size && isConnected(ov.adj);
    run.memory_after = memory(await cluster.stats(true), n);
    run.rss_mb_per_node = run.memory_after.per_node_mb;
    run.rss_mb_per_node_marginal = run.memory_after.per_node_marginal_mb;
  } catch (e) {
    run.errors.push(errorText(e));
  } finally {
    await cluster.shutdown();
  }
  return run;
}
