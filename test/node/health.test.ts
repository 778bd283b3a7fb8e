// The connectivity story in the log: on a virtual clock (every line and its timing), then on
// two real nodes (joined, lost the last neighbour).

import { afterEach, expect, test } from "bun:test";
import { HealthWatch } from "../../src/node/health.ts";
import { SimClock } from "../../src/sim/clock.ts";
import { Logger, memoryLogger } from "../../src/util/log.ts";
import { startNode, testKeys, until } from "../helpers/testnet.ts";
import type { GossipNode } from "../../src/node/node.ts";

const started: GossipNode[] = [];
afterEach(() => {
  for (const n of started.splice(0)) n.stop();
});


test("joined, lost the last neighbour, alone warnings with doubling gaps, back", () => {
  const clock = new SimClock();
  // Each line as `t=VIRTUAL_SECONDS LEVEL scope message fields` (the wall-clock time dropped).
  const lines: string[] = [];
  const log = new Logger("info", "gossip", (l) => lines.push(`t=${clock.now() / 1000} ${l.split(" ").slice(1).join(" ")}`));
  let n = 0;
  const w = new HealthWatch({ neighbours: () => n, expectsPeers: true, env: clock.env(1), log, aloneMs: 10_000, maxGapMs: 40_000 });
  clock.run(2_000);
  n = 2;
  clock.run(5_000);
  n = 0;
  clock.run(200_000);
  n = 1;
  clock.run(2_000);
  w.stop();
  clock.run(100_000);
  expect(lines).toEqual([
    "t=3 INFO gossip joined the overlay neighbours=2",
    "t=8 WARN gossip lost the last neighbour: rejoining through the passive view or the bootstrapper",
    "t=18 WARN gossip no neighbour for_s=10 next_warning_in_s=20",
    "t=38 WARN gossip no neighbour for_s=30 next_warning_in_s=40",
    "t=78 WARN gossip no neighbour for_s=70 next_warning_in_s=40",
    "t=118 WARN gossip no neighbour for_s=110 next_warning_in_s=40",
    "t=158 WARN gossip no neighbour for_s=150 next_warning_in_s=40",
    "t=198 WARN gossip no neighbour for_s=190 next_warning_in_s=40",
    "t=208 INFO gossip neighbours back neighbours=1 alone_s=200",
  ]);
});

test("a first peer (no bootstrapper) alone is not a warning", () => {
  const clock = new SimClock();
  const { log, lines } = memoryLogger("debug");
  const w = new HealthWatch({ neighbours: () => 0, expectsPeers: false, env: clock.env(1), log });
  clock.run(3_600_000);
  w.stop();
  expect(lines).toEqual([]);
});

test("two real nodes: the first peer logs that it joined, and warns when the other stops", async () => {
  const [ka, kb] = await testKeys(2);
  const la = memoryLogger("info");
  const a = startNode({ hostkey: ka!, log: la.log });
  const b = startNode({ hostkey: kb!, bootstrapper: a.p2pAddress });
  started.push(a, b);
  await until(() => la.lines.some((l) => l.includes("joined the overlay neighbours=1")), 5000, "a logs joined");
  b.stop();
  await until(() => la.lines.some((l) => l.includes("WARN") && l.includes("lost the last neighbour")), 5000, "a warns");
});
