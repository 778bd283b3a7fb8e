// Many identities from one place (issue 5: Sybil and eclipse). Keys are cheap; addresses are
// not: view_prefix_limit caps how many entries of each view share a /24 (or /48), and
// max_conns_per_ip caps connections from one source IP. The honest neighbour sits on another
// /24 (127.0.1.1), so it shows the limits cut the attacker without cutting the network.

import { describe, expect, test } from "bun:test";
import { FakePeer } from "../helpers/fake-peer.ts";
import { arena, defer, fakeKeys, logged, sizes, useCleanup } from "../helpers/fake-module.ts";
import { freePort, until } from "../helpers/testnet.ts";

useCleanup();
const LIMIT = 20_000;

describe("view_prefix_limit: ten identities from one /24 (a preference, not a refusal)", () => {
  test("they take only the places nobody else wants: the neighbour from another prefix keeps its place, each fake beyond the view is evicted with DISCONNECT", async () => {
    // The target dials its honest neighbour: that link's source is 127.0.1.1, another /24.
    const { target, honest, traffic } = await arena({ view_prefix_limit: "2", max_conns_per_ip: "0", degree: "4" }, { targetJoins: true });
    const keys = await fakeKeys(10);
    const fakes: FakePeer[] = [];
    // One after another, half with JOIN, half with a high-priority NEIGHBOR (which may not be
    // declined for room): every arrival past a full view evicts someone.
    for (const [i, key] of keys.entries()) {
      const p = defer(await FakePeer.connect(target.p2pAddress), (x) => x.close());
      await p.handshake(key, { advertisedAddr: `127.0.0.1:${freePort()}` });
      p.send(i % 2 === 0 ? { kind: "join" } : { kind: "neighbor", high: true });
      fakes.push(p);
      await until(() => target.membership.active.has(key.idHex), 3000, `fake ${i} taken in`);
    }
    // The view is full (4): the honest neighbour and 3 fakes; the other 7 were evicted, each
    // from the crowded prefix, never the honest neighbour.
    const inView = keys.filter((k) => target.membership.active.has(k.idHex));
    expect(inView.length).toBe(3);
    expect(target.membership.active.has(honest.id)).toBe(true);
    await until(() => fakes.filter((p) => p.closed).length === 7, 3000, "the evicted fakes closed");
    for (const p of fakes.filter((x) => x.closed)) expect(p.got.some((m) => m.kind === "disconnect")).toBe(true);
    await traffic.flowing();
  }, LIMIT);
});

describe("view_prefix_limit: identities from one host advertising addresses on other prefixes", () => {
  test("the prefix that counts is the connection's source: ten identities from 127.0.0.1 advertising 10.0.i.1 never evict the neighbour from another /24", async () => {
    // The advertised address is the peer's own claim, checked against nothing; the source
    // address of its connection is what one host cannot vary at will. Judged by their claims,
    // the fakes would look diverse and every eviction would pick at random among all four.
    const { target, honest, traffic } = await arena({ view_prefix_limit: "2", max_conns_per_ip: "0", degree: "4" }, { targetJoins: true });
    const keys = await fakeKeys(10);
    for (const [i, key] of keys.entries()) {
      defer(await FakePeer.joined(target.p2pAddress, key, `10.0.${i}.1:6001`), (x) => x.close());
      await until(() => target.membership.active.has(key.idHex), 3000, `fake ${i} taken in`);
      expect(target.membership.active.has(honest.id)).toBe(true);
    }
    expect(keys.filter((k) => target.membership.active.has(k.idHex)).length).toBe(3);
    await traffic.flowing();
  }, LIMIT);
});

describe("max_conns_per_ip: simultaneous connections from one source address", () => {
  test("with a limit of 3, the 4th connection from 127.0.0.1 is refused at once and logged; a freed slot is usable again", async () => {
    // The target dials its honest neighbour, so that link is not one of its incoming ones.
    const { target, traffic, lines } = await arena({ max_conns_per_ip: "3" }, { targetJoins: true });
    const keys = await fakeKeys(3);
    const joined = await Promise.all(
      keys.map(async (key) => defer(await FakePeer.joined(target.p2pAddress, key, `127.0.0.1:${freePort()}`), (x) => x.close())),
    );
    await until(() => keys.every((k) => target.membership.active.has(k.idHex)), 3000, "three fakes are neighbours");

    const fourth = defer(await FakePeer.connect(target.p2pAddress), (x) => x.close());
    expect(await fourth.whenClosed(1000)).toBeLessThan(500);
    expect(logged(lines, "peer connection refused: too many connections from one address", "max=3").length).toBe(1);
    expect(joined.every((p) => !p.closed)).toBe(true);

    // One leaves; its slot can be taken.
    joined[0]!.close();
    await until(() => !target.membership.active.has(keys[0]!.idHex), 2000, "the first fake is gone");
    const fifth = defer(await FakePeer.connect(target.p2pAddress), (x) => x.close());
    await Bun.sleep(200);
    expect(fifth.closed).toBe(false);
    expect(sizes(target).links).toBe(1 + 3);
    await traffic.flowing();
  }, LIMIT);
});
