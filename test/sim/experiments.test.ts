// The papers' experiments reduced to CI size (issue 12): mass failure (experiment 2,
// HyParView's main figure) and hostile nodes (experiment 5) at N=1000 on the WAN-like
// latency model, one fixed seed each, with the targets as assertions. The full
// sweeps over several seeds and their tables: docs/SIMULATION.md (npm run sim -- --seeds K).
// Each target was checked to fail with the protocol weakened (docs/SIMULATION.md says how).
// One seed is a sample, not the distribution: the 95% targets once failed on some of seeds
// 1-10 (a survivor of a young overlay ended up knowing nobody alive; a broadcast from a sparse
// fragment needed more than 5 s). They hold on all 10 now, at N = 1000 and at N = 10,000;
// docs/SIMULATION.md records the seeds, and the tests below keep the cases that failed.

import { describe, expect, test } from "bun:test";
import { parseLatency } from "../../src/sim/network.ts";
import { DEFAULT_PARAMS, type KillFigures, RECOVERY_TARGET_MS, type ScenarioParams, runScenario } from "../../src/sim/scenarios.ts";

// Hang guards, not timing assertions: the slowest test takes about 40 s alone on this machine,
// and more than twice that on a loaded one.
const LIMIT = 300_000;
const N = 1000;
const base: ScenarioParams = { ...DEFAULT_PARAMS, nodes: N, latency: parseLatency(DEFAULT_PARAMS.latency) };
/** Silent kills are noticed by keepalive (3 intervals of 5 s): the survivors must be one overlay again soon after. */
const RECONNECT_BOUND_MS = 20_000;

/** Kills `pct`% of N nodes at once, silently (crashes: peers notice only by keepalive), then 10 broadcasts a second apart. */
function massFailure(pct: number, seed = 1) {
  const { result } = runScenario({ ...base, seed, scenario: "kill", killPct: pct, silent: true, broadcasts: 10 });
  return { result, x: result.extra as KillFigures };
}

describe("experiment 2: mass failure (N=1000, silent kills; seed 1 unless named)", () => {
  test("50% killed: the first broadcast reaches >= 99% of the survivors, all of them within 5 s; the survivors stay one overlay", () => {
    const { result, x } = massFailure(50);
    expect(x.survivors).toBe(500);
    expect(x.first_broadcast_reliability).toBeGreaterThanOrEqual(0.99);
    // Every survivor is connected at the kill (each has ~15 live neighbours of 30): all of them within 5 s.
    expect(x.survivors_connected_at_kill).toBe(500);
    expect(x.recovery_ms).not.toBeNull();
    expect(x.recovery_ms!).toBeLessThanOrEqual(RECOVERY_TARGET_MS);
    expect(x.reconnected_ms).not.toBeNull();
    expect(x.reconnected_ms!).toBeLessThanOrEqual(RECONNECT_BOUND_MS);
    expect([result.components, result.isolated_nodes, result.views.active.min > 0]).toEqual([1, 0, true]);
    expect(result.duplicate_deliveries).toBe(0);
  }, LIMIT);

  test("95% killed: the first broadcast reaches >= 90% of the survivors, every connected one within 5 s; none stays isolated", () => {
    const { result, x } = massFailure(95);
    expect(x.survivors).toBe(50);
    expect(x.first_broadcast_reliability).toBeGreaterThanOrEqual(0.9);
    // The survivors fall apart into fragments (each keeps ~1.5 live neighbours of 30), and one
    // whose every neighbour died hears nothing until keepalive gives up on those links (15 s).
    // Broadcasts sent inside the largest fragment reach all of it within 5 s.
    expect(x.broadcasts_from_connected).toBeGreaterThan(0);
    expect(x.connected_reached_within_5s).toBe(1);
    // No survivor isolated for good: within a bounded time all of them are one overlay again.
    expect(x.reconnected_ms).not.toBeNull();
    expect(x.reconnected_ms!).toBeLessThanOrEqual(RECONNECT_BOUND_MS);
    expect([result.components, result.isolated_nodes, result.views.active.min > 0]).toEqual([1, 0, true]);
    expect(result.duplicate_deliveries).toBe(0);
  }, LIMIT);

  // Seed 2 (and 3, 4, 7 of 1-10) once left one survivor alone for good: 30 s after joining,
  // every address it knew (60, all in its passive view) had died, and no survivor knew it.
  // It now also keeps the addresses SHUFFLE walks carried past it (repair.ts, heardOf) and
  // dials those when it has nobody else.
  test("95% killed, seed 2: a survivor whose every known peer died finds the others through addresses it heard of", () => {
    const { result, x } = massFailure(95, 2);
    expect(x.reconnected_ms).not.toBeNull();
    expect(x.reconnected_ms!).toBeLessThanOrEqual(RECONNECT_BOUND_MS);
    expect([result.components, result.isolated_nodes, result.views.active.min > 0]).toEqual([1, 0, true]);
  }, LIMIT);
});

// The repair push (dissemination.ts): a node that had to GRAFT an item sends it in full to a
// few lazy neighbours that did not announce it, so a chain of nodes cut off from the tree is
// crossed at push speed instead of one GRAFT timeout and round trip per hop.
describe("repair push after a GRAFT", () => {
  test("95% killed, seed 10: a broadcast from a sparse 32-node fragment (17 hops) reaches all of it within 5 s", () => {
    // Without the push: 90.3% (5.8 s to the last of them).
    const { x } = massFailure(95, 10);
    expect(x.survivors_connected_at_kill).toBe(32);
    expect(x.connected_reached_within_5s).toBe(1);
  }, LIMIT);

  test("95% killed at N = 2000, seed 5: a broadcast from the sparse fragment reaches all of it within 5 s", () => {
    // Before the push went to every lazy neighbour when few announced the item, made the links
    // it took eager, and a duplicate PRUNEd a sender lazy at our end: 92.6%.
    const { result } = runScenario({ ...base, nodes: 2000, seed: 5, scenario: "kill", killPct: 95, silent: true, broadcasts: 10 });
    const x = result.extra as KillFigures;
    expect(x.survivors_connected_at_kill).toBe(69);
    expect(x.connected_reached_within_5s).toBe(1);
  }, LIMIT);

  test("rule: after a 50% kill the pushes and the links they make eager cost the first broadcast, not the ones after it", () => {
    // The first broadcast pushes to many (most GRAFTing nodes heard few announcers): RMR 10.
    // Pushed links eager at one end only, never PRUNEd: RMR 2-4 in every later round; with
    // every duplicate PRUNEing its sender, below 0.1.
    const { result, x } = massFailure(50);
    expect(x.recovery_ms!).toBeLessThanOrEqual(RECOVERY_TARGET_MS);
    const later = result.rounds.slice(1).map((r) => r.rmr);
    expect(later.length).toBe(9);
    expect(Math.max(...later)).toBeLessThan(0.5);
  }, LIMIT);
});

describe("prune deciders (src/core/deciders.ts)", () => {
  test("no GRAFT storm at 100 items/s on 50 nodes with jittery links: every item through the tree", () => {
    // With every duplicate pruning, items crossing a cycle at once cut the tree in two places,
    // and plumtree never left the GRAFT storm here: RMR 1.07, 39,645 GRAFTs, time to last
    // delivery p50 230 ms and p99 502 ms (a GRAFT timeout and more).
    const { result } = runScenario({ ...base, nodes: 50, latency: parseLatency("uniform:0.2-3"), broadcasts: 2000, intervalMs: 10 });
    expect(result.reliability).toBe(1);
    expect(result.messages_by_kind.graft ?? 0).toBeLessThan(10);
    expect(result.last_delivery_ms.p99!).toBeLessThan(100);
    expect(result.rmr).toBeLessThan(0.5);
  }, LIMIT);
});

describe("experiment 5: hostile nodes (N=1000, seed 1)", () => {
  test("30% hostile (drop items, ignore GRAFT, shuffle colluders, accept every NEIGHBOR, ask in with high priority): honest nodes get >= 99% of the items, and still do after 150 s", () => {
    // 150 broadcasts a second apart: the eclipse is slow. Before black holes that forced their
    // way in went first when room is made (Membership.evictFor), the mean still passed (99.2%)
    // but the last 20 broadcasts reached as few as 97.7% and 14 honest nodes had only hostile
    // neighbours; after 300 s, 97.9%.
    const { result } = runScenario({ ...base, scenario: "hostile", hostilePct: 30, broadcasts: 150 });
    expect(result.extra.honest_reliability as number).toBeGreaterThanOrEqual(0.99);
    expect(Math.min(...result.rounds.slice(-20).map((r) => r.reliability))).toBeGreaterThanOrEqual(0.99);
    expect([result.views.only_hostile_neighbours, result.isolated_nodes]).toEqual([0, 0]);
    expect(result.duplicate_deliveries).toBe(0);
  }, LIMIT);
});
