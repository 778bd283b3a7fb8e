// Item ids bound to content (issue 10, item 5; docs/PROTOCOL.md section 6.1): an id is the
// hash of the item's salt, data type and data, and a node checks it before the id may enter
// its seen cache. Driven through fake peers against one real node on loopback, beside an
// honest neighbour whose traffic must keep flowing.

import { describe, expect, test } from "bun:test";
import { idKey } from "../../src/core/caches.ts";
import { nodeCounters } from "../../src/node/metrics.ts";
import type { GossipNode } from "../../src/node/node.ts";
import { FakePeer, Rng } from "../helpers/fake-peer.ts";
import { RawModule, arena, defer, fakeKeys, logged, useCleanup } from "../helpers/fake-module.ts";
import { makeItem } from "../helpers/items.ts";
import { freePort, until } from "../helpers/testnet.ts";

useCleanup();
const LIMIT = 20_000;
const TYPE = 777;
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function joinedFake(target: GossipNode, i: number) {
  const key = (await fakeKeys(i + 1))[i]!;
  const addr = `127.0.0.1:${freePort()}`;
  const p = defer(await FakePeer.joined(target.p2pAddress, key, addr), (x) => x.close());
  await until(() => target.membership.active.has(key.idHex), 3000, `fake peer ${i} is a neighbour`);
  return { p, key, addr };
}

async function subscriber(target: GossipNode): Promise<RawModule> {
  const sub = defer(await RawModule.connect(target.apiAddress), (m) => m.close());
  sub.reply = true;
  sub.notify(TYPE);
  await until(() => target.api.subscriberCount(TYPE) === 1, 2000, "subscribed");
  return sub;
}

describe("item ids bound to content", () => {
  test("rule: other data sent under an id seen in an IHAVE is a protocol violation (ERR_ITEM_ID): the link is closed, and the real item is still delivered", async () => {
    const { target, traffic, lines } = await arena();
    const sub = await subscriber(target);
    const { p: announcer } = await joinedFake(target, 0);
    const { p: forger, key: forgerKey, addr: forgerAddr } = await joinedFake(target, 1);
    const real = makeItem({ salt: new Rng(0x1d5).bytes(16), dataType: TYPE, data: text("the real item") });
    const key = idKey(real.id);

    // The announcer offers the item lazily; the target now awaits it (GRAFT timer running).
    announcer.send({ kind: "ihave", entries: [{ id: real.id, hops: 1 }] });
    await until(() => target.dissemination.tableSizes.missing === 1, 2000, "the target awaits the announced id");
    // A neighbour that saw the id sends other data under it first (same id, same salt).
    forger.send({ ...real, data: text("junk under a seen id") });

    await forger.whenClosed();
    expect(target.dissemination.stats.badIds).toBe(1);
    // Operators see it in /metrics and `gossip status` too.
    expect(nodeCounters(target).itemsDropped.bad_id).toBe(1);
    expect(logged(lines, "protocol violation, closing peer link", "code=ERR_ITEM_ID", key).length).toBe(1);
    expect(target.scores.score(forgerKey.idHex)).toBe(-60);
    expect(target.membership.active.has(forgerKey.idHex)).toBe(false);
    // The address it advertised is only a claim: never scored (issue 10 item 1).
    expect(target.scores.score(forgerAddr)).toBe(0);

    // The junk did not enter the seen cache: the GRAFT still goes out, and the real item
    // is accepted and delivered, once.
    const graft = await announcer.next("graft");
    expect(graft.ids.map(idKey)).toEqual([key]);
    announcer.send(real);
    await until(() => sub.notifications.length === 1, 3000, "the real item is delivered");
    expect(new TextDecoder().decode(sub.notifications[0]!.data)).toBe("the real item");
    expect(announcer.closed).toBe(false);
    await traffic.flowing();
    expect(sub.notifications.length).toBe(1);
  }, LIMIT);

  test("rule: the same data announced twice makes two items with distinct ids, and both spread", async () => {
    const { target, honest, lines } = await arena();
    const sub = await subscriber(target);
    const origin = defer(await RawModule.connect(honest.apiAddress), (m) => m.close());
    const data = text("said twice");
    origin.announce(0, TYPE, data);
    origin.announce(0, TYPE, data);
    await until(() => sub.notifications.length === 2, 3000, "both announcements arrive");
    expect(sub.notifications.map((n) => new TextDecoder().decode(n.data))).toEqual(["said twice", "said twice"]);
    const ids = logged(lines, "item delivered", `type=${TYPE}`).map((l) => /item=([0-9a-f]{32})/.exec(l)?.[1]);
    expect(ids.length).toBe(2);
    expect(new Set(ids).size).toBe(2);
  }, LIMIT);
});
