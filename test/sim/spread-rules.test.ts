// Dissemination rules (Plumtree GRAFT timing, item ids bound to content, the bounded missing
// table, TTL and hop cap), one test each, on the simulator's virtual clock: one real node and
// hand-driven probes (test/helpers/sim-probe.ts) as its neighbours. Each test fails when its
// rule is deleted or altered in the source.

import { describe, expect, test } from "bun:test";
import { idKey } from "../../src/core/caches.ts";
import { fromHex } from "../../src/wire/bytes.ts";
import { FIRST_HOLD_MS, PRUNE_PERIOD_MS } from "../../src/core/deciders.ts";
import { CHAIN_PUSH_PEERS, FEW_ANNOUNCERS_SHARE, GRAFT_LATE_SHARE, MAX_MISSING, REPAIR_PUSH_GAP_MS, graftHoldMs } from "../../src/core/dissemination.ts";
import type { Env, Timer } from "../../src/core/env.ts";
import { DATA_TYPE, type SimNode, type World } from "../../src/sim/world.ts";
import { MAX_IHAVE, type Gossip } from "../../src/wire/p2p.ts";
import { itemWhere, makeItem } from "../helpers/items.ts";
import { LATENCY, Probe, quietWorld, runTo } from "../helpers/sim-probe.ts";

const G = 200; // graft_timeout_ms

function itemId(n: number): Uint8Array {
  const id = new Uint8Array(16);
  new DataView(id.buffer).setUint32(0, n);
  return id;
}

function item(n: number, ttl: number, hops: number): Gossip {
  return makeItem({ salt: itemId(n), ttl, hops, dataType: DATA_TYPE, data: new Uint8Array([n]) });
}

/** One node with two probe neighbours (no offers of recent items to new neighbours). */
function twoNeighbours(settings: Record<string, string> = {}): { w: World; a: SimNode; p1: Probe; p2: Probe } {
  const w = quietWorld({ graft_timeout_ms: String(G), offer_recent_ms: "0", ...settings });
  const a = w.addNode(null);
  const [p1, p2] = [new Probe(w, 1), new Probe(w, 2)];
  p1.join(a);
  p2.join(a);
  w.run(20);
  return { w, a, p1, p2 };
}

/** A node's Env whose one-shot timers all fire `lag` ms late: a node too busy to run them on time. */
class BusyEnv implements Env {
  constructor(
    private readonly inner: Env,
    private readonly lag: number,
  ) {}
  now(): number {
    return this.inner.now();
  }
  after(ms: number, fn: () => void): Timer {
    return this.inner.after(ms + this.lag, fn);
  }
  every(ms: number, fn: () => void): Timer {
    return this.inner.every(ms, fn);
  }
  random(): number {
    return this.inner.random();
  }
  bytes(n: number): Uint8Array {
    return this.inner.bytes(n);
  }
  /** A property, as in the real Envs: the core hands it on detached. */
  readonly sha256 = (input: Uint8Array): Uint8Array => this.inner.sha256(input);
}

describe("GRAFT timers of a busy node", () => {
  /** One node whose timers run `lag` ms late, with two probe neighbours. */
  function busy(lag: number) {
    const w = quietWorld({ graft_timeout_ms: String(G), offer_recent_ms: "0" });
    const a = w.addNode(null, { env: new BusyEnv(w.clock.env(7), lag) });
    const [p1, p2] = [new Probe(w, 1), new Probe(w, 2)];
    p1.join(a, 3000);
    p2.join(a, 3000);
    w.run(20);
    return { w, a, p1, p2 };
  }
  const stats = (a: SimNode) => a.core!.dissemination.stats;

  test("rule: a GRAFT timer that fires late waits once more, as long as it was late, before it GRAFTs", () => {
    const lag = 100; // above GRAFT_LATE_SHARE of G
    expect(lag).toBeGreaterThan(G * GRAFT_LATE_SHARE);
    const { w, a, p1, p2 } = busy(lag);
    const id = itemId(1);
    const sent = w.clock.now();
    p1.send(p1.links[0]!, { kind: "ihave", entries: [{ id, hops: 1 }] });
    p2.send(p2.links[0]!, { kind: "ihave", entries: [{ id, hops: 1 }] });
    // Due at sent + LATENCY + G, run lag late; waits lag more, and that timer too runs lag late.
    const graftAt = sent + LATENCY + G + lag + lag + lag;
    runTo(w, graftAt + LATENCY - 1);
    expect(p1.of("graft")).toEqual([]);
    runTo(w, graftAt + LATENCY);
    expect(p1.received("graft").map((r) => r.at)).toEqual([graftAt + LATENCY]);
    expect(stats(a).graftDeferred).toBe(1);
    // The timer for the second announcer may wait once more too.
    runTo(w, graftAt + 2 * G + 4 * lag);
    expect(p2.received("graft").map((r) => r.at)).toEqual([graftAt + G + 3 * lag + LATENCY]);
    expect(stats(a).graftDeferred).toBe(2);
  });

  test("rule: a copy that comes while the late timer waits once more needs no GRAFT", () => {
    const lag = 100;
    const { w, a, p1 } = busy(lag);
    const it = item(3, 5, 1);
    const sent = w.clock.now();
    p1.send(p1.links[0]!, { kind: "ihave", entries: [{ id: it.id, hops: 1 }] });
    // The late timer has fired (and waits); then the copy comes.
    runTo(w, sent + LATENCY + G + lag + 1);
    expect(stats(a).graftDeferred).toBe(1);
    p1.send(p1.links[0]!, it);
    w.run(10 * G);
    expect(p1.of("graft")).toEqual([]);
    expect(a.delivered.get(idKey(it.id))).toBe(1);
  });

  test("a timer late by less than GRAFT_LATE_SHARE of graft_timeout_ms GRAFTs as it fires", () => {
    const lag = 40;
    expect(lag).toBeLessThan(G * GRAFT_LATE_SHARE);
    const { w, a, p1 } = busy(lag);
    const sent = w.clock.now();
    p1.send(p1.links[0]!, { kind: "ihave", entries: [{ id: itemId(2), hops: 1 }] });
    runTo(w, sent + 3 * G);
    expect(p1.received("graft").map((r) => r.at)).toEqual([sent + LATENCY + G + lag + LATENCY]);
    expect(stats(a).graftDeferred).toBe(0);
  });
});

describe("GRAFT timing", () => {
  test("rule: an IHAVE for an unknown id GRAFTs its announcer after graft_timeout_ms, and the second announcer one graft_timeout_ms later", () => {
    const { w, p1, p2 } = twoNeighbours();
    const id = itemId(1);
    const sent = w.clock.now();
    p1.send(p1.links[0]!, { kind: "ihave", entries: [{ id, hops: 1 }] });
    p2.send(p2.links[0]!, { kind: "ihave", entries: [{ id, hops: 1 }] });
    // The IHAVEs reach the node at sent + LATENCY; a GRAFT takes LATENCY back.
    runTo(w, sent + LATENCY + G + LATENCY - 1);
    expect(p1.of("graft")).toEqual([]);
    runTo(w, sent + 3 * G);
    expect(p1.received("graft").map((r) => r.at)).toEqual([sent + LATENCY + G + LATENCY]);
    expect(p1.of("graft")[0]!.ids.map(idKey)).toEqual([idKey(id)]);
    expect(p2.received("graft").map((r) => r.at)).toEqual([sent + LATENCY + 2 * G + LATENCY]);
    expect(p2.of("graft")[0]!.ids.map(idKey)).toEqual([idKey(id)]);
  });

  test("rule: once the item has come, the second announcer is not GRAFTed", () => {
    const { w, a, p1, p2 } = twoNeighbours();
    const it = item(2, 5, 1);
    const sent = w.clock.now();
    p1.send(p1.links[0]!, { kind: "ihave", entries: [{ id: it.id, hops: 1 }] });
    p2.send(p2.links[0]!, { kind: "ihave", entries: [{ id: it.id, hops: 1 }] });
    runTo(w, sent + LATENCY + G + LATENCY);
    expect(p1.of("graft").length).toBe(1);
    p1.send(p1.links[0]!, it); // the answer to the GRAFT
    runTo(w, sent + 4 * G);
    expect(a.delivered.get(idKey(it.id))).toBe(1);
    expect(p2.of("graft")).toEqual([]);
  });
});

describe("GRAFT answers", () => {
  /** Asks a for `keys` by GRAFT from p1; returns the ids of the copies that came back. */
  function graftFrom(w: World, p1: Probe, keys: string[]): string[] {
    const before = p1.of("gossip").length;
    p1.send(p1.links[0]!, { kind: "graft", ids: keys.map(fromHex) });
    w.run(2 * LATENCY + 10);
    return p1.of("gossip").slice(before).map((g) => idKey(g.id));
  }

  test("rule: a GRAFT is answered from the knowledge base, one copy per distinct held id; an id no longer held is counted, not answered", () => {
    const { w, a, p1 } = twoNeighbours({ cache_size: "2", graft_buffer_bytes: "0" });
    const keys = [w.broadcast(a).key, w.broadcast(a).key, w.broadcast(a).key];
    w.run(LATENCY + 10);
    expect(graftFrom(w, p1, [keys[0]!, keys[2]!, keys[2]!])).toEqual([keys[2]!]);
    expect(a.core!.dissemination.stats.graftMissed).toBe(1);
  });

  test("rule: an item past cache_size still answers GRAFTs until it is ihave_batch_ms + 3 graft timeouts old", () => {
    const { w, a, p1 } = twoNeighbours({ cache_size: "2" });
    const hold = graftHoldMs({ mode: "plumtree", ihaveBatchMs: 50, graftTimeoutMs: G });
    expect(hold).toBe(50 + 3 * G);
    expect(graftHoldMs({ mode: "flood", ihaveBatchMs: 50, graftTimeoutMs: G })).toBe(0);
    const old = w.broadcast(a).key;
    const t0 = w.clock.now();
    w.broadcast(a);
    w.broadcast(a);
    w.run(LATENCY + 10);
    expect(graftFrom(w, p1, [old])).toEqual([old]);
    // An item stored once the first is past the window evicts it.
    runTo(w, t0 + hold + 1);
    w.broadcast(a);
    w.run(LATENCY + 10);
    expect(graftFrom(w, p1, [old])).toEqual([]);
    expect(a.core!.dissemination.stats.graftMissed).toBe(1);
  });
});

describe("item ids bound to content", () => {
  test("rule: a GOSSIP whose id is not the hash of its content closes the link and leaves the id unseen: the announced item is still GRAFTed and delivered", () => {
    const { w, a, p1, p2 } = twoNeighbours();
    const it = item(6, 5, 1);
    const sent = w.clock.now();
    p1.send(p1.links[0]!, { kind: "ihave", entries: [{ id: it.id, hops: 1 }] });
    p2.send(p2.links[0]!, { ...it, data: new Uint8Array([66]) }); // other data under the id
    runTo(w, sent + LATENCY + 1);
    expect(a.core!.dissemination.stats.badIds).toBe(1);
    expect(a.delivered.get(idKey(it.id))).toBeUndefined();
    runTo(w, sent + 2 * LATENCY + 1);
    expect(p2.closed.get(p2.links[0]!)?.reason).toBe("closed by remote");
    expect(a.core!.scores.score(p2.id)).toBe(-60);
    runTo(w, sent + LATENCY + G + LATENCY);
    expect(p1.of("graft").map((g) => g.ids.map(idKey))).toEqual([[idKey(it.id)]]);
    p1.send(p1.links[0]!, it);
    runTo(w, sent + 4 * G);
    expect(a.delivered.get(idKey(it.id))).toBe(1);
  });
});

describe("IHAVE batches", () => {
  test("rule: with ihave_batch_ms = 0 each IHAVE goes out at once and nothing is left listed for a batch timer (that never runs)", () => {
    const w = quietWorld({ ihave_batch_ms: "0", offer_recent_ms: "0" });
    const a = w.addNode(null);
    const lazies = [1, 2].map((i) => new Probe(w, i));
    for (const p of lazies) p.send(p.join(a), { kind: "prune" });
    w.run(50);
    for (let i = 0; i < 50; i++) a.core!.announce(3, DATA_TYPE, new Uint8Array([i]));
    w.run(50);
    expect(lazies.map((p) => p.of("ihave").length)).toEqual([50, 50]);
    expect(a.core!.dissemination.tableSizes.lazyQueue).toBe(0);
  });

  test("rule: with ihave_batch_ms = 0, IHAVEs past half of peer_control_per_s a second on one link are batched instead (a neighbour on our settings would drop them and charge us)", () => {
    const CONTROL = 20;
    const w = quietWorld({ ihave_batch_ms: "0", offer_recent_ms: "0", peer_control_per_s: String(CONTROL) });
    const a = w.addNode(null);
    const p = new Probe(w, 1);
    p.send(p.join(a), { kind: "prune" });
    w.run(1000); // the join's own messages have left the budget
    for (let i = 0; i < 50; i++) a.core!.announce(3, DATA_TYPE, new Uint8Array([i]));
    expect(a.core!.dissemination.tableSizes.lazyQueue).toBe(1); // one batch waits, listed once
    w.run(100);
    const ihaves = p.of("ihave");
    // CONTROL / 2 went out one item each; the other 40 ids waited and went out in one message.
    expect(ihaves.map((m) => m.entries.length)).toEqual([...Array(CONTROL / 2).fill(1), 50 - CONTROL / 2]);
    expect(a.core!.dissemination.tableSizes.lazyQueue).toBe(0);
  });
});

describe("bounded missing table", () => {
  test("rule: IHAVEs naming more than MAX_MISSING distinct ids leave at most MAX_MISSING awaited", () => {
    const { w, a, p1 } = twoNeighbours({ peer_control_per_s: "1000000" });
    const n = MAX_MISSING + 2 * MAX_IHAVE;
    for (let i = 0; i < n; i += MAX_IHAVE) {
      const entries = Array.from({ length: Math.min(MAX_IHAVE, n - i) }, (_, k) => ({ id: itemId(1000 + i + k), hops: 1 }));
      p1.send(p1.links[0]!, { kind: "ihave", entries });
    }
    w.run(2 * LATENCY); // arrived; no GRAFT timer has fired yet
    expect(a.core!.dissemination.tableSizes.missing).toBe(MAX_MISSING);
  });
});

describe("TTL and hop cap", () => {
  test("rule: an item with hops >= ttl_cap or ttl 1 is delivered but not forwarded; a forwarded copy carries min(ttl, cap) - 1 and hops + 1", () => {
    const CAP = 4;
    const { w, a, p1, p2 } = twoNeighbours({ ttl_cap: String(CAP) });
    const atCap = item(1, 10, CAP);
    const overCap = item(2, 255, 200);
    const lastHop = item(3, 1, 1);
    const onward = item(4, 3, 1);
    const capped = item(5, 200, 2);
    for (const it of [atCap, overCap, lastHop, onward, capped]) p1.send(p1.links[0]!, it);
    w.run(500);
    for (const it of [atCap, overCap, lastHop, onward, capped]) expect(a.delivered.get(idKey(it.id))).toBe(1);
    const forwarded = p2.of("gossip");
    expect(forwarded.map((m) => [idKey(m.id), m.ttl, m.hops])).toEqual([
      [idKey(onward.id), 2, 2],
      [idKey(capped.id), CAP - 1, 3],
    ]);
    // Not offered lazily either.
    expect(p2.of("ihave")).toEqual([]);
    expect(p1.of("gossip")).toEqual([]);
  });
});

describe("prune deciders", () => {
  /** Item n with TTL 5 at hop 1: what the rules below look for a decider fraction among. */
  const numbered = (n: number): Gossip => item(n, 5, 1);

  test("rule: a duplicate from an eager neighbour PRUNEs it only if its item decides; the first item a node sees does not; its own items count", () => {
    const { w, a, p1, p2 } = twoNeighbours();
    const first = itemWhere(numbered, 100, (f) => f < 0.5);
    p1.send(p1.links[0]!, first);
    w.run(LATENCY + 10);
    p2.send(p2.links[0]!, first);
    w.run(LATENCY + 10);
    expect(p2.of("prune")).toEqual([]);
    // One item a period later: every item decides at that rate, whatever its id.
    w.run(PRUNE_PERIOD_MS);
    const next = itemWhere(numbered, 200, (f) => f > 0.9);
    p1.send(p1.links[0]!, next);
    w.run(LATENCY + 10);
    p2.send(p2.links[0]!, next);
    w.run(LATENCY + 10);
    expect(p2.of("prune").length).toBe(1);
    expect(p1.of("prune")).toEqual([]);
    // The node's own items count too: one of them a period later decides, and comes back.
    w.run(PRUNE_PERIOD_MS);
    const own = w.broadcast(a);
    w.run(LATENCY + 10);
    const copy = p1.of("gossip").find((m) => idKey(m.id) === own.key)!;
    p1.send(p1.links[0]!, copy);
    w.run(LATENCY + 10);
    expect(p1.of("prune").length).toBe(1);
  });

  test("rule: a duplicate PRUNEs its sender also when the sender is lazy at our end (it is eager at its own)", () => {
    const { w, p1, p2 } = twoNeighbours();
    p2.send(p2.links[0]!, { kind: "prune" }); // a makes p2 lazy; p2 keeps a eager
    w.run(LATENCY + 10);
    p1.send(p1.links[0]!, itemWhere(numbered, 400, (f) => f < 0.5));
    w.run(PRUNE_PERIOD_MS);
    const next = itemWhere(numbered, 500, (f) => f > 0.9);
    p1.send(p1.links[0]!, next);
    w.run(LATENCY + 10);
    expect(p2.of("gossip")).toEqual([]);
    p2.send(p2.links[0]!, next);
    w.run(LATENCY + 10);
    expect(p2.of("prune").length).toBe(1);
  });

  test("rule: after a quiet start the node's first item prunes once it has been alone FIRST_HOLD_MS, not if another item comes first", () => {
    for (const another of [false, true]) {
      const { w, p1, p2 } = twoNeighbours();
      w.run(PRUNE_PERIOD_MS);
      const first = itemWhere(numbered, 300, (f) => f > 0.9);
      const start = w.clock.now();
      p1.send(p1.links[0]!, first);
      w.run(LATENCY + 5);
      p2.send(p2.links[0]!, first); // a duplicate, held
      if (another) p1.send(p1.links[0]!, item(9301, 5, 1));
      runTo(w, start + LATENCY + FIRST_HOLD_MS - 1);
      expect(p2.of("prune")).toEqual([]);
      runTo(w, start + LATENCY + FIRST_HOLD_MS + 2 * LATENCY);
      expect(p2.of("prune").length).toBe(another ? 0 : 1);
    }
  });

  test("rule: at 100 items a second only items whose id is below about 1% decide", () => {
    const { w, p1, p2 } = twoNeighbours();
    for (let n = 0; n < 100; n++) {
      p1.send(p1.links[0]!, item(1000 + n, 5, 1));
      w.run(10);
    }
    w.run(LATENCY);
    const busy = itemWhere(numbered, 5000, (f) => f > 0.02);
    p1.send(p1.links[0]!, busy);
    w.run(10);
    p2.send(p2.links[0]!, busy);
    w.run(LATENCY + 10);
    expect(p2.of("prune")).toEqual([]);
    const decider = itemWhere(numbered, 6000, (f) => f < 0.005);
    p1.send(p1.links[0]!, decider);
    w.run(10);
    p2.send(p2.links[0]!, decider);
    w.run(LATENCY + 10);
    expect(p2.of("prune").length).toBe(1);
  });
});

describe("repair push onward", () => {
  /** Node a with `count` probe neighbours, all made lazy (they PRUNE a). */
  function lazyNeighbours(count = 8): { w: World; a: SimNode; p: Probe[] } {
    const w = quietWorld({ graft_timeout_ms: String(G), offer_recent_ms: "0" });
    const a = w.addNode(null);
    const p = Array.from({ length: count }, (_, i) => new Probe(w, i + 1));
    for (const q of p) q.join(a);
    w.run(20);
    relax(w, p);
    return { w, a, p };
  }
  /** Every probe PRUNEs a again, so that what a sends next in full is pushed (or goes to a first copy's sender). */
  function relax(w: World, p: Probe[]): void {
    for (const q of p) q.send(q.links[0]!, { kind: "prune" });
    w.run(20);
  }
  /** Each of qs announces `it` to a (an IHAVE), 10 ms apart. */
  function announce(w: World, qs: Probe[], it: Gossip): void {
    for (const q of qs) {
      q.send(q.links[0]!, { kind: "ihave", entries: [{ id: it.id, hops: 1 }] });
      w.run(10);
    }
  }
  const got = (q: Probe): string[] => q.of("gossip").map((m) => idKey(m.id));
  const copiesOf = (p: Probe[], it: Gossip): number => p.filter((q) => got(q).includes(idKey(it.id))).length;

  test(`rule: a first copy that comes unasked on a lazy link goes on in full to the ${CHAIN_PUSH_PEERS} lazy neighbours heard from last that did not announce it, when enough announced it`, () => {
    const { w, a, p } = lazyNeighbours();
    const it = item(20, 5, 1);
    // Heard from, oldest first: p2, p3, p5, p6, then p4, p7 and p8, which announce the item.
    for (const q of [p[1]!, p[2]!, p[4]!, p[5]!]) {
      q.send(q.links[0]!, { kind: "ping" });
      w.run(10);
    }
    announce(w, [p[3]!, p[6]!, p[7]!], it);
    p[0]!.send(p[0]!.links[0]!, it);
    w.run(LATENCY + 100);
    expect(a.delivered.get(idKey(it.id))).toBe(1);
    const k = idKey(it.id);
    expect(p.map(got)).toEqual([[], [], [], [], [k], [k], [], []]);
    // The others are told by IHAVE.
    expect(p[1]!.of("ihave").length).toBe(1);
  });

  test(`rule: when at most one in ${1 / FEW_ANNOUNCERS_SHARE} lazy neighbours announced the item, the push goes to every one that did not`, () => {
    const pushed = (count: number, announcers: number): number => {
      const { w, p } = lazyNeighbours(count);
      const it = item(29, 5, 1);
      announce(w, p.slice(1, 1 + announcers), it);
      p[0]!.send(p[0]!.links[0]!, it);
      w.run(LATENCY + 100);
      return copiesOf(p, it);
    };
    // The sender is eager by then (a first copy makes it so): 13 probes leave 12 lazy neighbours.
    expect([pushed(13, 1), pushed(13, 2), pushed(8, 0), pushed(8, 1)]).toEqual([11, CHAIN_PUSH_PEERS, 7, CHAIN_PUSH_PEERS]);
  });

  test("rule: a neighbour pushed to becomes eager: the next item goes to it in full", () => {
    const { w, a, p } = lazyNeighbours();
    const it = item(30, 5, 1);
    for (const q of [p[4]!, p[5]!]) {
      q.send(q.links[0]!, { kind: "ping" });
      w.run(10);
    }
    announce(w, [p[3]!, p[6]!, p[7]!], it);
    p[0]!.send(p[0]!.links[0]!, it);
    w.run(LATENCY + 100);
    const next = w.broadcast(a);
    w.run(LATENCY + 10);
    // p1 sent the first copy (eager since), p5 and p6 were pushed to; the others get an IHAVE.
    expect(p.map((q) => got(q).includes(next.key))).toEqual([true, false, false, false, true, true, false, false]);
  });

  test("rule: a copy from an eager neighbour is not pushed on, nor an unasked one within REPAIR_PUSH_GAP_MS of a first copy through the tree", () => {
    const { w, a, p } = lazyNeighbours();
    const eager = item(21, 5, 1);
    p[0]!.send(p[0]!.links[0]!, { kind: "graft", ids: [itemId(99)] }); // makes p1 eager at a
    w.run(LATENCY + 10);
    const start = w.clock.now();
    p[0]!.send(p[0]!.links[0]!, eager);
    w.run(LATENCY + 100);
    expect(a.delivered.get(idKey(eager.id))).toBe(1);
    expect(p.slice(1).flatMap(got)).toEqual([]);
    const [soon, later] = [item(22, 5, 1), item(23, 5, 1)];
    runTo(w, start + REPAIR_PUSH_GAP_MS / 2);
    p[1]!.send(p[1]!.links[0]!, soon);
    runTo(w, start + LATENCY + REPAIR_PUSH_GAP_MS + 10);
    p[2]!.send(p[2]!.links[0]!, later);
    w.run(LATENCY + 100);
    // A first copy makes its sender eager: the eager copies go to p1, then p1-p2; the push
    // (nobody announced it) adds every other neighbour to the later one only.
    expect([copiesOf(p, soon), copiesOf(p, later)]).toEqual([1, p.length - 1]);
  });

  test("rule: unasked copies are pushed on at most once per REPAIR_PUSH_GAP_MS", () => {
    const { w, p } = lazyNeighbours();
    const [first, second, third] = [item(24, 5, 1), item(27, 5, 1), item(28, 5, 1)];
    const start = w.clock.now();
    p[1]!.send(p[1]!.links[0]!, first);
    runTo(w, start + REPAIR_PUSH_GAP_MS / 2);
    relax(w, p);
    p[2]!.send(p[2]!.links[0]!, second);
    runTo(w, start + REPAIR_PUSH_GAP_MS + 10);
    relax(w, p);
    p[3]!.send(p[3]!.links[0]!, third);
    w.run(LATENCY + 100);
    // Every neighbour lazy again before each item: copies are pushes only.
    expect([copiesOf(p, first), copiesOf(p, second), copiesOf(p, third)]).toEqual([p.length - 1, 0, p.length - 1]);
  });

  test("rule: an item that is not forwarded (its last hop) leaves the push budget unspent", () => {
    const { w, p } = lazyNeighbours();
    const last = item(25, 1, 1);
    const next = item(26, 5, 1);
    p[0]!.send(p[0]!.links[0]!, last);
    w.run(100);
    relax(w, p);
    p[1]!.send(p[1]!.links[0]!, next);
    w.run(LATENCY + 100);
    expect(p.flatMap(got).filter((k) => k === idKey(last.id))).toEqual([]);
    expect(copiesOf(p, next)).toBe(p.length - 1);
  });
});
