// Membership (issue 3, "Peer overlay"): real nodes on loopback form one HyParView overlay,
// keep it within `degree`, heal it after mass failure, wait for a late bootstrapper, and
// refuse forged or malformed handshakes without losing their footing.

import { afterEach, describe, expect, test } from "bun:test";
import { constants, createHash, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import type { Hostkey } from "../../src/config/hostkey.ts";
import { SecureChannel } from "../../src/node/channel.ts";
import { transcriptHash } from "../../src/node/handshake.ts";
import type { GossipNode } from "../../src/node/node.ts";
import { solveWork, verifyWork } from "../../src/node/pow.ts";
import { FrameDecoder } from "../../src/wire/frame.ts";
import {
  type Challenge,
  P2P_FRAME,
  P2P_MAX_FRAME,
  P2P_VERSION,
  type P2pMessage,
  decodeP2p,
  encodeP2p,
} from "../../src/wire/p2p.ts";
import {
  Testnet,
  describeOverlay,
  freePort,
  isConnected,
  isSymmetric,
  splitHostPort,
  startNode,
  testKeys,
  until,
} from "../helpers/testnet.ts";

const DEGREE = 4;
/** Per-test limit (bun's default is 5 s); each wait inside has its own, shorter deadline. */
const LIMIT = 30_000;
const KEYS = { degree: String(DEGREE) };

// Every test registers what it starts here; afterEach stops it even when the test failed.
let nets: Testnet[] = [];
let loose: GossipNode[] = [];
afterEach(() => {
  for (const n of nets) n.stop();
  for (const n of loose) n.stop();
  nets = [];
  loose = [];
});

async function net(n: number, keys: Record<string, string> = KEYS): Promise<Testnet> {
  const t = await Testnet.start(n, keys);
  nets.push(t);
  return t;
}

/** The contract-level shape of one node's active view. */
function checkView(node: GossipNode, live: ReadonlySet<string>): void {
  const links = [...node.membership.active.entries()];
  expect(links.length).toBeGreaterThanOrEqual(1);
  expect(links.length).toBeLessThanOrEqual(DEGREE);
  expect(node.membership.active.has(node.id)).toBe(false);
  for (const [id, link] of links) {
    expect(link.id).toBe(id);
    expect(link.state).toBe("active");
    expect(live.has(id)).toBe(true);
    expect(link.addr).not.toBe(node.p2pAddress);
  }
  // One link per peer: no peer twice, neither by id nor by address.
  expect(new Set(links.map(([, l]) => l.addr)).size).toBe(links.length);
}

describe("overlay formation", () => {
  test("22 nodes of degree 4 settle into one connected, symmetric overlay within degree", async () => {
    const t = await net(22);
    await until(() => isConnected(t.nodes) && isSymmetric(t.nodes), 15_000, "a connected, symmetric overlay");
    const live = new Set(t.nodes.map((n) => n.id));
    for (const node of t.nodes) checkView(node, live);
  }, LIMIT);

  test("a node that joins late becomes part of the overlay", async () => {
    const t = await net(12);
    await t.connected(t.nodes, 15_000);
    const late = await t.addNode();
    await until(() => late.membership.active.size >= 1 && isConnected(t.nodes) && isSymmetric(t.nodes), 15_000, "the late node is connected");
    const live = new Set(t.nodes.map((n) => n.id));
    for (const node of t.nodes) checkView(node, live);
  }, LIMIT);

  test("after 30% of the nodes stop at once, the survivors heal into one overlay", async () => {
    const t = await net(20);
    await until(() => isConnected(t.nodes) && isSymmetric(t.nodes), 15_000, "a connected overlay before the failures");
    // Every third node but the bootstrapper: 6 of 20.
    const dead = t.nodes.filter((_, i) => i % 3 === 2);
    const survivors = t.nodes.filter((n) => !dead.includes(n));
    expect(dead.length).toBe(6);
    for (const n of dead) n.stop();
    const live = new Set(survivors.map((n) => n.id));
    await until(
      () =>
        isConnected(survivors) &&
        isSymmetric(survivors) &&
        survivors.every((n) => n.membership.active.size >= 1 && [...n.membership.active.keys()].every((id) => live.has(id))),
      10_000,
      "the survivors' overlay heals",
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${describeOverlay(t.nodes, survivors)}`);
    });
    for (const node of survivors) checkView(node, live);
  }, LIMIT);

  test("a node whose bootstrapper is not up yet keeps trying and joins once it starts", async () => {
    const [bootKey, joinerKey] = (await testKeys(2)) as [Hostkey, Hostkey];
    const port = freePort();
    const joiner = startNode({ hostkey: joinerKey, keys: KEYS, bootstrapper: `127.0.0.1:${port}` });
    loose.push(joiner);
    // The scenario itself: for a while nothing listens on the bootstrapper's address.
    await Bun.sleep(500);
    expect(joiner.membership.active.size).toBe(0);
    const boot = startNode({ hostkey: bootKey, keys: { ...KEYS, p2p_address: `127.0.0.1:${port}` } });
    loose.push(boot);
    await until(
      () => joiner.membership.active.has(boot.id) && boot.membership.active.has(joiner.id),
      15_000,
      "the joiner's link to the late bootstrapper",
    );
  }, LIMIT);
});

/** Polls `cond` for `windowMs` and throws as soon as it holds: for things that must not happen. */
async function never(cond: () => boolean, windowMs: number, what: string): Promise<void> {
  const end = performance.now() + windowMs;
  while (performance.now() < end) {
    if (cond()) throw new Error(`happened, but must not: ${what}`);
    await Bun.sleep(10);
  }
}

describe("a stopped node stays stopped", () => {
  test("a node stopped while its join is in flight does not come back into the overlay", async () => {
    const [bootKey, joinerKey] = (await testKeys(2)) as [Hostkey, Hostkey];
    const boot = startNode({ hostkey: bootKey, keys: KEYS });
    loose.push(boot);
    const joiner = startNode({ hostkey: joinerKey, keys: KEYS, bootstrapper: boot.p2pAddress });
    loose.push(joiner);
    // start() has dialled the bootstrapper; the TCP connect is still pending when we stop.
    joiner.stop();
    // Long enough for the dial, the handshake and the JOIN, and for keepalive (3 × 200 ms) to
    // notice a silent link.
    await never(
      () => joiner.membership.active.size > 0 || boot.membership.active.has(joiner.id),
      1500,
      "the stopped node has a neighbour",
    );
  }, LIMIT);
});

// --- handshake failures, spoken over raw sockets ---

/** A hand-driven peer connection: sends raw bytes, collects decoded frames, notices the close. */
class RawPeer {
  readonly got: P2pMessage[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(P2P_FRAME);
  private sock!: Awaited<ReturnType<typeof Bun.connect>>;

  static async connect(addr: string): Promise<RawPeer> {
    const p = new RawPeer();
    const [hostname, port] = splitHostPort(addr);
    p.sock = await Bun.connect({
      hostname,
      port,
      socket: {
        data: (_s, chunk) => {
          try {
            for (const f of p.decoder.push(chunk)) p.got.push(decodeP2p(f.slice()));
          } catch {
            p.sock.end();
          }
        },
        close: () => {
          p.closed = true;
        },
        error: () => {
          p.closed = true;
        },
      },
    });
    return p;
  }

  send(bytes: Uint8Array): void {
    this.sock.write(bytes);
  }

  async next<K extends P2pMessage["kind"]>(kind: K): Promise<Extract<P2pMessage, { kind: K }>> {
    await until(() => this.got.some((m) => m.kind === kind) || this.closed, 5000, `a ${kind.toUpperCase()} from the node`);
    const m = this.got.find((x) => x.kind === kind);
    if (!m) throw new Error(`connection closed without a ${kind.toUpperCase()}; got: ${this.got.map((x) => x.kind).join(",")}`);
    return m as Extract<P2pMessage, { kind: K }>;
  }

  async whenClosed(): Promise<void> {
    await until(() => this.closed, 5000, "the node closes the connection");
  }

  close(): void {
    this.sock.terminate();
  }
}

const RAW_ADDR = "127.0.0.1:9";
const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as const;

function rawX25519(pub: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(pub.export({ format: "jwk" }).x!, "base64url"));
}

function ephemeral(): Uint8Array {
  return rawX25519(generateKeyPairSync("x25519").publicKey);
}

/** A joiner's PROOF signature over the transcript hash (RSA-PSS, as the node checks it). */
function signJoiner(key: Hostkey, th: Uint8Array): Uint8Array {
  return new Uint8Array(sign("sha256", Buffer.concat([Buffer.from("joiner"), th]), { key: key.privateKey, ...PSS }));
}

function hello(key: Hostkey, version = P2P_VERSION, eph = ephemeral()): Uint8Array {
  return encodeP2p({ kind: "hello", version, ephemeral: eph, addr: RAW_ADDR, publicKey: key.publicKeyDer });
}

/** The transcript hash the node computes for our PROOF with `work`. */
function transcript(c: Challenge, joiner: Hostkey, node: Hostkey, eph: Uint8Array, work: bigint): Uint8Array {
  return transcriptHash({
    version: P2P_VERSION,
    nonce: c.nonce,
    joinerId: joiner.id,
    acceptorId: node.id,
    joinerEphemeral: eph,
    acceptorEphemeral: c.ephemeral,
    joinerAddr: RAW_ADDR,
    acceptorAddr: c.addr,
    powBits: c.powBits,
    work,
  });
}

/** A lone node, attacked by `attack`; then an honest node must still join it and get an announce. */
async function survives(attack: (target: GossipNode, targetKey: Hostkey, forger: Hostkey) => Promise<void>): Promise<void> {
  const [targetKey, honestKey, forger] = (await testKeys(3)) as [Hostkey, Hostkey, Hostkey];
  const target = startNode({ hostkey: targetKey, keys: KEYS });
  loose.push(target);
  await attack(target, targetKey, forger);
  // The forged peer never made it into the overlay.
  expect(target.membership.active.size).toBe(0);

  const t = new Testnet();
  nets.push(t);
  const honest = startNode({ hostkey: honestKey, keys: KEYS, bootstrapper: target.p2pAddress });
  t.nodes.push(honest);
  await until(() => honest.membership.active.has(target.id) && target.membership.active.has(honest.id), 10_000, "the honest node's link");
  const sub = await t.subscribe(honest, 540);
  const mod = await t.module(target);
  const data = new Uint8Array([0x0b, 0xad, 0xca, 0xfe]);
  mod.announce(0, 540, data);
  await until(() => sub.count(data) === 1, 5000, "the honest node's subscriber gets the announce");
}

describe("handshake failures are refused and the node carries on", () => {
  test("garbage bytes: the node closes the connection", async () => {
    await survives(async (target) => {
      const p = await RawPeer.connect(target.p2pAddress);
      p.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      await p.whenClosed();
    });
  }, LIMIT);

  test("an unknown message type: the node closes the connection", async () => {
    await survives(async (target) => {
      const p = await RawPeer.connect(target.p2pAddress);
      p.send(new Uint8Array([0, 0, 0, 8, 0xff, 0xff, 0, 0]));
      await p.whenClosed();
    });
  }, LIMIT);

  test("a declared frame size above P2P_MAX_FRAME: closed before the body arrives", async () => {
    await survives(async (target) => {
      const p = await RawPeer.connect(target.p2pAddress);
      const header = new Uint8Array(6);
      new DataView(header.buffer).setUint32(0, P2P_MAX_FRAME + 1);
      header[5] = 1; // HELLO
      p.send(header);
      await p.whenClosed();
    });
  }, LIMIT);

  test("HELLO with a version below 2: REFUSE, then closed", async () => {
    await survives(async (target, _k, forger) => {
      const p = await RawPeer.connect(target.p2pAddress);
      p.send(hello(forger, 1));
      await p.whenClosed();
      expect(p.got.map((m) => m.kind)).toEqual(["refuse"]);
      expect((p.got[0] as Extract<P2pMessage, { kind: "refuse" }>).reason).toContain("version");
    });
  }, LIMIT);

  test("HELLO claiming the node's own identity: REFUSE, then closed", async () => {
    await survives(async (target, targetKey) => {
      const p = await RawPeer.connect(target.p2pAddress);
      p.send(hello(targetKey));
      await p.whenClosed();
      expect(p.got.map((m) => m.kind)).toEqual(["refuse"]);
      expect((p.got[0] as Extract<P2pMessage, { kind: "refuse" }>).reason).toContain("our own identity");
    });
  }, LIMIT);

  test("PROOF whose work does not solve the puzzle: REFUSE, then closed", async () => {
    await survives(async (target, targetKey, forger) => {
      const p = await RawPeer.connect(target.p2pAddress);
      const eph = ephemeral();
      p.send(hello(forger, P2P_VERSION, eph));
      const c = await p.next("challenge");
      expect(c.powBits).toBeGreaterThan(0);
      let work = 0n;
      while (verifyWork(c.nonce, forger.id, targetKey.id, work, c.powBits)) work++;
      const th = transcript(c, forger, targetKey, eph, work);
      p.send(encodeP2p({ kind: "proof", work, signature: signJoiner(forger, th) }));
      await p.whenClosed();
      expect(p.got.map((m) => m.kind)).toEqual(["challenge", "refuse"]);
      expect((p.got[1] as Extract<P2pMessage, { kind: "refuse" }>).reason).toContain("proof of work");
    });
  }, LIMIT);

  test("PROOF signed by another key than the one in HELLO: REFUSE, then closed", async () => {
    await survives(async (target, targetKey, forger) => {
      const [, , , other] = (await testKeys(4)) as Hostkey[];
      const p = await RawPeer.connect(target.p2pAddress);
      const eph = ephemeral();
      p.send(hello(forger, P2P_VERSION, eph));
      const c = await p.next("challenge");
      const work = await solveWork(c.nonce, forger.id, targetKey.id, c.powBits);
      const th = transcript(c, forger, targetKey, eph, work);
      // The right transcript, the right label, the wrong signer.
      p.send(encodeP2p({ kind: "proof", work, signature: signJoiner(other!, th) }));
      await p.whenClosed();
      expect(p.got.map((m) => m.kind)).toEqual(["challenge", "refuse"]);
      expect((p.got[1] as Extract<P2pMessage, { kind: "refuse" }>).reason).toContain("signature");
    });
  }, LIMIT);

  test("control: the same forged exchange, signed right, is welcomed and can JOIN", async () => {
    // Proves the tests above fail for the reason they name, not for a slip in the forgery.
    const [targetKey, , forger] = (await testKeys(3)) as [Hostkey, Hostkey, Hostkey];
    const target = startNode({ hostkey: targetKey, keys: KEYS });
    loose.push(target);
    const p = await RawPeer.connect(target.p2pAddress);
    const pair = generateKeyPairSync("x25519");
    const eph = rawX25519(pair.publicKey);
    p.send(hello(forger, P2P_VERSION, eph));
    const c = await p.next("challenge");
    const work = await solveWork(c.nonce, forger.id, targetKey.id, c.powBits);
    const th = transcript(c, forger, targetKey, eph, work);
    p.send(encodeP2p({ kind: "proof", work, signature: signJoiner(forger, th) }));
    await p.next("welcome");
    // From here on frames are sealed with the session key (src/node/channel.ts).
    const peerEph = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(c.ephemeral).toString("base64url") }, format: "jwk" });
    const secret = diffieHellman({ privateKey: pair.privateKey, publicKey: peerEph });
    const session = new Uint8Array(createHash("sha256").update("voidphone-gossip-session-v1").update(secret).update(th).digest());
    p.send(new SecureChannel(session, true).seal(encodeP2p({ kind: "join" })));
    await until(() => target.membership.active.has(forger.idHex), 5000, "the forged-but-honest peer is admitted");
    p.close();
  }, LIMIT);
});
