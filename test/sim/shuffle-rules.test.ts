// SHUFFLE rules (HyParView's passive-view walks), one test each, on the simulator's virtual
// clock: one real node and hand-driven probes (test/helpers/sim-probe.ts) as its neighbours.
// Each test fails when its rule is deleted or altered in the source.

import { describe, expect, test } from "bun:test";
import { ARWL, MAX_SHUFFLE_STATE } from "../../src/core/shuffle.ts";
import type { SimNode, World } from "../../src/sim/world.ts";
import type { PeerRef } from "../../src/wire/p2p.ts";
import { LATENCY, Probe, nowhere, quietWorld, runUntil } from "../helpers/sim-probe.ts";

const refs = (...addrs: string[]): PeerRef[] => addrs.map((addr) => ({ addr }));

/** One node with two probe neighbours: `from` sends walks, `other` is the only way on. */
function twoNeighbours(settings: Record<string, string> = {}): { w: World; a: SimNode; from: Probe; other: Probe } {
  const w = quietWorld(settings);
  const a = w.addNode(null);
  const [from, other] = [new Probe(w, 1), new Probe(w, 2)];
  from.join(a);
  other.join(a);
  w.run(20);
  return { w, a, from, other };
}

describe("SHUFFLE walks", () => {
  test("rule: a walk with ttl > 1 goes on with ttl - 1 to a neighbour other than the sender; its reply is routed back to the sender", () => {
    const { w, from, other } = twoNeighbours();
    const [fl, ol] = [from.links[0]!, other.links[0]!];
    const walks = Array.from({ length: 12 }, (_, i) => ({ id: BigInt(100 + i), ttl: 2 + (i % 5) }));
    for (const { id, ttl } of walks) from.send(fl, { kind: "shuffle", id, ttl, peers: refs(nowhere(Number(id))) });
    w.run(2 * LATENCY);
    expect(from.of("shuffle")).toEqual([]);
    expect(other.of("shuffle")).toEqual(walks.map(({ id, ttl }) => ({ kind: "shuffle", id, ttl: ttl - 1, peers: refs(nowhere(Number(id))) })));
    // The far end answers each walk; the replies travel back to where the walks came from.
    for (const { id } of walks) other.send(ol, { kind: "shuffle_reply", id, peers: refs(nowhere(1000 + Number(id))) });
    w.run(2 * LATENCY);
    expect(from.of("shuffle_reply")).toEqual(walks.map(({ id }) => ({ kind: "shuffle_reply", id, peers: refs(nowhere(1000 + Number(id))) })));
    expect(other.of("shuffle_reply")).toEqual([]);
  });

  test("rule: a walk with ttl 1 is answered by the receiver from its passive view, and its addresses enter the passive view", () => {
    const { w, a, from, other } = twoNeighbours();
    const fl = from.links[0]!;
    // Fill a's passive view with known addresses (FORWARD_JOIN at ttl PRWL = 3 leaves them there).
    const stocked = [1, 2, 3].map(nowhere);
    for (const addr of stocked) from.send(fl, { kind: "forward_join", ttl: 3, peer: { addr } });
    w.run(2 * LATENCY);
    const passive = a.core!.membership.passive;
    expect(stocked.every((x) => passive.has(x))).toBe(true);
    const offered = [nowhere(11), nowhere(12)];
    from.send(fl, { kind: "shuffle", id: 7n, ttl: 1, peers: refs(...offered) });
    runUntil(w, () => from.of("shuffle_reply").length > 0, 100, "the walk is answered");
    const [reply] = from.of("shuffle_reply");
    expect(reply!.id).toBe(7n);
    expect(reply!.peers.length).toBe(offered.length);
    expect(reply!.peers.every((p) => stocked.includes(p.addr))).toBe(true);
    expect(offered.every((x) => passive.has(x))).toBe(true);
    expect(other.of("shuffle")).toEqual([]);
  });

  test("rule: a SHUFFLE_REPLY for a routed walk that arrives on the link it would be routed back to is ignored", () => {
    const { w, from, other } = twoNeighbours();
    const [fl, ol] = [from.links[0]!, other.links[0]!];
    from.send(fl, { kind: "shuffle", id: 42n, ttl: 4, peers: refs(nowhere(1)) });
    w.run(2 * LATENCY);
    expect(other.of("shuffle").map((m) => m.id)).toEqual([42n]);
    // The walk's sender forges the reply; then the far end sends the genuine one.
    from.send(fl, { kind: "shuffle_reply", id: 42n, peers: refs(nowhere(66)) });
    w.run(2 * LATENCY);
    other.send(ol, { kind: "shuffle_reply", id: 42n, peers: refs(nowhere(77)) });
    w.run(2 * LATENCY);
    expect(from.of("shuffle_reply")).toEqual([{ kind: "shuffle_reply", id: 42n, peers: refs(nowhere(77)) }]);
  });

  test("rule: a reply to the node's own walk counts only from the link the walk went out on", () => {
    const { w, a, from, other } = twoNeighbours({ shuffle_interval_ms: "500" });
    runUntil(w, () => from.of("shuffle").length + other.of("shuffle").length > 0, 1000, "a starts a walk");
    const [to, bystander] = from.of("shuffle").length > 0 ? [from, other] : [other, from];
    const walk = to.of("shuffle")[0]!;
    expect(walk.ttl).toBe(ARWL);
    expect(walk.peers[0]!.addr).toBe(a.addr);
    const [forged, genuine] = [nowhere(66), nowhere(77)];
    bystander.send(bystander.links[0]!, { kind: "shuffle_reply", id: walk.id, peers: refs(forged) });
    to.send(to.links[0]!, { kind: "shuffle_reply", id: walk.id, peers: refs(genuine) });
    w.run(2 * LATENCY);
    const passive = a.core!.membership.passive;
    expect(passive.has(genuine)).toBe(true);
    expect(passive.has(forged)).toBe(false);
  });
});

describe("bounded SHUFFLE state", () => {
  test("rule: more than MAX_SHUFFLE_STATE walks through a node leave at most that many routes, the oldest forgotten", () => {
    const { w, a, from, other } = twoNeighbours({ peer_control_per_s: "1000000" });
    const [fl, ol] = [from.links[0]!, other.links[0]!];
    const n = MAX_SHUFFLE_STATE + 100;
    for (let i = 0; i < n; i++) from.send(fl, { kind: "shuffle", id: BigInt(i), ttl: 4, peers: refs(nowhere(1)) });
    w.run(2 * LATENCY);
    expect(other.of("shuffle").length).toBe(n);
    expect(a.core!.membership.tableSizes.routes).toBe(MAX_SHUFFLE_STATE);
    // The newest walk still routes its reply back; the oldest was forgotten.
    other.send(ol, { kind: "shuffle_reply", id: 0n, peers: refs(nowhere(2)) });
    other.send(ol, { kind: "shuffle_reply", id: BigInt(n - 1), peers: refs(nowhere(3)) });
    w.run(2 * LATENCY);
    expect(from.of("shuffle_reply").map((m) => m.id)).toEqual([BigInt(n - 1)]);
  });

  test("rule: more than MAX_SHUFFLE_STATE of the node's own walks awaiting replies leave at most that many", () => {
    // A walk every 50 ms that nobody answers; keepalive long enough that silent probes stay.
    const { w, a, from, other } = twoNeighbours({ shuffle_interval_ms: "50", keepalive_ms: "3600000" });
    w.run(50 * (MAX_SHUFFLE_STATE + 50));
    expect(from.of("shuffle").length + other.of("shuffle").length).toBeGreaterThan(MAX_SHUFFLE_STATE);
    expect(a.core!.membership.tableSizes.walks).toBe(MAX_SHUFFLE_STATE);
  });
});
