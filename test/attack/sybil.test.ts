// Many identities from one place (issue 5: Sybil and eclipse). Keys are cheap; addresses are
// not: view_prefix_limit caps how many entries of each view share a /24 (or /48), and
// max_conns_per_ip caps connections from one source IP. The honest neighbour sits on another
// /24 (127.0.1.1), so it shows the limits cut the attacker without cutting the network.

import { describe, expect, test } from "bun:test";
import { addressPrefix } from "../../src/core/scores.ts";
import { FakePeer } from "../helpers/fake-peer.ts";
import { arena, defer, fakeKeys, logged, sizes, useCleanup } from "../helpers/fake-module.ts";
import { freePort, until } from "../helpers/testnet.ts";

useCleanup();
const LIMIT = 20_000;
const LOCAL = addressPrefix("127.0.0.1:1");

describe("view_prefix_limit: ten identities advertising addresses on one /24", () => {
  test("the active view holds at most 2 of them, the honest neighbour keeps its place, the rest are refused and logged", async () => {
    const { target, honest, traffic, lines } = await arena({ view_prefix_limit: "2", max_conns_per_ip: "0", degree: "4" });
    const keys = await fakeKeys(10);
    // Half ask with JOIN, half with a high-priority NEIGHBOR (which may not be declined for room).
    const fakes = await Promise.all(
      keys.map(async (key, i) => {
        const p = defer(await FakePeer.connect(target.p2pAddress), (x) => x.close());
        await p.handshake(key, { advertisedAddr: `127.0.0.1:${freePort()}` });
        p.send(i % 2 === 0 ? { kind: "join" } : { kind: "neighbor", high: true });
        return p;
      }),
    );
    // The limit counts the real source of each connection: the honest neighbour's link may
    // itself come from 127.0.0.1 (the kernel's source for loopback), taking one of the 2 places.
    const honestLink = target.membership.active.get(honest.id);
    expect(honestLink).toBeDefined();
    const honestLocal = addressPrefix(honestLink!.link.remote) === LOCAL ? 1 : 0;
    const room = 2 - honestLocal;
    await until(() => fakes.filter((p) => p.closed).length >= 10 - room, 3000, "the fakes beyond the limit turned away");
    await Bun.sleep(100);
    const inView = keys.filter((k) => target.membership.active.has(k.idHex));
    expect(inView.length).toBe(room);
    expect(fakes.filter((p) => p.closed).length).toBe(10 - room);
    expect(target.membership.active.has(honest.id)).toBe(true);
    expect(target.membership.active.size).toBe(room + 1);
    expect(logged(lines, "neighbour refused: too many neighbours share its address prefix").length).toBe(10 - room);

    // An admitted fake tries to fill the passive view: a SHUFFLE of 64 addresses on its /24.
    const inside = fakes.find((p) => !p.closed)!;
    inside.send({ kind: "shuffle", id: 42n, ttl: 1, peers: Array.from({ length: 64 }, (_, i) => ({ addr: `127.0.0.${i + 2}:${6000 + i}` })) });
    await inside.next("shuffle_reply");
    const passiveLocal = target.membership.passive.list().filter((a) => addressPrefix(a) === LOCAL);
    expect(passiveLocal.length).toBeLessThanOrEqual(2);
    expect(sizes(target).passive).toBeLessThanOrEqual(180);
    await traffic.flowing();
  }, LIMIT);
});

describe("view_prefix_limit: identities from one host advertising addresses on other prefixes", () => {
  test("ten identities connecting from 127.0.0.1 but advertising 10.0.i.1 do not take more than 2 places in the active view", async () => {
    // The advertised address is the peer's own claim, checked against nothing; the source
    // address of its connection is what one host cannot vary at will.
    const { target, traffic, lines } = await arena({ view_prefix_limit: "2", max_conns_per_ip: "0", degree: "4" });
    const keys = await fakeKeys(10);
    const fakes = await Promise.all(
      keys.map(async (key, i) => defer(await FakePeer.joined(target.p2pAddress, key, `10.0.${i}.1:6001`), (x) => x.close())),
    );
    await until(() => fakes.filter((p) => p.closed).length + keys.filter((k) => target.membership.active.has(k.idHex)).length === 10, 3000, "every fake placed or turned away");
    await Bun.sleep(100);
    const inView = keys.filter((k) => target.membership.active.has(k.idHex)).length;
    expect(inView, `${inView} identities from one host in an active view of 4; log: ${logged(lines, "neighbour").length} neighbour lines`).toBeLessThanOrEqual(2);
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
