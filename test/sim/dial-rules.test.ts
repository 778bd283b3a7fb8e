// Dials a neighbour can ask for (issue 10): a FORWARD_JOIN that ends at a node makes it dial
// the address it names, and any neighbour can send one naming anybody. One hostile probe
// sends many, on the simulator's virtual clock; the node's dials are counted at its transport.
// Each test fails when its bound is deleted from src/core/membership.ts.

import { describe, expect, test } from "bun:test";
import { LEARNT_DIALS_PER_S, LEARNT_HOLD_MS } from "../../src/core/claims.ts";
import type { DialKind } from "../../src/core/transport.ts";
import { MemLink } from "../../src/sim/network.ts";
import type { SimNode, World } from "../../src/sim/world.ts";
import { Probe, nowhere, quietWorld, runTo, runUntil } from "../helpers/sim-probe.ts";

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

// Dials a walk asked for queue behind the few the TCP transport runs at once (dial-queue.ts),
// and a neighbour can name as many addresses that accept and stay silent as the walk rate
// allows: refill and rejoin must not wait for the walk dials still queued there (docs/
// PROTOCOL.md 5.4, 5.9). The simulator's transport starts every dial at once, so here the
// node's walk dials are held back as TCP's queue would hold them (waiting, never started).
describe("walk dials held back by the transport and the node's own dials", () => {
  class HeldLink extends MemLink {
    override readonly waiting = true;
  }
  /** The node's walk dials wait in its transport for good; every other dial goes out as usual. */
  function holdWalkDials(n: SimNode): HeldLink[] {
    const held: HeldLink[] = [];
    const t = n.transport;
    const dial = t.dial.bind(t);
    t.dial = (addr: string, kind?: DialKind) => {
      if (kind !== "walk") return dial(addr, kind);
      const l = new HeldLink(t, true, addr);
      held.push(l);
      return l;
    };
    return held;
  }

  test("rule: refill dials a passive peer at its next tick while walk dials wait in the transport", () => {
    const { w, a, h, hl } = hostileNeighbour({ degree: "4" });
    const held = holdWalkDials(a);
    for (let k = 0; k < 6; k++) h.send(hl, { kind: "forward_join", ttl: 0, peer: { addr: nowhere(k) } });
    w.run(100);
    expect(held.length).toBe(6);
    const r = new Probe(w, 2);
    const t0 = w.clock.now();
    // A one-hop SHUFFLE ends at the node: R goes into its passive view.
    h.send(hl, { kind: "shuffle", id: 1n, ttl: 1, peers: [{ addr: r.addr }] });
    runUntil(w, () => r.accepted.length > 0, 5000, "refill dials R");
    // Ticks come every second; the dial follows the first tick after R arrived.
    expect(w.clock.now() - t0).toBeLessThan(1100);
  });

  test("rule: a node left alone with nobody in reserve rejoins while walk dials wait in the transport", () => {
    const w = quietWorld();
    const boot = new Probe(w, 1);
    const other = new Probe(w, 2); // a second bootstrapper
    const a = w.addNode(null, { bootstrappers: [boot.addr, other.addr] });
    const held = holdWalkDials(a);
    runUntil(w, () => boot.accepted.length === 1 && boot.of("join").length === 1, 1000, "a joins through the first bootstrapper");
    const bl = boot.accepted[0]!;
    for (let k = 0; k < 6; k++) boot.send(bl, { kind: "forward_join", ttl: 0, peer: { addr: nowhere(k) } });
    w.run(100);
    expect(held.length).toBe(6);
    // The bootstrapper goes: it stops listening and drops the link. a's redial is refused and
    // backs off, so a is alone with nobody in reserve: a rejoin, through the other bootstrapper.
    boot.transport.stop();
    bl.close("gone", false);
    const t0 = w.clock.now();
    runUntil(w, () => other.accepted.length === 1, 9000, "a rejoins through the other bootstrapper");
    expect(w.clock.now() - t0).toBeLessThan(2100);
  });

  test("rule: walk dials that started count as dials in flight (refill does not dial past the degree for them)", () => {
    const { w, h, hl } = hostileNeighbour({ degree: "4" });
    // Peers that take the connection and never answer its NEIGHBOR: each dial stays in flight.
    const silent = [3, 4, 5].map((n) => new Probe(w, n));
    for (const p of silent) h.send(hl, { kind: "forward_join", ttl: 0, peer: { addr: p.addr } });
    w.run(100);
    const r = new Probe(w, 2);
    h.send(hl, { kind: "shuffle", id: 1n, ttl: 1, peers: [{ addr: r.addr }] });
    w.run(3000);
    // degree 4 = h + 3 walk dials in flight: no room for R.
    expect(r.accepted.length).toBe(0);
  });
});

describe("our NEIGHBOR dials that end before the reply", () => {
  /** Virtual times of the node's dials to `addr`. */
  function dialTimes(n: SimNode, addr: string): number[] {
    const at: number[] = [];
    const t = n.transport;
    const dial = t.dial.bind(t);
    t.dial = (to: string, kind?: DialKind) => {
      if (to === addr) at.push(n.env.now());
      return dial(to, kind);
    };
    return at;
  }

  /** Node a below its degree (one neighbour, b) with probe p, its former neighbour, in its passive view. */
  function belowDegree(settings: Record<string, string> = {}) {
    const w = quietWorld({ degree: "4", passive_size: "8", ...settings });
    const a = w.addNode(null);
    w.addNode(a);
    w.run(2000);
    const p = new Probe(w, 1);
    const l = p.join(a);
    w.run(100); // a's check of p's address is done
    return { w, a, p, l };
  }

  test("rule: a passive peer that hangs up after the handshake, before NEIGHBOR_REPLY, counts as a decline: asked again only after shuffle_interval_ms, then at doubling gaps, and it stays in the passive view", () => {
    // The audit's probe: without the back-off the node redialled such a peer about 41 times a
    // second (only the round trip limited it), each dial a proof of work in the real node.
    const SHUFFLE = 2000;
    const { w, a, p, l } = belowDegree({ shuffle_interval_ms: String(SHUFFLE) });
    p.transport.events!.established = (link) => {
      p.established.add(link as MemLink);
      link.close("hang up", false);
    };
    const at = dialTimes(a, p.addr);
    l.close("bye", false);
    w.run(60_000);
    // A handful of dials in a minute, not thousands (a refill when the decline ends, and an
    // escalation at high priority right after, at doubling gaps): here at 2.1, 2.2, 7.0, 7.0,
    // 16 and 32 s.
    expect(at.length).toBeGreaterThanOrEqual(3);
    expect(at.length).toBeLessThanOrEqual(6);
    expect(at.at(-1)! - at.at(-2)!).toBeGreaterThanOrEqual(4 * SHUFFLE);
    // A live peer that hung up may have had a reason of its own: it is kept in reserve.
    expect(a.core!.membership.passive.has(p.addr)).toBe(true);
  });

  test("rule: a NEIGHBOR dial closed before its reply while the node holds another link to the same peer (a duplicate-link race it lost, section 5.11) sets no back-off", () => {
    const { w, a, p, l } = belowDegree();
    const before = p.accepted.length;
    l.close("bye", false);
    runUntil(w, () => p.accepted.length > before && p.established.has(p.accepted.at(-1)!), 1000, "a dials p");
    const dialled = p.accepted.at(-1)!;
    // p dials a too, and its link becomes a's neighbour first; p then retires a's dial as the loser.
    const j = p.connect(a);
    p.send(j, { kind: "join" });
    runUntil(w, () => p.nodeEnd(a, j)?.state === "active", 1000, "a takes p in on p's own link");
    const end = p.nodeEnd(a, dialled)!;
    expect(end.state).toBe("pending");
    dialled.close("duplicate link", false);
    runUntil(w, () => end.state === "closed", 1000, "a sees its dial closed");
    // The survivor goes too: a refills, and p's address is not backing off.
    const at = dialTimes(a, p.addr);
    const t0 = w.clock.now();
    j.close("gone", false);
    runUntil(w, () => at.length > 0, 5000, "a dials p again");
    expect(at[0]! - t0).toBeLessThan(500);
  });
});
