// The steady state on the defaults (issue 12's targets for plumtree after warm-up), as a guard
// against changes that quietly rewire the tree: one once raised RMR from 0.003 to 0.22 and the
// tree depth from 13 to 28 with every rule test still green.

import { expect, test } from "bun:test";
import { parseLatency } from "../../src/sim/network.ts";
import { DEFAULT_PARAMS, runScenario } from "../../src/sim/scenarios.ts";

test("steady state, 500 nodes on the defaults, WAN latency: every broadcast reaches everyone with plumtree RMR <= 0.05", () => {
  const p = { ...DEFAULT_PARAMS, scenario: "steady" as const, nodes: 500, broadcasts: 30, latency: parseLatency("wan:10-150") };
  const { result } = runScenario(p);
  expect(result.reliability).toBe(1);
  expect(result.duplicate_deliveries).toBe(0);
  expect(result.rmr).toBeLessThanOrEqual(0.05);
  // Not the target (within 2 of the optimum, missed at 10,000 nodes): plumtree's tree
  // is 10-13 hops deep here (optimum 3-4); much deeper means links are swapped under it.
  expect(result.ldh_max).toBeLessThanOrEqual(16);
}, 60_000);
