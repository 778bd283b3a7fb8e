// Attacks on the join handshake (issue 5): connections that never finish it, a declared
// frame never completed, forged and replayed handshake messages in both roles, and a peer
// that goes silent once admitted. Each test checks the rule, that the node keeps serving an
// honest neighbour (and, where it matters, a new honest joiner), that its tables return to
// their size before the attack, and that its log says what happened.

import { describe, expect, test } from "bun:test";
import { equalBytes } from "../../src/wire/bytes.ts";
import { P2P_VERSION, P2pType, encodeP2p } from "../../src/wire/p2p.ts";
import { FakePeer, fakeListener } from "../helpers/fake-peer.ts";
import { arena, defer, fakeKeys, honestJoiner, logged, sizes, useCleanup } from "../helpers/fake-module.ts";
import { freePort, until } from "../helpers/testnet.ts";

useCleanup();
const LIMIT = 20_000;

/** The node's link object for one of our connections (to read its decoder). */
function linkOf(node: { transport: unknown }, remote: string): { decoder: { pending: number } } | undefined {
  const links = (node.transport as { links: Set<{ remote: string; decoder: { pending: number } }> }).links;
  return [...links].find((l) => l.remote === remote);
}

describe("max_handshakes and handshake_timeout_ms: hundreds of connections that never finish", () => {
  test("beyond max_handshakes connections are refused at once; the rest are dropped at the timeout; an honest joiner gets in", async () => {
    const MAX = 32;
    const TIMEOUT = 1500;
    // keepalive_ms high: a silent connection is also dropped after 3 keepalive intervals,
    // and here the handshake deadline is the rule under test.
    const { target, traffic, lines } = await arena({ max_handshakes: String(MAX), handshake_timeout_ms: String(TIMEOUT), keepalive_ms: "1000" });
    const [key] = await fakeKeys(1);
    const N = 200;
    const conns = await Promise.all(Array.from({ length: N }, () => FakePeer.connect(target.p2pAddress)));
    for (const c of conns) defer(c, (x) => x.close());
    // Half of them say HELLO (the node answers with a CHALLENGE) and never send a PROOF.
    conns.forEach((c, i) => {
      if (i % 2 === 0) c.sendPlain({ kind: "hello", version: P2P_VERSION, ephemeral: new Uint8Array(32).fill(9), addr: "127.0.0.1:9", publicKey: key!.publicKeyDer });
    });
    await until(() => conns.filter((c) => c.closed).length >= N - MAX, 2000, `${N - MAX} connections refused`);
    await Bun.sleep(100);
    expect(conns.filter((c) => c.closed).length).toBe(N - MAX);
    expect(sizes(target).handshaking).toBe(MAX);
    expect(logged(lines, "peer connection refused: too many handshakes in progress").length).toBe(N - MAX);
    await traffic.flowing();

    // The ones let in are dropped when their handshake times out, with a REFUSE saying so.
    await until(() => conns.every((c) => c.closed), TIMEOUT + 2000, "every connection dropped");
    const admitted = conns.filter((c) => c.got.length > 0 || c.closedAt! - c.openedAt > TIMEOUT / 2);
    expect(admitted.length).toBe(MAX);
    for (const c of admitted) {
      expect(c.closedAt! - c.openedAt).toBeGreaterThanOrEqual(TIMEOUT - 50);
      expect(c.refusal).toBe("handshake timed out");
    }
    expect(logged(lines, "link closed", "handshake timed out").length).toBe(MAX);
    expect(sizes(target).links).toBe(1);
    await honestJoiner(target);
    await traffic.flowing();
  }, LIMIT);
});

describe("slow loris on the p2p port: a declared frame never completed", () => {
  test("the connection is dropped at handshake_timeout_ms even while bytes trickle in; the decoder holds only what was sent", async () => {
    const TIMEOUT = 500;
    const { target, traffic, lines } = await arena({ handshake_timeout_ms: String(TIMEOUT) });
    const p = defer(await FakePeer.connect(target.p2pAddress), (x) => x.close());
    const head = new Uint8Array(16);
    new DataView(head.buffer).setUint32(0, 1000); // a 1000-byte HELLO ...
    new DataView(head.buffer).setUint16(4, P2pType.Hello);
    p.raw(head);
    let sent = head.byteLength;
    const drip = setInterval(() => {
      p.raw(new Uint8Array([0x41])); // ... one byte at a time
      sent++;
    }, 40);
    try {
      await until(() => sent >= 22, 2000, "some bytes trickled");
      expect(linkOf(target, p.remote)?.decoder.pending).toBeLessThanOrEqual(sent);
      const lifetime = await p.whenClosed(TIMEOUT + 2000);
      expect(lifetime).toBeGreaterThanOrEqual(TIMEOUT - 50);
      expect(lifetime).toBeLessThan(TIMEOUT + 1000);
    } finally {
      clearInterval(drip);
    }
    expect(p.refusal).toBe("handshake timed out");
    expect(logged(lines, "link closed", `remote=${p.remote}`, "handshake timed out").length).toBe(1);
    expect(sizes(target).links).toBe(1);
    await traffic.flowing();
  }, LIMIT);
});

describe("forged handshake messages", () => {
  test("a message out of turn (PROOF, WELCOME, CHALLENGE or JOIN first, or a second HELLO) is refused and the connection closed", async () => {
    const { target, traffic, lines } = await arena();
    const [key] = await fakeKeys(1);
    const hello = { kind: "hello", version: P2P_VERSION, ephemeral: new Uint8Array(32).fill(7), addr: "127.0.0.1:9", publicKey: key!.publicKeyDer } as const;
    const forgeries = [
      [encodeP2p({ kind: "proof", work: 0n, signature: new Uint8Array(128) })],
      [encodeP2p({ kind: "welcome", signature: new Uint8Array(128) })],
      [encodeP2p({ kind: "challenge", version: P2P_VERSION, nonce: new Uint8Array(32), powBits: 0, ephemeral: new Uint8Array(32).fill(7), addr: "127.0.0.1:9", publicKey: key!.publicKeyDer })],
      [encodeP2p({ kind: "join" })],
      [encodeP2p(hello), encodeP2p(hello)],
    ];
    for (const frames of forgeries) {
      const p = defer(await FakePeer.connect(target.p2pAddress), (x) => x.close());
      for (const f of frames) p.raw(f);
      await p.whenClosed();
      expect(p.refusal).toContain("unexpected");
      expect(logged(lines, "link closed", `remote=${p.remote}`, "unexpected").length).toBe(1);
    }
    expect(sizes(target).links).toBe(1);
    expect(target.membership.active.size).toBe(1);
    await traffic.flowing();
  }, LIMIT);
});

describe("replayed handshake messages: the work is bound to the acceptor's fresh nonce", () => {
  test("HELLO and PROOF captured from an honest session and replayed on a new connection: refused, the honest link untouched", async () => {
    const { target, traffic, lines } = await arena({ pow_bits: "12" });
    const [key] = await fakeKeys(1);
    const addr = `127.0.0.1:${freePort()}`;
    const honest = defer(await FakePeer.joined(target.p2pAddress, key!, addr), (x) => x.close());
    await until(() => target.membership.active.has(key!.idHex), 3000, "the recorded peer is a neighbour");
    const hello = honest.sent.find((f) => f.kind === "hello")!.wire;
    const proof = honest.sent.find((f) => f.kind === "proof")!.wire;
    const firstNonce = honest.got.find((m) => m.kind === "challenge")!;

    const replayer = defer(await FakePeer.connect(target.p2pAddress), (x) => x.close());
    replayer.raw(hello, "replayed hello");
    const c = await replayer.next("challenge");
    expect(firstNonce.kind === "challenge" && equalBytes(c.nonce, firstNonce.nonce)).toBe(false);
    replayer.raw(proof, "replayed proof");
    await replayer.whenClosed();
    // 12 bits: the old work solves the new puzzle with odds of 1 in 4096; the signature
    // over the old transcript would fail next.
    expect(replayer.refusal).toMatch(/proof of work|signature/);
    expect(logged(lines, "link closed", `remote=${replayer.remote}`, "handshake failed").length).toBe(1);
    // The identity it tried to steal keeps its link.
    expect(honest.closed).toBe(false);
    expect(target.membership.active.has(key!.idHex)).toBe(true);
    honest.send({ kind: "ping" });
    await honest.next("pong");
    await traffic.flowing();
  }, LIMIT);

  test("CHALLENGE and WELCOME replayed to the node when it dials: it refuses the acceptor's signature", async () => {
    const { target, traffic, lines } = await arena();
    const [key, lkey] = await fakeKeys(2);
    const listener = defer(fakeListener(), (l) => l.stop());
    // The second dial goes elsewhere: a walk's dial that got no neighbour holds its address
    // off for LEARNT_HOLD_MS (PROTOCOL.md 5.4). The replay does not depend on the address.
    const other = defer(fakeListener(), (l) => l.stop());
    const inside = defer(await FakePeer.joined(target.p2pAddress, key!, `127.0.0.1:${freePort()}`), (x) => x.close());
    await until(() => target.membership.active.has(key!.idHex), 3000, "the insider is a neighbour");
    // A FORWARD_JOIN with ttl 0 makes the target dial the address it names.
    const lure = (addr: string) => inside.send({ kind: "forward_join", ttl: 0, peer: { addr } });

    lure(listener.address);
    await until(() => listener.peers.length === 1, 3000, "the target dials us");
    const first = listener.peers[0]!;
    await first.handshake(lkey!, { advertisedAddr: listener.address }, "acceptor");
    const challenge = first.sent.find((f) => f.kind === "challenge")!.wire;
    const welcome = first.sent.find((f) => f.kind === "welcome")!.wire;
    await first.next("neighbor");
    first.close();
    await until(() => target.membership["dialing"].size === 0, 3000, "the target forgets the first dial");

    lure(other.address);
    await until(() => other.peers.length === 1, 3000, "the target dials us again");
    const second = other.peers[0]!;
    await second.next("hello");
    second.raw(challenge, "replayed challenge");
    await second.next("proof");
    second.raw(welcome, "replayed welcome");
    await second.whenClosed();
    expect(second.refusal).toContain("bad acceptor signature");
    expect(logged(lines, "link closed", "bad acceptor signature").length).toBe(1);
    expect(target.membership.active.has(lkey!.idHex)).toBe(false);
    await traffic.flowing();
  }, LIMIT);
});

describe("keepalive: a peer that goes silent once admitted", () => {
  test("a neighbour that sends nothing (no PONG, no frame) is dropped after 3 keepalive intervals", async () => {
    const { target, traffic, lines } = await arena({ keepalive_ms: "100" });
    const [key] = await fakeKeys(1);
    const p = defer(await FakePeer.joined(target.p2pAddress, key!, `127.0.0.1:${freePort()}`), (x) => x.close());
    p.alive = false;
    await until(() => target.membership.active.has(key!.idHex), 3000, "the peer is a neighbour");
    const since = performance.now();
    await p.whenClosed(3000);
    expect(performance.now() - since).toBeLessThan(1500);
    expect(logged(lines, "link closed", "keepalive timeout").length).toBe(1);
    await traffic.flowing();
  }, LIMIT);

  test("a neighbour that trickles one frame's bytes forever: the node's buffer for it holds only what was sent", async () => {
    const { target, traffic } = await arena({ keepalive_ms: "100" });
    const [key] = await fakeKeys(1);
    const p = defer(await FakePeer.joined(target.p2pAddress, key!, `127.0.0.1:${freePort()}`), (x) => x.close());
    await until(() => target.membership.active.has(key!.idHex), 3000, "the peer is a neighbour");
    p.alive = false; // no PINGs of ours inside the never-ending frame
    const head = new Uint8Array(4);
    new DataView(head.buffer).setUint32(0, 100_000); // a sealed frame that never ends
    p.raw(head);
    let sent = head.byteLength;
    const drip = setInterval(() => (p.raw(new Uint8Array(50)), (sent += 50)), 50);
    try {
      for (let i = 0; i < 10; i++) {
        await Bun.sleep(60);
        const link = linkOf(target, p.remote);
        if (link) expect(link.decoder.pending).toBeLessThanOrEqual(sent);
      }
      await traffic.flowing();
    } finally {
      clearInterval(drip);
    }
  }, LIMIT);
});
