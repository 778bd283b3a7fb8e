// Rules no other test pinned (issue 10), each driven through fake peers against one real
// node on loopback: the hop cap on received items, and the per-link control-message budget
// (peer_control_per_s). Each test fails when its rule is deleted from the source.

import { describe, expect, test } from "bun:test";
import { idKey } from "../../src/core/caches.ts";
import type { GossipNode } from "../../src/node/node.ts";
import { memoryLogger } from "../../src/util/log.ts";
import { concat } from "../../src/wire/bytes.ts";
import type { Gossip } from "../../src/wire/p2p.ts";
import { FakePeer } from "../helpers/fake-peer.ts";
import { RawModule, defer, fakeKeys, logged, nodeKeys, useCleanup } from "../helpers/fake-module.ts";
import { freePort, startNode, until } from "../helpers/testnet.ts";
import { makeItem } from "../helpers/items.ts";

useCleanup();
const LIMIT = 20_000;
const TYPE = 4242;

/** A lone node (no honest neighbour: every link it has is one of ours). */
async function loneTarget(keys: Record<string, string>): Promise<{ target: GossipNode; lines: string[] }> {
  const key = (await nodeKeys())[0]!;
  const { log, lines } = memoryLogger("debug");
  const target = defer(startNode({ hostkey: key, keys, log }), (n) => n.stop());
  return { target, lines };
}

async function joinedFake(target: GossipNode, i: number) {
  const key = (await fakeKeys(i + 1))[i]!;
  const p = defer(await FakePeer.joined(target.p2pAddress, key, `127.0.0.1:${freePort()}`), (x) => x.close());
  await until(() => target.membership.active.has(key.idHex), 3000, `fake peer ${i} is a neighbour`);
  return { p, key };
}

const item = (n: number, ttl: number, hops: number): Gossip => makeItem({ salt: n, ttl, hops, dataType: TYPE, data: new Uint8Array([n]) });

describe("ttl_cap on received items", () => {
  test("rule: an item whose hops reached our ttl_cap is delivered but not forwarded; a larger ttl is lowered to the cap", async () => {
    const CAP = 4;
    // No offers to new neighbours: only forwarding may put an item on the second link.
    const { target } = await loneTarget({ ttl_cap: String(CAP), offer_recent_ms: "0" });
    const sub = defer(await RawModule.connect(target.apiAddress), (m) => m.close());
    sub.reply = true;
    sub.notify(TYPE);
    await until(() => target.api.subscriberCount(TYPE) === 1, 2000, "subscribed");
    const { p: from } = await joinedFake(target, 0);
    const { p: watcher } = await joinedFake(target, 1);

    const atCap = item(1, 10, CAP); // hops = ttl_cap: its last hop was to us
    const overCap = item(2, 255, 200); // a lying peer's hop count far past the cap
    const below = item(3, 200, CAP - 1); // may go one hop more, with ttl min(200, cap) - 1
    const zero = item(4, 10, 0); // hops 0 is accepted as is (section 6.2)
    from.gossip([atCap, overCap, below, zero]);

    // All four are delivered to the local module.
    await until(() => sub.notifications.length === 4, 3000, "four notifications");
    expect(sub.notifications.map((n) => n.data[0]).sort()).toEqual([1, 2, 3, 4]);
    // The allowed ones reach the other neighbour, and a PING/PONG after them shows that
    // whatever the node sent the watcher for these items has arrived.
    await watcher.next("gossip");
    await watcher.next("gossip");
    watcher.send({ kind: "ping" });
    await watcher.next("pong");

    const forwarded = new Map(watcher.got.flatMap((m) => (m.kind === "gossip" ? [[idKey(m.id), m] as const] : [])));
    expect([...forwarded.keys()].sort()).toEqual([idKey(below.id), idKey(zero.id)].sort());
    const offered = watcher.got.flatMap((m) => (m.kind === "ihave" ? m.entries.map((e) => idKey(e.id)) : []));
    expect(offered).not.toContain(idKey(atCap.id));
    expect(offered).not.toContain(idKey(overCap.id));
    // ttl + hops stays constant along a path once the ttl is capped by the receiver.
    const b = forwarded.get(idKey(below.id))!;
    expect([b.ttl, b.hops]).toEqual([CAP - 1, CAP]);
    const z = forwarded.get(idKey(zero.id))!;
    expect([z.ttl, z.hops]).toEqual([CAP - 1, 1]);
  }, LIMIT);
});

describe("peer_control_per_s", () => {
  test("rule: control messages past the per-link budget are dropped unprocessed and cost 2 points each; a flood ends in a ban", async () => {
    const RATE = 10;
    const { target, lines } = await loneTarget({ peer_control_per_s: String(RATE), keepalive_ms: "1000", ban_s: "60" });
    const { p, key } = await joinedFake(target, 2);
    p.alive = false; // our own keepalive PINGs would spend the budget too
    const pongs = () => p.got.filter((m) => m.kind === "pong").length;
    const dropped = () => -target.scores.score(key.idHex) / 2;

    // 2 x RATE PINGs in one write: about RATE are answered, the rest dropped at -2 each.
    p.write(concat(Array.from({ length: 2 * RATE }, () => p.seal({ kind: "ping" }))));
    await until(() => pongs() + dropped() >= 2 * RATE, 3000, `all ${2 * RATE} PINGs answered or dropped`);
    expect(pongs()).toBeGreaterThanOrEqual(RATE - 2);
    expect(pongs()).toBeLessThanOrEqual(RATE + 1);
    expect(dropped()).toBeGreaterThanOrEqual(RATE - 1);
    expect(target.scores.isBanned(key.idHex)).toBe(false);
    expect(p.closed).toBe(false);

    // Keep flooding: the score reaches -ban_score (100), the peer is banned and cut off.
    p.write(concat(Array.from({ length: 6 * RATE }, () => p.seal({ kind: "prune" }))));
    await p.whenClosed(3000);
    expect(target.scores.isBanned(key.idHex)).toBe(true);
    expect(target.membership.active.has(key.idHex)).toBe(false);
    expect(logged(lines, "peer banned", "control message flood").length).toBe(1);
  }, LIMIT);
});
