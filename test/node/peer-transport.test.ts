// The TCP transport's bookkeeping of connections (issue 10, items 4 and 7), on real sockets on
// 127.0.0.1: a link counts against the per-IP limit until its socket is really closed, and a
// socket that opens after its dial was given up is closed without touching a newer dial to the
// same address. Each test fails when its rule is deleted from src/net/peer-transport.ts.

import { describe, expect, test } from "bun:test";
import type { Link, TransportEvents } from "../../src/core/transport.ts";
import type { TcpTransportOptions } from "../../src/net/peer-transport.ts";
import { NetError, connect } from "../../src/net/tcp.ts";
import type { Gossip } from "../../src/wire/p2p.ts";
import { FakePeer, fakeListener } from "../helpers/fake-peer.ts";
import { defer, fakeKeys, logged, testTransport, useCleanup } from "../helpers/fake-module.ts";
import { until } from "../helpers/testnet.ts";

useCleanup();
const LIMIT = 20_000;

/** What the transport told its owner. */
class Events implements TransportEvents {
  readonly up: Link[] = [];
  readonly down: Array<{ link: Link; reason: string }> = [];
  established(l: Link): void {
    this.up.push(l);
  }
  message(): void {}
  closed(link: Link, reason: string): void {
    this.down.push({ link, reason });
  }
  violated(): void {}
}

async function transport(o: Partial<TcpTransportOptions> = {}) {
  const events = new Events();
  const { t, address, lines } = await testTransport(events, () => events.up, o);
  return { t, events, address, lines };
}

describe("max_conns_per_ip counts a link until its socket is closed", () => {
  test("rule: with max_conns_per_ip = 3, connections beyond 3 are refused while 3 earlier links are still closing; once their sockets close, 3 more get in and the 7th is refused", async () => {
    const { t, events, address, lines } = await transport({ maxConnsPerIp: 3 });
    const keys = await fakeKeys(6);
    const join = async (i: number) => {
      const p = defer(await FakePeer.connect(address), (x) => x.close());
      await p.handshake(keys[i]!, { advertisedAddr: `127.0.0.1:${7000 + i}` });
      return p;
    };
    const first = [await join(0), await join(1), await join(2)];
    await until(() => events.up.length === 3, 3000, "three links up");
    // The peers stop reading, and we queue more than the kernel takes for each, then close
    // the links gracefully: each waits to flush what it queued, its socket still open.
    for (const p of first) p.pause();
    const big: Gossip = { kind: "gossip", id: new Uint8Array(16), ttl: 1, hops: 1, salt: new Uint8Array(16), dataType: 1, data: new Uint8Array(60_000) };
    for (const l of events.up) for (let i = 0; i < 160; i++) l.send(big);
    await until(() => events.up.every((l) => l.queuedBytes > 0), 3000, "queues the kernel would not take");
    for (const l of events.up) l.close("test: closing", true);
    await Bun.sleep(100);
    expect(t.linkCount).toBe(3);
    expect(events.down).toEqual([]);

    const fourth = defer(await FakePeer.connect(address), (x) => x.close());
    await fourth.whenClosed(1000);
    expect(logged(lines, "peer connection refused: too many connections from one address", "max=3").length).toBe(1);

    // The peers go; the sockets close; three new connections get in, and the 7th is refused.
    for (const p of first) p.close();
    await until(() => t.linkCount === 0, 3000, "the closing links are gone");
    const next = [await join(3), await join(4), await join(5)];
    await until(() => events.up.length === 6, 3000, "three more links up");
    const seventh = defer(await FakePeer.connect(address), (x) => x.close());
    await seventh.whenClosed(1000);
    expect(next.every((p) => !p.closed)).toBe(true);
    expect(logged(lines, "peer connection refused: too many connections from one address", "max=3").length).toBe(2);
  }, LIMIT);
});

describe("a dial given up before its socket opened", () => {
  test("rule: a socket that opens after its dial timed out is closed at once, and a newer dial to the same address carries on", async () => {
    const server = fakeListener();
    defer(server, (s) => s.stop());
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let dials = 0;
    // The first dial's socket is slow: connect() times out, and the socket opens later all the
    // same (as a SYN answered after the deadline does). Later dials connect at once.
    const lateFirst: typeof connect = (host, port, opts, onConn) => {
      if (dials++ > 0) return connect(host, port, opts, onConn);
      const ms = opts.timeoutMs ?? 5000;
      void gate.then(() => connect(host, port, { ...opts, timeoutMs: 5000 }, onConn)).catch(() => {});
      return new Promise((_, no) => setTimeout(() => no(new NetError("ERR_CONNECT", `cannot connect to ${host}:${port}: timed out after ${ms} ms`)), ms));
    };
    const { t, events } = await transport({ handshakeTimeoutMs: 300, connect: lateFirst });
    const old = t.dial(server.address);
    await until(() => events.down.length === 1, 2000, "the first dial times out");
    expect(events.down[0]!.link).toBe(old);
    expect(events.down[0]!.reason).toContain("timed out");

    // A newer dial to the same address: connected and handshaken.
    const newer = t.dial(server.address);
    await until(() => server.peers.length === 1, 2000, "the newer dial's socket");
    const acceptor = server.peers[0]!;
    await acceptor.handshake((await fakeKeys(1))[0]!, { advertisedAddr: server.address }, "acceptor");
    await until(() => events.up.includes(newer), 2000, "the newer link is established");

    // Now the old dial's socket opens: closed at once, nothing sent on it.
    release();
    await until(() => server.peers.length === 2, 2000, "the late socket opens");
    const late = server.peers[1]!;
    await late.whenClosed(1000);
    await Bun.sleep(50);
    expect(late.got).toEqual([]);
    expect(events.down.map((d) => d.link)).toEqual([old]);
    expect(events.up).toEqual([newer]);
    expect(t.linkCount).toBe(1);
    // The newer link still works.
    newer.send({ kind: "ping" });
    await acceptor.next("ping");
  }, LIMIT);
});
