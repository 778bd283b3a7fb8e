// Item rate rules (peer_items_per_s, docs/PROTOCOL.md §5.13 and §6.8), on the simulator's
// virtual clock: one real node and probes. A node never sends more copies a second on one link
// than a neighbour on its settings accepts, so a burst from a local module cannot get it banned;
// and a neighbour that arrives bunched is forgiven up to one second's worth of items. Each test
// fails when its rule is deleted from the source.

import { describe, expect, test } from "bun:test";
import { DATA_TYPE } from "../../src/sim/world.ts";
import { makeItem } from "../helpers/items.ts";
import { Probe, quietWorld, runUntil } from "../helpers/sim-probe.ts";

const RATE = 10; // peer_items_per_s

const item = (n: number) => makeItem({ salt: n, ttl: 5, dataType: DATA_TYPE, data: new Uint8Array([n & 255, n >> 8]) });

describe("peer_items_per_s", () => {
  /** A node with one neighbour (a probe), and a local burst of n items. */
  function burst(n: number) {
    const lines: string[] = [];
    const w = quietWorld({ peer_items_per_s: String(RATE), offer_recent_ms: "0" }, { lines });
    const a = w.addNode(null);
    const p = new Probe(w, 1);
    p.join(a);
    for (let i = 0; i < n; i++) a.core!.announce(3, DATA_TYPE, new Uint8Array([i]));
    const got = () => p.of("gossip").map((g) => g.data[0]);
    return { w, a, got, lines };
  }

  test("rule: a node sends at most peer_items_per_s copies a second on one link: a burst beyond it waits for the budget and goes out, in order, as it refills", () => {
    const { w, a, got } = burst(3 * RATE);
    w.run(50);
    expect(got()).toEqual([...Array(RATE).keys()]);
    w.run(1000);
    expect(got().length).toBe(2 * RATE);
    w.run(1000);
    expect(got()).toEqual([...Array(3 * RATE).keys()]);
    expect(a.core!.dissemination.stats.paced).toBe(0);
  });

  test("rule: at most two seconds' worth of copies wait; past that a copy is skipped (counted, logged)", () => {
    const { w, a, got, lines } = burst(5 * RATE);
    w.run(3000);
    expect(got()).toEqual([...Array(3 * RATE).keys()]);
    expect(a.core!.dissemination.stats.paced).toBe(2 * RATE);
    expect(lines.filter((l) => l.includes("item copies dropped: link at peer_items_per_s"))).not.toHaveLength(0);
  });

  test("rule: copies waiting for a neighbour that goes away are dropped with it", () => {
    const { w, a } = burst(3 * RATE);
    w.run(50);
    expect(a.core!.dissemination.tableSizes.paced).toBe(2 * RATE);
    for (const peer of [...a.core!.membership.active.values()]) peer.link.close("test: gone", false);
    w.run(10);
    expect(a.core!.dissemination.tableSizes.paced).toBe(0);
  });

  test("rule: items over a neighbour's rate are dropped; the first second's worth of them costs it nothing, each one past that 2 points", () => {
    const w = quietWorld({ peer_items_per_s: String(RATE) });
    const a = w.addNode(null);
    a.policy = "none"; // no module subscribed: an item neither earns nor costs its sender points by itself
    const p = new Probe(w, 1);
    const link = p.join(a);
    const score = () => a.core!.scores.score(p.id);
    let n = 0;
    const send = (k: number) => {
      for (let i = 0; i < k; i++) p.send(link, item(++n));
      w.run(20);
    };
    send(RATE); // the bucket's burst
    send(RATE); // dropped, forgiven: bunched up by the network or our own busy loop
    expect([a.core!.dissemination.stats.rateLimited, score()]).toEqual([RATE, 0]);
    send(5); // past the slack: 2 points each
    expect([a.core!.dissemination.stats.rateLimited, score()]).toEqual([RATE + 5, -10]);
    // The slack refills at a tenth of the rate: 5 s later, half a second's worth is forgiven.
    w.run(5000);
    send(2 * RATE);
    expect(score()).toBe(-10 - 2 * (RATE / 2));
    // A flood is banned all the same.
    send(100);
    runUntil(w, () => a.core!.scores.isBanned(p.id), 1000, "the flooder is banned");
  });
});
