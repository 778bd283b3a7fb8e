// Scores and bans hold only what was proven (issue 10): the identity that signed the handshake
// and the source IP of the connection, never the address a peer advertises. On the simulator's
// virtual clock, with probes that claim an honest node's address (test/helpers/sim-probe.ts).
// Each test fails when its rule is deleted or altered in the source.

import { describe, expect, test } from "bun:test";
import { remoteHost } from "../../src/core/scores.ts";
import { JUNK_TYPE } from "../../src/sim/hostile.ts";
import { type MemLink, MemTransport } from "../../src/sim/network.ts";
import type { SimNode, World } from "../../src/sim/world.ts";
import type { Gossip } from "../../src/wire/p2p.ts";
import { makeItem } from "../helpers/items.ts";
import { Probe, quietWorld, runUntil } from "../helpers/sim-probe.ts";

const activeIds = (n: SimNode) => new Set(n.core!.membership.active.keys());

/** An item local modules judge invalid (-20 points each: the fifth bans). */
const junk = (n: number): Gossip => makeItem({ salt: n, ttl: 3, dataType: JUNK_TYPE, data: new Uint8Array([n]) });

/** Node a with honest neighbour b; two probes (fresh identities, own IPs) claim b's address at a and send junk until banned. */
function framed(settings: Record<string, string> = {}) {
  const w = quietWorld(settings);
  const a = w.addNode(null);
  const b = w.addNode(a);
  runUntil(w, () => activeIds(a).has(b.id) && activeIds(b).has(a.id), 500, "a and b are neighbours");
  const liars = [new Probe(w, 1, { claims: b.addr }), new Probe(w, 2, { claims: b.addr })];
  liars.forEach((p, k) => {
    const l = p.join(a);
    expect(a.core!.membership.active.get(p.id)?.addr).toBe(b.addr);
    for (let i = 0; i < 5; i++) p.send(l, junk(10 * k + i));
    runUntil(w, () => p.closed.has(l), 500, `liar ${k} is banned and cut off`);
  });
  return { w, a, b, liars };
}

/** Dials `to` from a fresh identity at `addr`; returns why the link closed, or "established". */
function dialFrom(w: World, addr: string, to: SimNode): string {
  const t = new MemTransport(w.net, addr, "f".repeat(64));
  let outcome = "";
  t.start({ established: () => (outcome = "established"), message: () => {}, closed: (_l, why) => (outcome ||= why), violated: () => {} });
  t.dial(to.addr) as MemLink;
  runUntil(w, () => outcome !== "", 500, `a dial from ${addr}`);
  return outcome;
}

describe("bans", () => {
  test("rule: peers that claim an honest node's address and misbehave are banned by identity and source IP; the honest node's address is not, and it gets back in", () => {
    const { w, a, b, liars } = framed();
    const scores = a.core!.scores;
    for (const p of liars) expect([scores.isBanned(p.id), scores.isBanned(remoteHost(p.addr))]).toEqual([true, true]);
    expect(scores.isBanned(b.addr)).toBe(false);
    expect(scores.isBanned(b.id, remoteHost(b.addr))).toBe(false);
    // b's link to a breaks; b dials a again and is let in.
    a.core!.membership.active.get(b.id)!.link.close("test: cut", false);
    runUntil(w, () => !activeIds(b).has(a.id), 100, "b lost a");
    runUntil(w, () => activeIds(a).has(b.id) && activeIds(b).has(a.id), 5000, "b is a's neighbour again");
    // A fresh identity from a banned IP is refused; from another IP it is not.
    expect(dialFrom(w, `${remoteHost(liars[0]!.addr)}:7001`, a)).toBe("handshake failed: banned");
    expect(dialFrom(w, "10.201.0.1:7001", a)).toBe("established");
  });

  test("rule: with max_conns_per_ip = 0 (one IP may be many peers) only the identity is banned", () => {
    const { w, a, liars } = framed({ max_conns_per_ip: "0" });
    const scores = a.core!.scores;
    for (const p of liars) expect([scores.isBanned(p.id), scores.isBanned(remoteHost(p.addr))]).toEqual([true, false]);
    expect(dialFrom(w, `${remoteHost(liars[0]!.addr)}:7001`, a)).toBe("established");
  });
});
