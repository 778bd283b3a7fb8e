// HyParView membership rules, one test each, on the simulator's virtual clock: real protocol
// cores (src/core/) in a small World, and hand-driven probes (test/helpers/sim-probe.ts)
// that send exactly the message a rule is about and record what comes back. No sockets, no
// sleeps; every run is the same run. Each test fails when its rule is deleted or altered in
// the source (the mutation each one catches is listed in the commit that added it).

import { describe, expect, test } from "bun:test";
import { idKey } from "../../src/core/caches.ts";
import { ARWL, PRWL } from "../../src/core/membership.ts";
import { DATA_TYPE, type SimNode } from "../../src/sim/world.ts";
import type { Gossip } from "../../src/wire/p2p.ts";
import { makeItem } from "../helpers/items.ts";
import { LATENCY, Probe, nowhere, quietWorld, runTo, runUntil } from "../helpers/sim-probe.ts";

const activeIds = (n: SimNode) => new Set(n.core!.membership.active.keys());

describe("JOIN", () => {
  test("rule: a joiner and its bootstrapper are neighbours; the bootstrapper sends FORWARD_JOIN with ttl ARWL to its other neighbours", () => {
    const w = quietWorld();
    const a = w.addNode(null);
    const p = new Probe(w, 1);
    p.join(a);
    const b = w.addNode(a);
    runUntil(w, () => activeIds(a).has(b.id) && activeIds(b).has(a.id), 200, "b and a are neighbours");
    w.run(50);
    expect(ARWL).toBe(6);
    expect(p.of("forward_join")).toEqual([{ kind: "forward_join", ttl: ARWL, peer: { addr: b.addr } }]);
    expect(activeIds(a)).toEqual(new Set([p.id, b.id]));
    expect(activeIds(b)).toEqual(new Set([a.id]));
  });
});

describe("FORWARD_JOIN", () => {
  test("rule: a walk with ttl t > 0 goes on with ttl t - 1 to a neighbour that is neither the sender nor the joiner", () => {
    const w = quietWorld();
    const a = w.addNode(null);
    const [from, other, joiner] = [new Probe(w, 1), new Probe(w, 2), new Probe(w, 3)];
    const link = from.join(a);
    other.join(a);
    joiner.join(a);
    w.run(50); // the walks of these joins follow the checks of their addresses (a handshake)
    const seen = [from, other, joiner].map((p) => p.of("forward_join").length);
    // Every ttl the walk may have, three times over: with the sender and the joiner left out,
    // `other` is the only neighbour it may go to.
    const ttls = [6, 5, 4, 3, 2, 1, 6, 5, 4, 3, 2, 1, 6, 5, 4, 3, 2, 1];
    for (const ttl of ttls) from.send(link, { kind: "forward_join", ttl, peer: { addr: joiner.addr } });
    w.run(50);
    expect(from.of("forward_join").length).toBe(seen[0]!);
    expect(joiner.of("forward_join").length).toBe(seen[2]!);
    const walked = other.of("forward_join").slice(seen[1]!);
    expect(walked.map((m) => m.ttl)).toEqual(ttls.map((t) => t - 1));
    expect(walked.every((m) => m.peer.addr === joiner.addr)).toBe(true);
  });

  test("rule: at ttl 0 the node dials the joiner and asks NEIGHBOR with high priority", () => {
    const w = quietWorld();
    const a = w.addNode(null);
    const [from, other, joiner] = [new Probe(w, 1), new Probe(w, 2), new Probe(w, 3)];
    const link = from.join(a);
    other.join(a);
    w.run(20);
    const walkedBefore = other.of("forward_join").length;
    from.send(link, { kind: "forward_join", ttl: 0, peer: { addr: joiner.addr } });
    runUntil(w, () => joiner.of("neighbor").length > 0, 200, "the joiner is asked NEIGHBOR");
    expect(joiner.of("neighbor")).toEqual([{ kind: "neighbor", high: true }]);
    expect(joiner.accepted.map((l) => l.id)).toEqual([a.id]);
    // Not walked on: its walk ended here.
    expect(other.of("forward_join").length).toBe(walkedBefore);
  });

  test("rule: with no other neighbour to walk on to, the node dials the joiner at any ttl and asks NEIGHBOR with high priority", () => {
    const w = quietWorld();
    const a = w.addNode(null);
    const [from, joiner] = [new Probe(w, 1), new Probe(w, 3)];
    const link = from.join(a);
    from.send(link, { kind: "forward_join", ttl: 4, peer: { addr: joiner.addr } });
    runUntil(w, () => joiner.of("neighbor").length > 0, 200, "the joiner is asked NEIGHBOR");
    expect(joiner.of("neighbor")).toEqual([{ kind: "neighbor", high: true }]);
    expect(from.of("forward_join")).toEqual([]);
  });

  test("rule: at ttl PRWL (and no other ttl) the joiner's address enters the passive view", () => {
    const w = quietWorld();
    const a = w.addNode(null);
    const [from, other] = [new Probe(w, 1), new Probe(w, 2)];
    const link = from.join(a);
    other.join(a);
    expect(PRWL).toBe(3);
    for (const ttl of [6, 5, 4, 3, 2, 1]) from.send(link, { kind: "forward_join", ttl, peer: { addr: nowhere(ttl) } });
    w.run(2 * LATENCY);
    const passive = a.core!.membership.passive;
    expect([6, 5, 4, 3, 2, 1].filter((t) => passive.has(nowhere(t)))).toEqual([PRWL]);
  });
});

describe("NEIGHBOR", () => {
  test("rule: a low-priority NEIGHBOR to a node with a full active view is declined and its link closed", () => {
    const w = quietWorld({ degree: "2" });
    const a = w.addNode(null);
    const [p1, p2, q] = [new Probe(w, 1), new Probe(w, 2), new Probe(w, 3)];
    p1.join(a);
    p2.join(a);
    const link = q.connect(a);
    q.send(link, { kind: "neighbor", high: false });
    runUntil(w, () => q.closed.has(link), 200, "the declined link closes");
    expect(q.of("neighbor_reply", link)).toEqual([{ kind: "neighbor_reply", accepted: false }]);
    expect(activeIds(a)).toEqual(new Set([p1.id, p2.id]));
    expect([...p1.of("disconnect"), ...p2.of("disconnect")]).toEqual([]);
  });

  test("rule: a high-priority NEIGHBOR to a full node is accepted and a random neighbour is evicted with DISCONNECT", () => {
    const w = quietWorld({ degree: "2" });
    const a = w.addNode(null);
    const [p1, p2, q] = [new Probe(w, 1), new Probe(w, 2), new Probe(w, 3)];
    const l1 = p1.join(a);
    const l2 = p2.join(a);
    const link = q.connect(a);
    q.send(link, { kind: "neighbor", high: true });
    runUntil(w, () => p1.closed.has(l1) || p2.closed.has(l2), 200, "a neighbour is evicted");
    expect(q.of("neighbor_reply", link)).toEqual([{ kind: "neighbor_reply", accepted: true }]);
    const [evicted, kept] = p1.closed.has(l1) ? [p1, p2] : [p2, p1];
    expect(evicted.of("disconnect")).toEqual([{ kind: "disconnect" }]);
    expect(kept.of("disconnect")).toEqual([]);
    expect(activeIds(a)).toEqual(new Set([q.id, kept.id]));
    expect(q.isOpen(link)).toBe(true);
  });
});

describe("duplicate links", () => {
  const item = (n: number): Gossip => makeItem({ salt: n, ttl: 5, dataType: DATA_TYPE, data: new Uint8Array([n]) });

  test("rule: two nodes that link to each other twice both keep the link with the smaller tie-break", () => {
    const w = quietWorld();
    const [a, b] = [w.addNode(null), w.addNode(null)];
    const p = new Probe(w, 1);
    const [la, lb] = [p.join(a), p.join(b)];
    // Each is told to take the other in at the same moment: both dial, both links come up.
    p.send(la, { kind: "forward_join", ttl: 0, peer: { addr: b.addr } });
    p.send(lb, { kind: "forward_join", ttl: 0, peer: { addr: a.addr } });
    const ends = (n: SimNode, m: SimNode) => [...n.transport.links].filter((l) => l.id === m.id);
    runUntil(w, () => ends(a, b).length === 2 && ends(b, a).length === 2, 200, "two links between a and b");
    const smaller = ends(a, b).map((l) => l.tieBreak).sort()[0]!;
    w.run(200);
    const keptByA = a.core!.membership.active.get(b.id)?.link.tieBreak;
    const keptByB = b.core!.membership.active.get(a.id)?.link.tieBreak;
    expect([keptByA, keptByB]).toEqual([smaller, smaller]);
    // The other link is gone at both ends.
    expect(ends(a, b).map((l) => l.tieBreak)).toEqual([smaller]);
    expect(ends(b, a).map((l) => l.tieBreak)).toEqual([smaller]);
  });

  for (const order of ["smaller first", "smaller second"] as const) {
    test(`rule: of two active links to one peer the smaller tie-break stays (${order}); an item on the retiring one is still delivered`, () => {
      const w = quietWorld();
      const a = w.addNode(null);
      const p = new Probe(w, 1);
      const [x, y] = [p.connect(a), p.connect(a)];
      const [small, large] = x.tieBreak < y.tieBreak ? [x, y] : [y, x];
      const [first, second] = order === "smaller first" ? [small, large] : [large, small];
      p.send(first, { kind: "neighbor", high: true });
      runUntil(w, () => p.of("neighbor_reply", first).length > 0, 100, "the first link is accepted");
      // The second link is asked in; the peer (not knowing yet which link wins) sends an item on the loser.
      p.send(second, { kind: "neighbor", high: true });
      p.send(large, item(7));
      runUntil(w, () => p.closed.has(large), 200, "the losing link closes");
      w.run(50);
      expect(a.core!.membership.active.get(p.id)?.link).toBe(small.other!);
      expect(p.isOpen(small)).toBe(true);
      expect(p.closed.get(large)!.reason).toBe("closed by remote");
      expect(a.delivered.get(idKey(item(7).id))).toBe(1);
    });
  }
});

describe("keepalive", () => {
  test("rule: a neighbour silent for more than 3 x keepalive_ms is dropped; one that answers PINGs is kept", () => {
    const K = 100;
    const w = quietWorld({ keepalive_ms: String(K) });
    const a = w.addNode(null);
    const [mute, live] = [new Probe(w, 1), new Probe(w, 2)];
    mute.autoPong = false;
    const ml = mute.join(a);
    const ll = live.join(a);
    const heard = mute.nodeEnd(a, ml)!.lastReceived;
    runTo(w, heard + 3 * K);
    expect(activeIds(a).has(mute.id)).toBe(true);
    runUntil(w, () => mute.closed.has(ml), K + 2 * LATENCY, "the silent neighbour is dropped");
    expect(activeIds(a).has(mute.id)).toBe(false);
    w.run(20 * K);
    expect(live.isOpen(ll)).toBe(true);
    expect(activeIds(a).has(live.id)).toBe(true);
  });

  test("rule: a link whose handshake took longer than 3 x keepalive_ms is not dropped for that silence once it is established", () => {
    // keepalive 50 ms: silent means > 150 ms; a dial's handshake takes 4 one-way trips of 60 ms.
    const w = quietWorld({ keepalive_ms: "50" }, { latencyMs: 60 });
    const a = w.addNode(null);
    const [from, q] = [new Probe(w, 1), new Probe(w, 2)];
    const link = from.join(a);
    // a dials q (a FORWARD_JOIN at ttl 0), so a's entry for the link dates from the dial.
    from.send(link, { kind: "forward_join", ttl: 0, peer: { addr: q.addr } });
    runUntil(w, () => q.of("neighbor").length > 0, 1000, "a asks q NEIGHBOR");
    const ql = q.accepted[0]!;
    q.send(ql, { kind: "neighbor_reply", accepted: true });
    runUntil(w, () => activeIds(a).has(q.id), 200, "q is a's neighbour");
    w.run(1000);
    expect(q.closed.has(ql)).toBe(false);
    expect(activeIds(a).has(q.id)).toBe(true);
  });
});

describe("repair", () => {
  /** A node of `degree` whose view is full of probes and whose passive view holds only `spare`. */
  function fullNode(degree: number) {
    const w = quietWorld({ degree: String(degree) });
    const a = w.addNode(null);
    const neighbours = Array.from({ length: degree }, (_, i) => new Probe(w, i + 1));
    const links = neighbours.map((p) => p.join(a));
    const spare = new Probe(w, 9);
    // A SHUFFLE at ttl 1 is answered by a itself, which takes the addresses it carries.
    neighbours[0]!.send(links[0]!, { kind: "shuffle", id: 1n, ttl: 1, peers: [{ addr: spare.addr }] });
    runUntil(w, () => a.core!.membership.passive.has(spare.addr), 100, "the spare is in the passive view");
    return { w, a, neighbours, spare };
  }

  for (const degree of [1, 2]) {
    test(`rule: a node that loses a neighbour dials a passive peer with NEIGHBOR at once (high priority only when it has none left; degree ${degree})`, () => {
      const { w, a, neighbours, spare } = fullNode(degree);
      // Just after a keepalive tick (every second here), so the tick's own refill is far off.
      runTo(w, 1010);
      expect(spare.accepted).toEqual([]);
      neighbours[0]!.kill();
      runUntil(w, () => spare.of("neighbor").length > 0, 200, "the spare is asked NEIGHBOR");
      expect(spare.of("neighbor")).toEqual([{ kind: "neighbor", high: degree === 1 }]);
      expect(spare.accepted.map((l) => l.id)).toEqual([a.id]);
    });
  }
});
