// Hostile peers with valid handshakes (issue 5): one that floods items past
// peer_items_per_s, one that replays items, one that sends items local modules reject. Each
// test checks the rule, that the node stays up and keeps serving an honest neighbour and
// subscriber, that its tables stay bounded, and that its log says what it did.

import { describe, expect, test } from "bun:test";
import { HandshakeError } from "../../src/node/handshake.ts";
import type { GossipNode } from "../../src/node/node.ts";
import { FakePeer, Rng, randomItems } from "../helpers/fake-peer.ts";
import { RawModule, arena, defer, fakeKeys, logged, sizes, useCleanup } from "../helpers/fake-module.ts";
import { freePort, until } from "../helpers/testnet.ts";
import { deciderItem } from "../helpers/items.ts";

useCleanup();
const LIMIT = 20_000;
const ITEMS_PER_S = 20;

/** A fake peer that joined the target; its advertised address is a port nobody listens on. */
async function joinedFake(target: GossipNode, keyIndex: number) {
  const key = (await fakeKeys(keyIndex + 1))[keyIndex]!;
  const addr = `127.0.0.1:${freePort()}`;
  const p = defer(await FakePeer.joined(target.p2pAddress, key, addr), (x) => x.close());
  await until(() => target.membership.active.has(key.idHex), 3000, "the fake peer is a neighbour");
  return { p, key, addr };
}

describe("peer_items_per_s: a handshaken peer that floods items", () => {
  test("excess items are dropped, its score falls, at -ban_score it is banned and disconnected, and refused at a reconnect handshake", async () => {
    const { target, traffic, lines } = await arena({ peer_items_per_s: String(ITEMS_PER_S), ban_s: "60" });
    const { p, key, addr } = await joinedFake(target, 0);
    const rng = new Rng(0x5eed01);
    const received0 = target.dissemination.stats.received;

    // A burst of 50 (type 999: nobody subscribed, so no item earns or costs points by itself):
    // the bucket holds 20, the rest are dropped; the first 20 drops are forgiven (one second's
    // worth, as bunching in the network would cause), the last 10 cost -2 each.
    p.gossip(randomItems(rng, 50, 999));
    await until(() => target.dissemination.stats.rateLimited >= 29, 2000, "rate-limited items");
    const score = target.scores.score(key.idHex);
    expect(score).toBeLessThanOrEqual(-18);
    expect(score).toBeGreaterThan(-100);
    expect(target.scores.isBanned(key.idHex)).toBe(false);
    expect(target.dissemination.stats.received - received0).toBeLessThanOrEqual(ITEMS_PER_S + 1);
    expect(logged(lines, "items dropped: peer over its rate limit", `peer=${addr}`).length).toBeGreaterThan(0);

    // Keep flooding: the score reaches -100, the peer is banned by identity (not by the address
    // it claims; source IPs are not banned here, max_conns_per_ip = 0 on loopback) and cut off.
    p.gossip(randomItems(rng, 200, 999));
    await p.whenClosed(2000);
    expect(target.scores.bannedFor(key.idHex)).toBeGreaterThan(50_000);
    expect(target.scores.bannedFor(addr)).toBe(0);
    expect(target.membership.active.has(key.idHex)).toBe(false);
    expect(logged(lines, "peer banned", `addr=${addr}`, "item flood").length).toBe(1);
    // Far fewer items got through than were sent.
    expect(target.dissemination.stats.received - received0).toBeLessThan(60);

    // Back with the same key: refused at the handshake, before any work is asked.
    const again = defer(await FakePeer.connect(target.p2pAddress), (x) => x.close());
    const err = await again.handshake(key, { advertisedAddr: `127.0.0.1:${freePort()}` }).catch((e) => e);
    expect(err).toBeInstanceOf(HandshakeError);
    expect((err as HandshakeError).message).toContain("banned");
    await again.whenClosed();
    // A fresh key claiming the same address is another peer: the address was only claimed.
    const [, other] = await fakeKeys(2);
    const third = defer(await FakePeer.connect(target.p2pAddress), (x) => x.close());
    await third.handshake(other!, { advertisedAddr: addr });
    expect(target.membership.passive.has(addr)).toBe(false);
    third.close();
    await until(() => sizes(target).links === 1, 2000, "the fresh key's connection is gone");

    await traffic.flowing();
    expect(sizes(target).links).toBe(1); // only the honest neighbour
  }, LIMIT);
});

describe("framing: peers that claim an honest neighbour's address and flood", () => {
  test("rule: they are banned by identity, the claimed address is not, and the honest neighbour is let back in when it reconnects", async () => {
    const { target, honest, traffic, lines } = await arena({ peer_items_per_s: String(ITEMS_PER_S), ban_s: "60" });
    const keys = await fakeKeys(2);
    const rng = new Rng(0x5eed04);
    for (const key of keys) {
      const p = defer(await FakePeer.joined(target.p2pAddress, key, honest.p2pAddress), (x) => x.close());
      await until(() => target.membership.active.has(key.idHex), 3000, "the liar is a neighbour");
      p.gossip(randomItems(rng, 200, 999));
      await p.whenClosed(3000);
      expect(target.scores.isBanned(key.idHex)).toBe(true);
    }
    expect(logged(lines, "peer banned", `addr=${honest.p2pAddress}`, "item flood").length).toBe(2);
    expect(target.scores.bannedFor(honest.p2pAddress)).toBe(0);
    // The honest link breaks; the honest node dials the target again and is let in.
    const cut = target.membership.active.get(honest.id)!.link;
    cut.close("test: cut", false);
    const back = () => target.membership.active.get(honest.id)?.link;
    await until(() => back() !== undefined && back() !== cut && honest.membership.active.has(target.id), 5000, "the honest neighbour is back on a new link");
    expect(logged(lines, "handshake failed", "banned").length).toBe(0);
    await traffic.flowing();
  }, LIMIT);
});

describe("duplicate suppression: a peer that replays items", () => {
  test("an item id seen before is not delivered again, whoever replays it and however often", async () => {
    const { target, honest, traffic, lines } = await arena();
    const sub = defer(await RawModule.connect(target.apiAddress), (m) => m.close());
    sub.reply = true;
    sub.notify(777);
    await until(() => target.api.subscriberCount(777) === 1, 2000, "subscribed");
    const { p } = await joinedFake(target, 0);
    const { p: p2 } = await joinedFake(target, 1);
    // An item whose duplicates PRUNE at any rate (a prune decider), once the target has seen
    // two items (the honest traffic).
    await traffic.flowing();
    await traffic.flowing();
    const item = deciderItem(777, new Uint8Array([1, 2, 3]));
    p.gossip([item]);
    await until(() => sub.notifications.length === 1, 2000, "the first copy is delivered");
    const dup0 = target.dissemination.stats.duplicates;

    // The same id again and again, from the same peer and from another one.
    for (let i = 0; i < 5; i++) p.gossip([item]);
    p2.gossip([item, item]);
    // And an honest item the target sent the fake as a neighbour, replayed back at it.
    const honestItem = await p.next("gossip");
    expect(honestItem.dataType).toBe(540);
    p.gossip([honestItem, honestItem]);
    await until(() => target.dissemination.stats.duplicates >= dup0 + 9, 2000, "every replay counted as a duplicate");
    await traffic.flowing();
    expect(sub.notifications.length).toBe(1);
    // The honest subscriber never saw an item twice.
    expect(traffic.deliveries).toBe(traffic.arrived.size);
    // Replays cost nothing (duplicates are normal in gossip), but the replayer loses its eager
    // link: the target PRUNEs it, so the next items reach it as IHAVEs only.
    expect(p.closed).toBe(false);
    await until(() => p.got.some((m) => m.kind === "prune"), 2000, "a PRUNE to the replayer");
    expect(honest.membership.active.has(target.id)).toBe(true);
    expect(sizes(target).seen).toBeLessThanOrEqual(100_000);
    // No log line tells replays apart from ordinary duplicates: the stats above are the record.
    expect(logged(lines, "neighbour up").length).toBeGreaterThanOrEqual(3);
  }, LIMIT);
});

describe("invalid items: a peer whose items local modules reject", () => {
  test("each invalid verdict costs 20 points; the fifth bans and disconnects the peer; its items are never forwarded", async () => {
    const { target, honest, traffic, lines } = await arena();
    const judge = defer(await RawModule.connect(target.apiAddress), (m) => m.close());
    judge.reply = false;
    judge.notify(666);
    const watcher = defer(await RawModule.connect(honest.apiAddress), (m) => m.close());
    watcher.reply = true;
    watcher.notify(666);
    await until(() => target.api.subscriberCount(666) === 1 && honest.api.subscriberCount(666) === 1, 2000, "subscribed");
    const { p, key, addr } = await joinedFake(target, 0);
    const rng = new Rng(0x5eed03);

    p.gossip(randomItems(rng, 4, 666));
    await until(() => target.dissemination.stats.rejected === 4, 3000, "four items judged invalid");
    expect(target.scores.score(key.idHex)).toBe(-80);
    expect(p.closed).toBe(false);
    p.gossip(randomItems(rng, 1, 666));
    await p.whenClosed();
    expect(target.scores.bannedFor(key.idHex)).toBeGreaterThan(0);
    expect(logged(lines, "peer banned", `addr=${addr}`, "judged invalid").length).toBe(1);
    expect(judge.notifications.length).toBe(5);

    // The rejected items went nowhere, and the honest path still works.
    await traffic.flowing();
    expect(watcher.notifications.length).toBe(0);
    expect(target.api.pendingCount).toBe(0);
    const retry = defer(await FakePeer.connect(target.p2pAddress), (x) => x.close());
    const err = await retry.handshake(key, { advertisedAddr: `127.0.0.1:${freePort()}` }).catch((e) => e);
    expect((err as Error).message).toContain("banned");
  }, LIMIT);
});
