// Hostile nodes in the simulator (src/sim/hostile.ts) against the real core: the defences the
// core has today, on the virtual clock.

import { describe, expect, test } from "bun:test";
import { SILENT_AFTER_ITEMS } from "../../src/core/dissemination.ts";
import { parseLatency } from "../../src/sim/network.ts";
import { DEFAULT_PARAMS, runScenario } from "../../src/sim/scenarios.ts";

/** 80 nodes, 10% hostile, 10 broadcasts on the WAN-like latency model. */
const SMALL = { ...DEFAULT_PARAMS, scenario: "hostile" as const, nodes: 80, hostilePct: 10, broadcasts: 10, settleMs: 20_000, latency: parseLatency("wan:10-150") };

describe("hostile nodes", () => {
  test("rule: hostile nodes that flood junk items are banned by the honest nodes they reach, and honest items still get through", () => {
    const { world, result } = runScenario({ ...SMALL, hostileFlood: true });
    const hostile = world.nodes.filter((n) => !n.honest);
    const honest = world.nodes.filter((n) => n.honest);
    expect(hostile.length).toBe(8);
    // Every flooder is banned by at least one honest node (5 junk items reach the ban score).
    for (const h of hostile) expect([h.index, honest.some((n) => n.core!.scores.isBanned(h.id))]).toEqual([h.index, true]);
    expect(result.reliability).toBe(1);
    expect(result.duplicate_deliveries).toBe(0);
  }, 60_000);

  test("rule: hostile nodes are silent to their honest neighbours, also when they announce (--hostile-ihave) what they drop", () => {
    // Judged: hostile links that came up after the honest node's first item and have seen
    // SILENT_AFTER_ITEMS items since. Each of them is silent.
    const judged = (hostileIhave: boolean) => {
      const { world } = runScenario({ ...SMALL, hostileIhave });
      const hostile = new Set(world.nodes.filter((n) => !n.honest).map((n) => n.id));
      let links = 0;
      let silent = 0;
      for (const n of world.nodes.filter((x) => x.honest)) {
        const d = n.core!.dissemination;
        for (const x of n.core!.membership.active.values()) {
          if (!hostile.has(x.id) || x.deliveredAtUp === 0 || d.stats.delivered - x.deliveredAtUp < SILENT_AFTER_ITEMS) continue;
          links++;
          if (d.silent(x)) silent++;
        }
      }
      return { links, silent };
    };
    for (const announce of [false, true]) {
      const { links, silent } = judged(announce);
      expect([announce, links > 0, silent]).toEqual([announce, true, links]);
    }
  }, 60_000);
});
