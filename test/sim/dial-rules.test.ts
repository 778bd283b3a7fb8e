// Dials a neighbour can ask for (issue 10): a FORWARD_JOIN that ends at a node makes it dial
// the address it names, and any neighbour can send one naming anybody. One hostile probe
// sends many, on the simulator's virtual clock; the node's dials are counted at its transport.
// Each test fails when its bound is deleted from src/core/membership.ts.

import { describe, expect, test } from "bun:test";
import { LEARNT_DIALS_PER_S, LEARNT_HOLD_MS } from "../../src/core/claims.ts";
import type { SimNode, World } from "../../src/sim/world.ts";
import { Probe, nowhere, quietWorld, runTo } from "../helpers/sim-probe.ts";

/** Counts the node's dials, by address. */
function countDials(a: SimNode): Map<string, number> {
  const n = new Map<string, number>();
  const t = a.transport;
  const dial = t.dial.bind(t);
  t.dial = (addr) => {
    n.set(addr, (n.get(addr) ?? 0) + 1);
    return dial(addr);
  };
  return n;
}

/** A node with one hostile neighbour; `aim` makes it send FORWARD_JOIN {ttl 0, victim} every `everyMs` for `ms`. */
function hostileNeighbour(settings: Record<string, string> = {}) {
  const w = quietWorld(settings);
  const a = w.addNode(null);
  const h = new Probe(w, 1);
  const hl = h.join(a);
  w.run(100); // a's check of h's address is done
  const dials = countDials(a);
  const aim = (victim: string, ms: number, everyMs = 50, each?: (w: World) => void) => {
    const end = w.clock.now() + ms;
    while (w.clock.now() < end) {
      h.send(hl, { kind: "forward_join", ttl: 0, peer: { addr: victim } });
      for (let t = 0; t < everyMs; t++) {
        w.run(1);
        each?.(w);
      }
    }
  };
  return { w, a, h, hl, dials, aim };
}

describe("FORWARD_JOIN dials", () => {
  test("rule: walks naming an address nobody answers at are dialled only as its dial back-off allows (1, 2, 4 s ...)", () => {
    const { dials, aim } = hostileNeighbour();
    aim(nowhere(1), 10_000); // 200 walks
    // At about 0, 1, 3 and 7 s.
    expect(dials.get(nowhere(1))).toBeGreaterThanOrEqual(3);
    expect(dials.get(nowhere(1))).toBeLessThanOrEqual(5);
  });

  test(`rule: an address that answers the handshake but gives no neighbour is not dialled for a walk again for LEARNT_HOLD_MS (${LEARNT_HOLD_MS} ms)`, () => {
    const { w, dials, aim } = hostileNeighbour();
    const victim = new Probe(w, 2);
    // The victim closes every connection once its handshake is done (a node refusing us).
    const refuse = () => {
      for (const l of victim.accepted) if (victim.isOpen(l)) l.close("no", false);
    };
    aim(victim.addr, LEARNT_HOLD_MS - 500, 50, refuse);
    expect(dials.get(victim.addr)).toBe(1);
    aim(victim.addr, 1000, 50, refuse);
    expect(dials.get(victim.addr)).toBe(2);
  });

  test("rule: one dial at a time to an address, however many walks name it", () => {
    const { w, dials, aim } = hostileNeighbour();
    const victim = new Probe(w, 2); // handshakes, then never answers NEIGHBOR: the dial stays in flight
    aim(victim.addr, 5000);
    expect(victim.of("neighbor").length).toBe(1);
    expect(dials.get(victim.addr)).toBe(1);
  });

  test(`rule: at most LEARNT_DIALS_PER_S (${LEARNT_DIALS_PER_S}) walk dials a second in all (a burst of as many)`, () => {
    const { w, h, hl, dials } = hostileNeighbour();
    const t0 = w.clock.now();
    for (let k = 0; k < 100; k++) h.send(hl, { kind: "forward_join", ttl: 0, peer: { addr: nowhere(100 + k) } });
    runTo(w, t0 + 50);
    expect(dials.size).toBe(LEARNT_DIALS_PER_S);
    runTo(w, t0 + 1050);
    expect(dials.size).toBe(LEARNT_DIALS_PER_S);
    for (let k = 0; k < 100; k++) h.send(hl, { kind: "forward_join", ttl: 0, peer: { addr: nowhere(300 + k) } });
    runTo(w, t0 + 1100);
    // The bucket refilled over the second that passed.
    expect(dials.size).toBe(2 * LEARNT_DIALS_PER_S);
  });
});
