// When the benchmark counts a throughput step as sustained (scripts/bench/common.ts, sustained),
// and the lag growth it reports per step (scripts/bench/metrics.ts, lagGrowth): how much later
// a step's last items arrived than its first, a backlog building up.

import { expect, test } from "bun:test";
import { sustained, type ThroughputStep } from "../../scripts/bench/common.ts";
import { lagGrowth } from "../../scripts/bench/metrics.ts";

/** n items sent evenly over a step, the lag of each given by its share of the step. */
const step = (n: number, lag: (at: number) => number) => Array.from({ length: n }, (_, i) => ({ at: i / n, lag: lag(i / n) }));

test("a steady lag does not grow, whatever its level and noise", () => {
  expect(lagGrowth(step(100, () => 80))).toBe(0);
  // A GRAFT repair now and then (every tenth item 400 ms late) moves neither median.
  expect(lagGrowth(step(100, (at) => (Math.round(at * 100) % 10 === 3 ? 480 : 80)))).toBe(0);
});

test("a backlog that grows through the step shows as the last fifth's median over the first's", () => {
  // Lag rising 1 s over the step: first fifth's median ~100 ms (at ~0.1), last fifth's ~900 ms.
  const g = lagGrowth(step(100, (at) => 1000 * at))!;
  expect(g).toBeGreaterThanOrEqual(790);
  expect(g).toBeLessThanOrEqual(810);
  // Only the ends count, in send order, not in the order the items are listed.
  expect(lagGrowth(step(100, (at) => 1000 * at).reverse())).toBe(g);
  // A lag that fell (a burst at the start that cleared) is negative growth, not a backlog.
  expect(lagGrowth(step(100, (at) => 1000 * (1 - at)))).toBeLessThan(0);
});

test("no figure without items at both ends of the step", () => {
  expect(lagGrowth([])).toBeNull();
  expect(lagGrowth(step(100, () => 5).filter((i) => i.at < 0.5))).toBeNull();
  expect(lagGrowth(step(100, () => 5).filter((i) => i.at >= 0.5))).toBeNull();
});

const o = { lagBoundMs: 2000 };
const good: Omit<ThroughputStep, "ok"> = {
  rate: 1500, announced: 7500, achieved_rate: 1500, reliability: 1, items_full_share: 1,
  last_delivery_ms: { p50: 60, p99: 180, max: 640 }, lag_growth_ms: 12, announcer_behind_ms: 40,
  peer_queue_max_bytes: 0, pending_verdicts_max: 30, rate_limited: 0, cpu_us_per_delivery: 27, counters: {},
};

test("a step is sustained when every item reached every subscriber within the lag bound", () => {
  expect(sustained(good, 7500, o)).toBe(true);
  expect(sustained({ ...good, last_delivery_ms: { p50: 60, p99: 180, max: 2000 }, announcer_behind_ms: 2000 }, 7500, o)).toBe(true);
});

test("an item short of a subscriber, a lag past the bound, a late announcer, or no item fails it", () => {
  expect(sustained(good, 7499, o)).toBe(false);
  expect(sustained({ ...good, last_delivery_ms: { p50: 60, p99: 180, max: 2001 } }, 7500, o)).toBe(false);
  expect(sustained({ ...good, last_delivery_ms: { p50: null, p99: null, max: null } }, 7500, o)).toBe(false);
  expect(sustained({ ...good, announcer_behind_ms: 2001 }, 7500, o)).toBe(false);
  expect(sustained({ ...good, announced: 0 }, 0, o)).toBe(false);
});
