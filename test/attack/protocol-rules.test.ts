// Protocol rules a misbehaving (or merely unlucky) peer meets, each in its own test.
// Rules that need no socket (SHUFFLE routing, FORWARD_JOIN, GRAFT timing, ...) are pinned on
// the virtual clock in test/sim/*rules.test.ts.

import { describe, expect, test } from "bun:test";
import { idKey } from "../../src/core/caches.ts";
import { FakePeer } from "../helpers/fake-peer.ts";
import { arena, defer, fakeKeys, logged, useCleanup } from "../helpers/fake-module.ts";
import { freePort, until } from "../helpers/testnet.ts";
import { makeItem } from "../helpers/items.ts";

useCleanup();
const LIMIT = 20_000;

async function joinedFake(target: string, i: number): Promise<FakePeer> {
  const key = (await fakeKeys(i + 1))[i]!;
  return defer(await FakePeer.joined(target, key, `127.0.0.1:${freePort()}`), (x) => x.close());
}

describe("liveness counts whole frames", () => {
  test("rule: a neighbour that dribbles a frame it never finishes is dropped at the keepalive timeout", async () => {
    const a = await arena({ keepalive_ms: "100" });
    const p = await joinedFake(a.target.p2pAddress, 0);
    await until(() => a.target.membership.active.size === 2, 3000, "the fake is a neighbour");
    p.alive = false; // no PONGs, no PINGs: only the dribble
    const frame = p.seal(makeItem({ salt: 9, ttl: 1, data: new Uint8Array(400) }));
    let i = 0;
    const dribble = setInterval(() => {
      if (i < frame.byteLength - 1 && !p.closed) p.raw(frame.subarray(i, ++i), "dribble");
    }, 20);
    try {
      // Silent for 3 x 100 ms counts from the last whole frame; bytes of an unfinished one do not reset it.
      expect(await p.whenClosed(3000)).toBeLessThan(3000);
      expect(i).toBeLessThan(frame.byteLength - 1);
      expect(logged(a.lines, "keepalive timeout").length).toBeGreaterThanOrEqual(1);
    } finally {
      clearInterval(dribble);
    }
    await a.traffic.flowing();
  }, LIMIT);
});

describe("GRAFT", () => {
  test("rule: a GRAFT naming one id many times gets the item once", async () => {
    const a = await arena();
    const p = await joinedFake(a.target.p2pAddress, 1);
    // A new neighbour is offered the target's recent items: that gives us ids it holds.
    const offer = await p.next("ihave");
    const id = offer.entries[0]!.id.slice();
    p.send({ kind: "graft", ids: [id, id, id, id] });
    // Everything the target sends for the GRAFT precedes its answer to a later PING.
    p.send({ kind: "ping" });
    await p.next("pong");
    const copies = p.got.filter((m) => m.kind === "gossip" && idKey(m.id) === idKey(id)).length;
    expect(copies).toBe(1);
  }, LIMIT);
});
