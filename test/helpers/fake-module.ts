// Local modules for the attack tests (issue 5): careless ones over raw sockets (never reads,
// never answers, floods ANNOUNCE, opens many connections), and the honest side every attack
// test keeps an eye on: a module announcing on one node and a subscriber counting arrivals on
// another, plus the node's internal table sizes for "memory stays bounded" checks.

import { TcpTransport, type TcpTransportOptions } from "../../src/net/peer-transport.ts";
import { afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Link, TransportEvents } from "../../src/core/transport.ts";
import type { Hostkey } from "../../src/config/hostkey.ts";
import { ApiClient } from "../../src/net/api-client.ts";
import type { GossipNode } from "../../src/node/node.ts";
import { memoryLogger } from "../../src/util/log.ts";
import { API_FRAME, type Notification, decodeApi, encodeAnnounce, encodeNotify, encodeValidation } from "../../src/wire/api.ts";
import { concat } from "../../src/wire/bytes.ts";
import { FrameDecoder } from "../../src/wire/frame.ts";
import { RawSocket } from "./fake-peer.ts";
import { splitHostPort, startNode, testKeys, until } from "./testnet.ts";

// --- teardown: every test file calls useCleanup() once; what a test starts is stopped after it.

const cleanups: Array<() => void> = [];
export function defer<T>(value: T, stop: (v: T) => void): T {
  cleanups.push(() => stop(value));
  return value;
}
/** A fresh directory under the system's temp dir, removed after the test (useCleanup). */
export function tempDir(prefix: string): string {
  return defer(mkdtempSync(join(tmpdir(), prefix)), (d) => rmSync(d, { recursive: true, force: true }));
}

export function useCleanup(): void {
  afterEach(() => {
    for (const f of cleanups.splice(0).reverse()) {
      try {
        f();
      } catch {
        // Already closed.
      }
    }
  });
}

/** Keys for nodes (0-7) and for fake peers (8 on), from the shared test key pool. */
export async function nodeKeys(): Promise<Hostkey[]> {
  return testKeys(8);
}
export async function fakeKeys(n: number): Promise<Hostkey[]> {
  return (await testKeys(8 + n)).slice(8);
}

/**
 * A TcpTransport alone (no core) on 127.0.0.1 port 0 with test settings, started with
 * `events`; stopped after the test, with the links `up` lists closed.
 */
export async function testTransport(events: TransportEvents, up: () => Iterable<Link>, o: Partial<TcpTransportOptions> = {}) {
  const { log, lines } = memoryLogger("debug");
  const t = new TcpTransport({
    listenHost: "127.0.0.1",
    listenPort: 0,
    advertise: null,
    sendBufferBytes: 64 << 20,
    handshakeTimeoutMs: 5000,
    maxHandshakes: 64,
    maxConnsPerIp: 0,
    powBits: 4,
    hostkey: (await nodeKeys())[0]!,
    log,
    admit: () => null,
    ...o,
  });
  const address = t.start(events);
  defer(t, (x) => {
    x.stop();
    for (const l of up()) l.close("test over", false);
  });
  return { t, address, lines };
}

/** Log lines matching every pattern. */
export function logged(lines: readonly string[], ...patterns: Array<string | RegExp>): string[] {
  return lines.filter((l) => patterns.every((p) => (typeof p === "string" ? l.includes(p) : p.test(l))));
}

// --- careless modules

export class RawModule extends RawSocket {
  readonly notifications: Notification[] = [];
  /** Verdict sent back for each notification; null: never answers. */
  reply: boolean | null = null;
  private readonly decoder = new FrameDecoder(API_FRAME);

  static connect(addr: string): Promise<RawModule> {
    return RawSocket.open(addr, (s) => new RawModule(s));
  }
  static many(addr: string, n: number): Promise<RawModule[]> {
    return Promise.all(Array.from({ length: n }, () => RawModule.connect(addr)));
  }

  notify(dataType: number): void {
    this.write(encodeNotify({ dataType }));
  }
  announce(ttl: number, dataType: number, data: Uint8Array): void {
    this.write(encodeAnnounce({ ttl, dataType, data }));
  }
  /** n ANNOUNCEs in one write: the node sees them all at once. */
  announceBurst(n: number, dataType: number, data: (i: number) => Uint8Array): void {
    this.write(concat(Array.from({ length: n }, (_, i) => encodeAnnounce({ ttl: 1, dataType, data: data(i) }))));
  }

  protected override onChunk(chunk: Uint8Array): void {
    try {
      for (const f of this.decoder.push(chunk)) {
        const m = decodeApi(f);
        if (m.kind !== "notification") continue;
        this.notifications.push({ ...m, data: m.data.slice() });
        if (this.reply !== null) this.write(encodeValidation({ id: m.id, valid: this.reply }));
      }
    } catch {
      this.close();
    }
  }
}

// --- the honest side

const MARK = 0x484f4e53; // "HONS"

/**
 * An honest module on `from` announces a fresh item every `everyMs`; an honest subscriber on
 * `to` (answering valid) records which arrived. `flowing()` waits for an item announced
 * after the call, so it proves the path works now, not earlier.
 */
export class HonestTraffic {
  private seq = 0;
  private highest = -1;
  /** Distinct honest items that arrived, and every notification of one (a duplicate counts twice). */
  readonly arrived = new Set<number>();
  deliveries = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private constructor(
    private readonly mod: ApiClient,
    private readonly sub: ApiClient,
  ) {}

  static async start(from: GossipNode, to: GossipNode, dataType = 540, everyMs = 40): Promise<HonestTraffic> {
    let t: HonestTraffic | null = null;
    const [sh, sp] = splitHostPort(to.apiAddress);
    const sub = await ApiClient.connect(sh, sp, {
      onFrame: (f) => {
        if (!("msg" in f) || f.msg.kind !== "notification" || f.msg.dataType !== dataType) return;
        const d = f.msg.data;
        sub.validate(f.msg.id, true);
        if (d.byteLength !== 8 || new DataView(d.buffer, d.byteOffset).getUint32(0) !== MARK) return;
        t?.record(new DataView(d.buffer, d.byteOffset).getUint32(4));
      },
    });
    sub.notify(dataType);
    await until(() => to.api.subscriberCount(dataType) > 0, 2000, "the honest subscription");
    const [mh, mp] = splitHostPort(from.apiAddress);
    const mod = await ApiClient.connect(mh, mp);
    t = defer(new HonestTraffic(mod, sub), (x) => x.stop());
    t.timer = setInterval(() => {
      const data = new Uint8Array(8);
      new DataView(data.buffer).setUint32(0, MARK);
      new DataView(data.buffer).setUint32(4, t!.seq++);
      mod.announce(0, dataType, data);
    }, everyMs);
    return t;
  }

  get sent(): number {
    return this.seq;
  }

  /** Waits until an item announced from now on has arrived. */
  async flowing(ms = 5000): Promise<void> {
    const from = this.seq;
    await until(() => this.highest >= from, ms, `an honest item announced after #${from} arrives (arrived ${this.arrived.size}/${this.seq})`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.mod.close();
    this.sub.close();
  }

  private record(seq: number): void {
    this.deliveries++;
    this.arrived.add(seq);
    this.highest = Math.max(this.highest, seq);
  }
}

/** The node's tables, read from the inside: "memory stays bounded" without measuring RSS. */
export function sizes(node: GossipNode) {
  const m = node.membership.tableSizes;
  const d = node.dissemination.tableSizes;
  const t = node.transport as TcpTransport;
  return {
    active: node.membership.active.size,
    passive: node.membership.passive.size,
    links: t.linkCount,
    handshaking: t.handshakingIn,
    dialing: m.dialing,
    shuffleRoutes: m.routes,
    declined: m.declined,
    seen: d.seen,
    cache: d.cache,
    cacheBytes: d.cacheBytes,
    missing: d.missing,
    apiConns: node.api.connectionCount,
    pending: node.api.pendingCount,
    scores: (node.scores as unknown as { entries: Map<string, unknown> }).entries.size,
  };
}

export interface Arena {
  /** The node under attack; its log lines are in `lines`. */
  readonly target: GossipNode;
  /** An honest neighbour on another /24 (127.0.1.1), so per-prefix limits never touch it. */
  readonly honest: GossipNode;
  /** Honest items from `honest` to a subscriber on `target`, flowing before the attack. */
  readonly traffic: HonestTraffic;
  readonly lines: string[];
}

/**
 * A target node and one honest neighbour with honest traffic between them. `targetJoins`:
 * the target dials the honest node (so the honest link is not an incoming connection of
 * the target's, as per-IP limits count those).
 */
export async function arena(targetKeys: Record<string, string> = {}, o: { targetJoins?: boolean; honestKeys?: Record<string, string> } = {}): Promise<Arena> {
  const [tk, hk] = (await nodeKeys()) as [Hostkey, Hostkey];
  const { log, lines } = memoryLogger("debug");
  const honestOpts = { hostkey: hk, keys: { p2p_address: "127.0.1.1:0", ...o.honestKeys } };
  let target: GossipNode, honest: GossipNode;
  if (o.targetJoins) {
    honest = defer(startNode(honestOpts), (n) => n.stop());
    target = defer(startNode({ hostkey: tk, keys: targetKeys, log, bootstrapper: honest.p2pAddress }), (n) => n.stop());
  } else {
    target = defer(startNode({ hostkey: tk, keys: targetKeys, log }), (n) => n.stop());
    honest = defer(startNode({ ...honestOpts, bootstrapper: target.p2pAddress }), (n) => n.stop());
  }
  await until(() => target.membership.active.has(honest.id) && honest.membership.active.has(target.id), 5000, "the honest link");
  const traffic = await HonestTraffic.start(honest, target);
  await traffic.flowing();
  return { target, honest, traffic, lines };
}

/** A joiner that arrives after an attack: a fresh honest node must get in and be served. */
export async function honestJoiner(target: GossipNode, keys: Record<string, string> = {}): Promise<GossipNode> {
  const key = (await nodeKeys())[2]!;
  const j = defer(startNode({ hostkey: key, keys: { p2p_address: "127.0.2.1:0", ...keys }, bootstrapper: target.p2pAddress }), (n) => n.stop());
  await until(() => target.membership.active.has(j.id) && j.membership.active.has(target.id), 5000, "the honest joiner's link");
  const t = await HonestTraffic.start(target, j, 541);
  await t.flowing();
  return j;
}
