// At debug level, every item a node receives, delivers, drops or spreads leaves a line with its id
// (issue 11: logs that tell the story).

import { expect, test } from "bun:test";
import { idKey } from "../../src/core/caches.ts";
import type { GossipNode } from "../../src/node/node.ts";
import { memoryLogger } from "../../src/util/log.ts";
import { FakePeer } from "../helpers/fake-peer.ts";
import { makeItem } from "../helpers/items.ts";
import { defer, fakeKeys, logged, nodeKeys, useCleanup } from "../helpers/fake-module.ts";
import { Testnet, freePort, startNode, until } from "../helpers/testnet.ts";

useCleanup();

test("rule: at debug, a received, a rate-limited and a spread item each log a line naming the item", async () => {
  const key = (await nodeKeys())[0]!;
  const { log, lines } = memoryLogger("debug");
  const target: GossipNode = defer(startNode({ hostkey: key, keys: { peer_items_per_s: "1" }, log }), (n) => n.stop());
  const fk = (await fakeKeys(1))[0]!;
  const p = defer(await FakePeer.joined(target.p2pAddress, fk, `127.0.0.1:${freePort()}`), (x) => x.close());
  await until(() => target.membership.active.has(fk.idHex), 3000, "the fake peer is a neighbour");
  const t = new Testnet();
  defer(t, (x) => x.stop());
  await t.subscribe(target, 540, "valid");
  const [first, second] = [makeItem({ salt: 0xab, data: new Uint8Array([1]) }), makeItem({ salt: 0xcd, data: new Uint8Array([1]) })];
  p.send(first);
  await until(() => logged(lines, "item received", idKey(first.id)).length === 1, 3000, "the received line");
  await until(() => logged(lines, "item delivered", idKey(first.id)).length === 1, 3000, "the delivered line");
  // Over peer_items_per_s (1): dropped, with its id and why.
  p.send(second);
  await until(() => logged(lines, "item dropped", idKey(second.id), "reason=rate_limited").length === 1, 3000, "the dropped line");
  // A local announce is spread at once: its line names the new item.
  const module = await t.module(target);
  module.announce(0, 540, new Uint8Array([2]));
  await until(() => logged(lines, "item forwarded", "eager=1 lazy=0").length === 1, 3000, "the forwarded line");
  expect(logged(lines, "item forwarded", "eager=1 lazy=0")[0]).toMatch(/item=[0-9a-f]{32} eager=1 lazy=0/);
}, 20_000);
