// Dissemination (issue 3, "Peer overlay"): items spread by Plumtree or flood over real
// nodes on loopback. Exactly-once delivery, never back to the announcing connection, TTL
// limits, validation gating the spread, unsubscribed types going nowhere, healing after mass
// failure, late joiners. Both modes run the same tests.

import { afterEach, describe, expect, test } from "bun:test";
import type { GossipNode } from "../../src/node/node.ts";
import {
  type Subscriber,
  Testnet,
  describeOverlay,
  isConnected,
  isSymmetric,
  overlayDiff,
  quiet,
  stableOverlay,
  until,
} from "../helpers/testnet.ts";

const MODES = ["plumtree", "flood"] as const;
type Mode = (typeof MODES)[number];
const TYPE = 540;
/** Per-test limit (bun's default is 5 s); each wait inside has its own, shorter deadline. */
const LIMIT = 30_000;

let nets: Testnet[] = [];
afterEach(() => {
  for (const n of nets) n.stop();
  nets = [];
});

/** A network where every node has two local connections subscribed to TYPE: `subs` only
 * listens; `anns` also announces, so it must never see its own items come back. */
interface Wired {
  readonly t: Testnet;
  readonly nodes: GossipNode[];
  readonly subs: Subscriber[];
  readonly anns: Subscriber[];
}

async function wired(n: number, mode: Mode, keys: Record<string, string> = {}): Promise<Wired> {
  const t = await Testnet.start(n, { degree: "4", dissemination: mode, ...keys });
  nets.push(t);
  const subs = await Promise.all(t.nodes.map((node) => t.subscribe(node, TYPE)));
  const anns = await Promise.all(t.nodes.map((node) => t.subscribe(node, TYPE)));
  await until(() => t.nodes.every((node) => node.api.subscriberCount(TYPE) === 2), 5000, "both subscriptions on every node");
  await until(() => isConnected(t.nodes) && isSymmetric(t.nodes), 15_000, "a connected overlay");
  return { t, nodes: t.nodes.slice(), subs, anns };
}

let serial = 0;
/** Unique item bytes. */
function item(): Uint8Array {
  const d = crypto.getRandomValues(new Uint8Array(8));
  d[0] = ++serial & 0xff;
  return d;
}

/** How many times a subscriber (by node index and role) should have been handed an item. */
type Want = (i: number, role: "sub" | "ann") => number;
interface Expect {
  readonly data: Uint8Array;
  readonly want: Want;
}

/** Every subscriber (of `only`, default all) whose count of `data` is not `want`: one line each. */
function mismatches(w: Wired, data: Uint8Array, want: Want, only?: ReadonlySet<number>): string[] {
  const out: string[] = [];
  w.nodes.forEach((_, i) => {
    if (only && !only.has(i)) return;
    for (const [role, s] of [["sub", w.subs[i]!], ["ann", w.anns[i]!]] as const) {
      const got = s.count(data);
      if (got !== want(i, role)) out.push(`node ${i} ${role}: got ${got}, want ${want(i, role)}`);
    }
  });
  return out;
}

/** Waits until every subscriber count matches, then until nothing is in flight, then checks again. */
async function settle(w: Wired, items: readonly Expect[], live?: ReadonlySet<number>): Promise<void> {
  const nodes = live ? w.nodes.filter((_, i) => live.has(i)) : w.nodes;
  const wrong = () => items.flatMap((x) => mismatches(w, x.data, x.want, live));
  await until(() => wrong().length === 0, 10_000, "every subscriber's expected count").catch((e: Error) => {
    throw new Error(`${e.message}\n${wrong().join("\n")}\n${describeOverlay(w.nodes, nodes)}`);
  });
  await quiet(nodes);
  expect(wrong()).toEqual([]);
}

/** At the origin: once for the listening subscriber (local delivery), never for the announcer.
 * Elsewhere: `elsewhere(i)` times for both. */
const fromOrigin = (origin: number, elsewhere: (i: number) => number): Want => (i, role) =>
  i === origin ? (role === "ann" ? 0 : 1) : elsewhere(i);

/** The exactly-once rule: once per subscriber, except zero for the announcing connection. */
const exactlyOnce = (origin: number): Want => fromOrigin(origin, () => 1);

// --- the overlay as a graph of node indices ---
//
// Tests that depend on the overlay's shape take it just before the announce and again once
// nothing is in flight. HyParView may still add a link between two nodes with room now and
// then; links present at both times bound what must be reached, links present at either time
// bound what may be reached. With no change (the usual case) both bounds coincide.

type Graph = Map<number, Set<number>>;

function graphOf(w: Wired): Graph {
  const index = new Map(w.nodes.map((n, i) => [n.id, i]));
  return new Map(w.nodes.map((n, i) => [i, new Set([...n.membership.active.keys()].map((id) => index.get(id)!).filter((j) => j !== undefined))]));
}

function combine(a: Graph, b: Graph, op: "both" | "either"): Graph {
  return new Map([...a].map(([i, as]) => {
    const bs = b.get(i) ?? new Set<number>();
    return [i, new Set(op === "both" ? [...as].filter((j) => bs.has(j)) : [...as, ...bs])];
  }));
}

/** Nodes (origin excluded) an item from `origin` reaches within `hops`; nodes in `stop` take it but pass nothing on. */
function reach(g: Graph, origin: number, hops = Infinity, stop: ReadonlySet<number> = new Set()): Set<number> {
  const dist = new Map([[origin, 0]]);
  const queue = [origin];
  while (queue.length > 0) {
    const i = queue.shift()!;
    const d = dist.get(i)!;
    if (d >= hops || (i !== origin && stop.has(i))) continue;
    for (const j of g.get(i) ?? []) {
      if (dist.has(j)) continue;
      dist.set(j, d + 1);
      queue.push(j);
    }
  }
  dist.delete(origin);
  return new Set(dist.keys());
}

/** The nodes (origin excluded) whose subscribers were handed `data`, after checking the
 * exactly-once rule: at most once each, the same on both connections of a node, once for the
 * origin's listener and never for its announcer. */
function receivers(w: Wired, data: Uint8Array, origin: number): Set<number> {
  const bad: string[] = [];
  const got = new Set<number>();
  w.nodes.forEach((_, i) => {
    const [s, a] = [w.subs[i]!.count(data), w.anns[i]!.count(data)];
    if (i === origin ? s !== 1 || a !== 0 : s > 1 || a !== s) bad.push(`node ${i}: sub ${s}, ann ${a}`);
    if (i !== origin && s > 0) got.add(i);
  });
  expect(bad).toEqual([]);
  return got;
}

/** Waits until every node of `must` (a lower bound from the graph at announce time) got `data`. */
async function reached(w: Wired, data: Uint8Array, must: ReadonlySet<number>, g0: Graph): Promise<void> {
  const missing = () => [...must].filter((i) => w.subs[i]!.count(data) === 0);
  await until(() => missing().length === 0, 10_000, "the nodes that must receive the item").catch((e: Error) => {
    throw new Error(`${e.message}: missing ${missing().join(",")}; ${overlayDiff(sig(g0), sig(graphOf(w)))}`);
  });
  await quiet(w.nodes);
}

const sig = (g: Graph): string => [...g].map(([i, js]) => `${i}:${[...js].sort().join(",")}`).join(" ");
const sorted = (xs: Iterable<number>): number[] => [...xs].sort((a, b) => a - b);

/** lower ⊆ got ⊆ upper, reported with the overlay change that explains any gap between the bounds. */
function expectBetween(got: ReadonlySet<number>, lower: ReadonlySet<number>, upper: ReadonlySet<number>, change: string): void {
  const missing = sorted([...lower].filter((i) => !got.has(i)));
  const extra = sorted([...got].filter((i) => !upper.has(i)));
  expect({ missing, extra, change }).toEqual({ missing: [], extra: [], change });
}

/** The graph at announce time and after the spread: links in both, links in either, and the change. */
function bounds(w: Wired, g0: Graph): { both: Graph; either: Graph; change: string } {
  const g1 = graphOf(w);
  return { both: combine(g0, g1, "both"), either: combine(g0, g1, "either"), change: overlayDiff(sig(g0), sig(g1)) };
}

/** Announces a few unlimited items so Plumtree prunes links to lazy before the real test. */
async function warmUp(w: Wired): Promise<void> {
  const items = [1, 2, 3].map((origin) => ({ origin, data: item() }));
  for (const x of items) w.anns[x.origin]!.client.announce(0, TYPE, x.data);
  await settle(w, items.map((x) => ({ data: x.data, want: exactlyOnce(x.origin) })));
}

/**
 * For the tests that compare who received an item with the overlay's shape: offers to new
 * neighbours (offer_recent_ms, tested on its own below) would legitimately carry an item,
 * within its TTL, along a link that came and went between two snapshots of the overlay, and
 * so outside what the snapshots can bound.
 */
const FROZEN = { offer_recent_ms: "0" };

/**
 * 14 nodes whose overlay has settled, node 0 as the origin, the graph as it stands and the
 * origin's neighbours (fewer than all the others, or the test would prove nothing).
 */
async function settledAroundOrigin(mode: Mode) {
  const w = await wired(14, mode, FROZEN);
  await stableOverlay(w.nodes, 4, 500);
  const origin = 0;
  const g0 = graphOf(w);
  const near = reach(g0, origin, 1);
  expect(near.size).toBeLessThan(w.nodes.length - 1);
  return { w, origin, g0, near };
}

describe.each(MODES)("%s", (mode) => {
  test("an announce reaches every subscriber exactly once, never the announcing connection", async () => {
    const w = await wired(20, mode);
    const d = item();
    w.anns[0]!.client.announce(0, TYPE, d);
    await settle(w, [{ data: d, want: exactlyOnce(0) }]);
    // Each other node took in one first copy and handed it to its modules once.
    const stats = w.nodes.map((n) => n.dissemination.stats);
    expect(stats[0]!.announced).toBe(1);
    expect(stats.map((s) => s.delivered)).toEqual(w.nodes.map((_, i) => (i === 0 ? 0 : 1)));
    expect(stats.reduce((sum, s) => sum + s.received - s.duplicates, 0)).toBe(w.nodes.length - 1);
  }, LIMIT);

  test("10 items from random nodes reach every subscriber exactly once", async () => {
    const w = await wired(20, mode);
    const sent = Array.from({ length: 10 }, () => ({ origin: Math.floor(Math.random() * w.nodes.length), data: item() }));
    for (const s of sent) w.anns[s.origin]!.client.announce(0, TYPE, s.data);
    await settle(w, sent.map((s) => ({ data: s.data, want: exactlyOnce(s.origin) })));
    // Nothing else was ever delivered: 10 items, each once per subscriber but its announcer.
    const total = w.subs.concat(w.anns).reduce((n, s) => n + s.count(), 0);
    expect(total).toBe(10 * (2 * w.nodes.length - 1));
  }, LIMIT);

  test("TTL 1 reaches exactly the origin's direct neighbours", async () => {
    const w = await wired(20, mode, FROZEN);
    // Settled first: with offers off, an item sent amid start-up churn may miss a region.
    await stableOverlay(w.nodes, 4, 500);
    if (mode === "plumtree") await warmUp(w);
    await stableOverlay(w.nodes, 4, 500);
    const origin = 5;
    const g0 = graphOf(w);
    const d = item();
    w.anns[origin]!.client.announce(1, TYPE, d);
    await reached(w, d, reach(g0, origin, 1), g0);
    const b = bounds(w, g0);
    expectBetween(receivers(w, d, origin), reach(b.both, origin, 1), reach(b.either, origin, 1), b.change);
  }, LIMIT);

  test(`TTL 2 reaches no node beyond distance 2${mode === "flood" ? ", and every node within it" : ""}`, async () => {
    const w = await wired(20, mode, FROZEN);
    // Settled first: with offers off, an item sent amid start-up churn may miss a region.
    await stableOverlay(w.nodes, 4, 500);
    if (mode === "plumtree") await warmUp(w);
    await stableOverlay(w.nodes, 4, 500);
    const origin = 7;
    const g0 = graphOf(w);
    expect(reach(g0, origin, 2).size).toBeLessThan(w.nodes.length - 1); // else the test proves nothing
    // Plumtree may reach a distance-2 node only by a longer path whose TTL runs out first
    // (a lazy direct link loses to an eager two-hop one): only distance 1 is certain there.
    const certain = mode === "flood" ? 2 : 1;
    const d = item();
    w.anns[origin]!.client.announce(2, TYPE, d);
    await reached(w, d, reach(g0, origin, certain), g0);
    const b = bounds(w, g0);
    expectBetween(receivers(w, d, origin), reach(b.both, origin, certain), reach(b.either, origin, 2), b.change);
  }, LIMIT);

  test("an invalid verdict at every neighbour of the origin stops the item there", async () => {
    const { w, origin, g0, near } = await settledAroundOrigin(mode);
    // One "invalid" among a node's two subscribers is enough to drop the item.
    for (const i of near) w.subs[i]!.reply = "invalid";
    const d = item();
    w.anns[origin]!.client.announce(0, TYPE, d);
    await reached(w, d, near, g0);
    const b = bounds(w, g0);
    const upper = reach(b.either, origin, Infinity, near);
    expectBetween(receivers(w, d, origin), reach(b.both, origin, Infinity, near), upper, b.change);
    for (const i of near) {
      const s = w.nodes[i]!.dissemination.stats;
      expect([i, s.received, s.rejected, s.delivered]).toEqual([i, 1, 1, 0]);
    }
    // Beyond the rejecters not even a copy arrived.
    for (const i of w.nodes.keys()) if (i !== origin && !upper.has(i)) expect([i, w.nodes[i]!.dissemination.stats.received]).toEqual([i, 0]);
  }, LIMIT);

  test("a node that rejects an item ignores its later copies and passes nothing on", async () => {
    const w = await wired(14, mode, FROZEN);
    await stableOverlay(w.nodes, 4, 500);
    const origin = 0;
    const g0 = graphOf(w);
    // The rejecter: the best-connected node but the origin, so copies reach it by several links.
    const x = sorted(w.nodes.keys()).filter((i) => i !== origin).sort((a, b) => g0.get(b)!.size - g0.get(a)!.size)[0]!;
    const xNode = w.nodes[x]!;
    const stop = new Set([x]);
    const must = reach(g0, origin, Infinity, stop);
    // Neighbours of the rejecter that get the item without passing through it: each sends a copy.
    const copies = [...g0.get(x)!].filter((j) => j === origin || must.has(j)).length;
    expect(copies).toBeGreaterThanOrEqual(2);
    w.subs[x]!.reply = "invalid";
    const d = item();
    w.anns[origin]!.client.announce(0, TYPE, d);
    await reached(w, d, must, g0);
    await until(() => xNode.dissemination.stats.received >= copies, 5000, "a copy from every reachable neighbour of the rejecter");
    await quiet(w.nodes);
    const b = bounds(w, g0);
    expectBetween(receivers(w, d, origin), reach(b.both, origin, Infinity, stop), reach(b.either, origin, Infinity, stop), b.change);
    // One notification, one rejection; every later copy counted as a duplicate and dropped.
    const s = xNode.dissemination.stats;
    expect([w.subs[x]!.count(d), w.anns[x]!.count(d)]).toEqual([1, 1]);
    expect([s.rejected, s.delivered, s.duplicates]).toEqual([1, 0, s.received - 1]);
    expect(s.duplicates).toBeGreaterThanOrEqual(1);
  }, LIMIT);

  test("a data type nobody subscribed to goes one hop and no further", async () => {
    const { w, origin, g0, near } = await settledAroundOrigin(mode);
    const mod = await w.t.module(w.nodes[origin]!);
    mod.announce(0, 999, item());
    await until(() => [...near].every((i) => w.nodes[i]!.dissemination.stats.dropped === 1), 5000, "the first hop drops the item");
    await quiet(w.nodes);
    const b = bounds(w, g0);
    const [lower, upper] = [reach(b.both, origin, 1), reach(b.either, origin, 1)];
    const got = new Set(sorted(w.nodes.keys()).filter((i) => i !== origin && w.nodes[i]!.dissemination.stats.received > 0));
    expectBetween(got, lower, upper, b.change);
    for (const [i, n] of w.nodes.entries()) {
      const s = n.dissemination.stats;
      expect([i, s.delivered, s.received, s.dropped]).toEqual([i, 0, got.has(i) ? 1 : 0, got.has(i) ? 1 : 0]);
    }
    expect(w.subs.concat(w.anns).map((s) => s.count())).toEqual(w.nodes.flatMap(() => [0, 0]));
  }, LIMIT);

  test("after 30% of the nodes stop at once, the next announce reaches every live subscriber", async () => {
    const w = await wired(20, mode);
    const dead = new Set(w.nodes.map((_, i) => i).filter((i) => i % 3 === 2));
    const live = new Set(w.nodes.map((_, i) => i).filter((i) => !dead.has(i)));
    const survivors = w.nodes.filter((_, i) => live.has(i));
    const liveIds = new Set(survivors.map((n) => n.id));
    for (const i of dead) w.nodes[i]!.stop();
    await until(
      () =>
        isConnected(survivors) &&
        survivors.every((n) => n.membership.active.size >= 1 && [...n.membership.active.keys()].every((id) => liveIds.has(id))),
      10_000,
      "the survivors' overlay heals",
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${describeOverlay(w.nodes, survivors)}`);
    });
    const d = item();
    w.anns[0]!.client.announce(0, TYPE, d);
    await settle(w, [{ data: d, want: exactlyOnce(0) }], live);
  }, LIMIT);

  test("a node that joins late receives new items, not ones older than offer_recent_ms", async () => {
    const w = await wired(8, mode, { offer_recent_ms: "200" });
    const old = item();
    w.anns[0]!.client.announce(0, TYPE, old);
    await settle(w, [{ data: old, want: exactlyOnce(0) }]);
    await Bun.sleep(300); // the old item leaves the window in which new neighbours are offered items
    const late = await w.t.addNode();
    const lateSub = await w.t.subscribe(late, TYPE);
    await until(() => late.membership.active.size >= 1 && isConnected(w.t.nodes), 15_000, "the late node is connected");
    const fresh = item();
    w.anns[1]!.client.announce(0, TYPE, fresh);
    await settle(w, [{ data: fresh, want: exactlyOnce(1) }]);
    await until(() => lateSub.count(fresh) === 1, 10_000, "the late node's subscriber gets the new item");
    await quiet(w.t.nodes);
    expect([lateSub.count(fresh), lateSub.count(old), lateSub.count()]).toEqual([1, 0, 1]);
    expect(late.dissemination.stats.delivered).toBe(1);
  }, LIMIT);
});

describe.each(MODES)("offer_recent_ms (%s)", (mode) => {
  // Plumtree repairs only along links that existed while an item spread: an item announced
  // while its origin had no neighbour would be lost for good without this offer.
  async function isolatedAnnounce(offerMs: string): Promise<{ t: Testnet; late: Subscriber; data: Uint8Array }> {
    const t = await Testnet.start(1, { dissemination: mode, offer_recent_ms: offerMs });
    nets.push(t);
    const ann = await t.module(t.nodes[0]!);
    const data = item();
    ann.announce(0, TYPE, data);
    await until(() => t.nodes[0]!.dissemination.stats.announced === 1, 2000, "the item is announced");
    const node = await t.addNode();
    const late = await t.subscribe(node, TYPE);
    await until(() => node.membership.active.size === 1, 10_000, "the new node has its neighbour");
    return { t, late, data };
  }

  test("an item announced while its origin had no neighbour reaches the first one to arrive within the window", async () => {
    const { late, data } = await isolatedAnnounce("5000");
    await until(() => late.count(data) === 1, 5000, "the newcomer's subscriber gets the item");
  }, LIMIT);

  test("with offer_recent_ms = 0 it does not", async () => {
    const { t, late, data } = await isolatedAnnounce("0");
    await Bun.sleep(300); // several graft timeouts: nothing is on its way
    await quiet(t.nodes);
    expect(late.count(data)).toBe(0);
  }, LIMIT);
});
