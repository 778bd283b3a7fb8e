// No handler of received input may take the process down (issue 10, item 6): a failure in
// local validation drops the item with a log line; the node, the link and other items carry on.

import { describe, expect, test } from "bun:test";
import type { GossipNode } from "../../src/node/node.ts";
import { memoryLogger } from "../../src/util/log.ts";
import type { Gossip } from "../../src/wire/p2p.ts";
import { FakePeer } from "../helpers/fake-peer.ts";
import { defer, fakeKeys, logged, nodeKeys, useCleanup } from "../helpers/fake-module.ts";
import { ApiClient } from "../../src/net/api-client.ts";
import { Subscriber, freePort, startNode, until } from "../helpers/testnet.ts";
import { makeItem } from "../helpers/items.ts";

useCleanup();

const item = (n: number): Gossip => makeItem({ salt: n, data: new Uint8Array([n]) });

/** A node logging to memory, and a fake peer that joined it as a neighbour. */
async function targetWithPeer() {
  const key = (await nodeKeys())[0]!;
  const { log, lines } = memoryLogger("debug");
  const target: GossipNode = defer(startNode({ hostkey: key, keys: {}, log }), (n) => n.stop());
  const fk = (await fakeKeys(1))[0]!;
  const p = defer(await FakePeer.joined(target.p2pAddress, fk, `127.0.0.1:${freePort()}`), (x) => x.close());
  await until(() => target.membership.active.has(fk.idHex), 3000, "the fake peer is a neighbour");
  return { target, p, fk, lines };
}

describe("validation failures", () => {
  test("rule: a rejected validation drops that item with an error line; the node and the link stay up", async () => {
    const { target, p, fk, lines } = await targetWithPeer();
    // The first validation fails inside our own code (a bug's stand-in); the next one works.
    const real = target.api.validate.bind(target.api);
    let calls = 0;
    // The second fails after its verdict was given: the item is settled once, not twice.
    target.api.validate = (t, d, done) => {
      if (++calls === 1) throw new Error("boom");
      real(t, d, done);
      if (calls === 2) throw new Error("late boom");
    };
    p.send(item(1));
    await until(() => logged(lines, "validation failed", "boom").length === 1, 3000, "the failure is logged");
    p.send(item(2));
    await until(() => logged(lines, "validation failed", "late boom").length === 1, 3000, "the late failure is logged");
    p.send(item(3));
    await until(() => calls === 3, 3000, "the next item is validated");
    expect(target.dissemination.stats.dropped).toBe(3); // the failed one, and two nobody subscribed to
    expect(target.membership.active.has(fk.idHex)).toBe(true);
    p.send({ kind: "ping" });
    await p.next("pong");
  }, 20_000);

  test("rule: a bug while handling a verdict is logged; the module that answered stays connected, the node stays up", async () => {
    const { target, p, fk, lines } = await targetWithPeer();
    const m = new Subscriber("invalid");
    m.client = defer(await ApiClient.connect("127.0.0.1", target.api.port, { onFrame: (f) => m.onFrame(f) }), (c) => c.close());
    m.client.notify(item(1).dataType);
    await until(() => target.api.subscriberCount(item(1).dataType) === 1, 3000, "the module subscribed");
    // The core's handling of an invalid verdict fails (a bug's stand-in) as the module's
    // VALIDATION arrives: that is no fault of the module.
    const deps = (target.dissemination as unknown as { deps: { penalize: () => void } }).deps;
    deps.penalize = () => {
      throw new Error("boom");
    };
    p.send(item(1));
    await until(() => logged(lines, "handling a verdict failed", "boom").length === 1, 3000, "the failure is logged");
    expect(m.received.length).toBe(1);
    expect(target.api.connectionCount).toBe(1);
    expect(logged(lines, "internal error")).toEqual([]);
    expect(target.membership.active.has(fk.idHex)).toBe(true);
    p.send({ kind: "ping" });
    await p.next("pong");
  }, 20_000);
});
