// Advertised addresses are claims until proven (issue 10): a node proves an address by dialling
// it and finding the identity that advertised it there. Only proven addresses go out in
// FORWARD_JOIN walks, SHUFFLEs and SHUFFLE_REPLYs; an unproven one is at most dialled by the
// node itself. On the
// simulator's virtual clock, with probes that claim other addresses (test/helpers/sim-probe.ts).
// Each test fails when its rule is deleted from the source.

import { describe, expect, test } from "bun:test";
import { ARWL } from "../../src/core/membership.ts";
import type { SimNode } from "../../src/sim/world.ts";
import { Probe, nowhere, quietWorld, runUntil } from "../helpers/sim-probe.ts";

const entry = (a: SimNode, p: Probe) => a.core!.membership.active.get(p.id);

describe("JOIN: the contact checks the joiner's address before its walks", () => {
  test("rule: FORWARD_JOIN walks go out only once the contact has dialled the joiner's address and found the joiner there", () => {
    const w = quietWorld();
    const a = w.addNode(null);
    const [other, joiner] = [new Probe(w, 1), new Probe(w, 2)];
    other.join(a);
    runUntil(w, () => entry(a, other)?.verified === true, 100, "other's own JOIN check is done");
    joiner.join(a);
    expect(entry(a, joiner)?.verified).toBe(false);
    runUntil(w, () => joiner.accepted.length > 0, 100, "a dials the joiner's address");
    expect(joiner.accepted.map((l) => l.id)).toEqual([a.id]);
    expect(other.of("forward_join")).toEqual([]);
    runUntil(w, () => other.of("forward_join").length > 0, 100, "the walk reaches other");
    expect(other.of("forward_join")).toEqual([{ kind: "forward_join", ttl: ARWL, peer: { addr: joiner.addr } }]);
    expect(entry(a, joiner)?.verified).toBe(true);
    // The check's link is closed once done; the joiner's JOIN link stays.
    runUntil(w, () => joiner.closed.has(joiner.accepted[0]!), 100, "the check's link closes");
    expect(joiner.isOpen(joiner.links[0]!)).toBe(true);
  });

  for (const where of ["another node", "nobody"] as const) {
    test(`rule: a joiner claiming an address where ${where} answers gets no walks`, () => {
      const w = quietWorld();
      const a = w.addNode(null);
      const other = new Probe(w, 1);
      const owner = new Probe(w, 3);
      other.join(a);
      w.run(50);
      const claimed = where === "nobody" ? nowhere(1) : owner.addr;
      const liar = new Probe(w, 2, { claims: claimed });
      liar.join(a);
      expect(entry(a, liar)?.addr).toBe(claimed);
      w.run(500);
      if (where === "another node") expect(owner.accepted.map((l) => l.id)).toEqual([a.id]);
      expect(other.of("forward_join")).toEqual([]);
      expect(entry(a, liar)?.verified).toBe(false);
      expect(a.core!.membership.tableSizes.checking).toBe(0);
    });
  }
});

describe("unproven addresses are not passed on", () => {
  test("rule: a lost incoming neighbour's unproven address is kept for our own dials, but never sent in a SHUFFLE_REPLY; a proven one is", () => {
    const w = quietWorld({ keepalive_ms: "200" });
    const a = w.addNode(null);
    const [honest, liar, asker] = [new Probe(w, 1), new Probe(w, 2, { claims: nowhere(7) }), new Probe(w, 3)];
    honest.join(a);
    liar.join(a);
    w.run(100);
    expect([entry(a, honest)?.verified, entry(a, liar)?.verified]).toEqual([true, false]);
    honest.kill();
    liar.kill();
    runUntil(w, () => a.core!.membership.active.size === 0, 1000, "both are gone");
    const passive = a.core!.membership.passive;
    expect([passive.has(honest.addr), passive.has(nowhere(7))]).toEqual([true, true]);
    // A walk that ends at a is answered from a's passive view: everything but the claim.
    const l = asker.join(a);
    const offered = [1, 2, 3, 4, 5, 6].map((k) => ({ addr: nowhere(100 + k) }));
    asker.send(l, { kind: "shuffle", id: 9n, ttl: 1, peers: offered });
    runUntil(w, () => asker.of("shuffle_reply").length > 0, 100, "the walk is answered");
    const replied = asker.of("shuffle_reply")[0]!.peers.map((r) => r.addr);
    expect(replied).toContain(honest.addr);
    expect(replied).not.toContain(nowhere(7));
  });

  test("rule: a node's SHUFFLE carries its proven neighbours' addresses, never an unproven one", () => {
    const w = quietWorld({ shuffle_interval_ms: "200" });
    const a = w.addNode(null);
    const probes = [new Probe(w, 1), new Probe(w, 2), new Probe(w, 3), new Probe(w, 4, { claims: nowhere(8) })];
    for (const p of probes) p.join(a);
    w.run(100);
    expect(probes.map((p) => entry(a, p)?.verified)).toEqual([true, true, true, false]);
    w.run(4000);
    const carried = new Set(probes.flatMap((p) => p.of("shuffle").flatMap((m) => m.peers.map((r) => r.addr))));
    expect(probes.slice(0, 3).every((p) => carried.has(p.addr))).toBe(true);
    expect(carried.has(nowhere(8))).toBe(false);
  });
});
