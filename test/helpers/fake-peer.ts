// A scriptable fake peer for the attack tests (issue 5): a raw Bun socket that speaks our
// codecs. It writes raw bytes or plaintext frames, runs the honest handshake itself (the real
// Handshake state machine with its own hostkey), then seals frames with SecureChannel exactly
// as src/node/link.ts does, switching at the frame boundary where the handshake ends. On
// demand it misbehaves: floods items, replays or tampers with sealed frames. Everything the
// node sends is recorded (decoded, after opening), and so is when the connection closed.

import type { Socket } from "bun";
import type { Hostkey } from "../../src/config/hostkey.ts";
import { SecureChannel, TAG_BYTES, splitRecord } from "../../src/node/channel.ts";
import { Handshake, type HandshakeOptions, type HandshakeResult } from "../../src/node/handshake.ts";
import { concat } from "../../src/wire/bytes.ts";
import { FrameDecoder } from "../../src/wire/frame.ts";
import { P2P_FRAME, decodeP2p, encodeP2p, type Gossip, type P2pMessage } from "../../src/wire/p2p.ts";
import { makeItem } from "./items.ts";
import { splitHostPort, until } from "./testnet.ts";
import { mulberry32 } from "../../src/util/prng.ts";

/** A seeded PRNG, so every "random" attack replays bit for bit. */
export class Rng {
  readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }
  /** Integer in [lo, hi]. */
  int = (lo: number, hi: number): number => lo + Math.floor(this.next() * (hi - lo + 1));
  chance = (p: number): boolean => this.next() < p;
  bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => this.int(0, 255));
}

type Slot = { owner: RawSocket | null };
type RawSock = Socket<Slot>;

/**
 * A raw TCP connection for tests: writes with its own queue (Bun may take fewer bytes than
 * given), hands chunks to `onChunk`, records when it closed. Shared by FakePeer and the
 * careless modules of fake-module.ts.
 */
export class RawSocket {
  readonly openedAt = performance.now();
  closedAt: number | null = null;
  /** How the node names this connection in its logs (`remote=...`). */
  readonly remote: string;
  private queue: Uint8Array[] = [];
  protected constructor(readonly sock: RawSock) {
    this.remote = `${sock.localAddress}:${sock.localPort}`;
  }

  /** Connects; `make` builds the owner around the socket (a subclass instance). */
  static open<T extends RawSocket>(addr: string, make: (s: RawSock) => T): Promise<T> {
    const [hostname, port] = splitHostPort(addr);
    return new Promise<T>((resolve, reject) => {
      // A socket the node refuses at once may be closed before (or instead of) `open`.
      const get = (s: RawSock) => (s.data.owner ??= make(s)) as T;
      Bun.connect<Slot>({
        hostname,
        port,
        data: { owner: null },
        socket: { ...RawSocket.glue(get), open: (s) => resolve(get(s)), connectError: (_s, e) => reject(e) },
      }).then((s) => resolve(get(s)), reject);
    });
  }

  /** Socket callbacks that feed the owner `get` finds (or makes) for a socket. */
  static glue(get: (s: RawSock) => RawSocket) {
    return {
      data: (s: RawSock, chunk: Uint8Array) => get(s).onChunk(chunk),
      drain: (s: RawSock) => get(s).flush(),
      close: (s: RawSock) => get(s).markClosed(),
      error: (s: RawSock) => get(s).markClosed(),
    };
  }

  get closed(): boolean {
    return this.closedAt !== null;
  }

  write(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.queue.length === 0) {
      const n = this.sock.write(bytes);
      if (n < 0 || n >= bytes.byteLength) return;
      bytes = bytes.subarray(n);
    }
    this.queue.push(bytes);
  }

  /** Stops reading from the socket: the node's writes back up (a module that never reads). */
  pause(): void {
    (this.sock as unknown as { pause(): void }).pause();
  }

  async whenClosed(ms = 3000): Promise<number> {
    await until(() => this.closed, ms, `the node closes connection ${this.remote}`);
    return this.closedAt! - this.openedAt;
  }

  close(): void {
    this.sock.terminate();
  }

  protected onChunk(_chunk: Uint8Array): void {}

  protected markClosed(): void {
    this.closedAt ??= performance.now();
  }

  private flush(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = this.sock.write(head);
      if (n < head.byteLength) {
        this.queue[0] = head.subarray(Math.max(n, 0));
        return;
      }
      this.queue.shift();
    }
  }
}

/** A frame as we put it on the wire (`plain` is null for raw bytes). */
export type SentFrame = { readonly kind: string; readonly plain: Uint8Array | null; readonly wire: Uint8Array };
export type FakeHandshake = Partial<HandshakeOptions> & { readonly advertisedAddr: string };

export class FakePeer extends RawSocket {
  /** What the node sent, decoded (opened once sealed), with arrival times. */
  readonly got: P2pMessage[] = [];
  readonly gotAt: number[] = [];
  readonly sent: SentFrame[] = [];
  /** Frames from the node we could not open or decode (we then close). */
  readonly errors: string[] = [];
  /** How many frames each record from the node carried, in arrival order. */
  readonly records: number[] = [];
  session: HandshakeResult | null = null;
  key: Hostkey | null = null;
  /** Once sealed, keep the link alive as link.ts does: answer PINGs, PING when quiet. */
  alive = true;
  private lastSent = 0;
  private pinger: ReturnType<typeof setInterval> | null = null;
  private channel: SecureChannel | null = null;
  private readonly decoder = new FrameDecoder(P2P_FRAME);
  private hs: Handshake | null = null;
  private readonly taken = new Set<number>();

  static connect(addr: string): Promise<FakePeer> {
    return RawSocket.open(addr, (s) => new FakePeer(s));
  }

  static adopt = (s: RawSock): FakePeer => new FakePeer(s);

  /** A fake peer that has completed the honest handshake with the node at `addr`, then sent JOIN. */
  static async joined(addr: string, key: Hostkey, advertisedAddr: string): Promise<FakePeer> {
    const p = await FakePeer.connect(addr);
    await p.handshake(key, { advertisedAddr });
    p.send({ kind: "join" });
    return p;
  }

  /** Writes raw bytes and records them. */
  raw(bytes: Uint8Array, kind = "raw"): void {
    this.sent.push({ kind, plain: null, wire: bytes });
    this.write(bytes);
  }

  /** A plaintext frame, even after the handshake. */
  sendPlain(m: P2pMessage): void {
    const f = encodeP2p(m);
    this.sent.push({ kind: m.kind, plain: f, wire: f });
    this.write(f);
  }

  /** As link.ts sends: sealed once the handshake is done, plaintext before. */
  send(m: P2pMessage): void {
    this.lastSent = performance.now();
    if (!this.channel) return this.sendPlain(m);
    this.write(this.seal(m));
  }

  /** Seals (and records) a message without sending it, one record of its own: the channel counter moves on. */
  seal(m: P2pMessage): Uint8Array {
    const plain = encodeP2p(m);
    const wire = this.channel!.seal(plain);
    this.sent.push({ kind: m.kind, plain, wire });
    return wire;
  }

  /** Seals plaintext bytes as they are (frames or not) into one record, as a peer with the session key could. */
  sealRaw(plain: Uint8Array | readonly Uint8Array[], kind = "raw record"): Uint8Array {
    const wire = this.channel!.seal(plain);
    this.sent.push({ kind, plain: plain instanceof Uint8Array ? plain : concat([...plain]), wire });
    return wire;
  }

  /** The link's protocol version once the handshake is done. */
  get version(): number {
    return this.channel?.version ?? 0;
  }

  /** Seals a message, flips one bit (in the ciphertext or the tag), and sends it. */
  sendTampered(m: P2pMessage, where: "body" | "tag"): void {
    const f = new Uint8Array(this.seal(m));
    const at = where === "tag" ? f.byteLength - TAG_BYTES : 4;
    f[at] = f[at]! ^ 0x01;
    this.write(f);
  }

  /** Sends every item in one write, so the node handles them in one go. */
  gossip(items: readonly Gossip[]): void {
    this.write(concat(items.map((m) => (this.channel ? this.seal(m) : encodeP2p(m)))));
  }

  /** Runs the honest handshake (initiator, or acceptor for a node that dials a fakeListener);
   *  rejects with the HandshakeError (e.g. on REFUSE). */
  handshake(key: Hostkey, o: FakeHandshake, role: "initiator" | "acceptor" = "initiator"): Promise<HandshakeResult> {
    this.key = key;
    this.hs = new Handshake(role, { hostkey: key, powBits: 4, timeoutMs: 5000, ...o }, (m) => this.send(m));
    this.hs.start();
    // A node that dialed us may have said HELLO before we got here.
    for (const m of this.got) this.hs.receive(m);
    this.switchIfDone();
    return this.hs.result;
  }

  /** The next message of `kind` not handed out before (in arrival order). */
  async next<K extends P2pMessage["kind"]>(kind: K, ms = 3000): Promise<Extract<P2pMessage, { kind: K }>> {
    let found = -1;
    const look = () => (found = this.got.findIndex((m, i) => m.kind === kind && !this.taken.has(i))) >= 0;
    await until(() => look() || this.closed, ms, `a ${kind} from the node`);
    if (!look()) throw new Error(`connection closed before a ${kind}; got ${this.got.map((m) => m.kind).join(",")}`);
    this.taken.add(found);
    return this.got[found] as Extract<P2pMessage, { kind: K }>;
  }

  /** The reason of the first REFUSE the node sent, or null. */
  get refusal(): string | null {
    const r = this.got.find((m) => m.kind === "refuse");
    return r?.kind === "refuse" ? r.reason : null;
  }

  protected override onChunk(chunk: Uint8Array): void {
    try {
      this.decoder.feed(chunk, (frame) => {
        if (!this.channel) return this.take(decodeP2p(frame.slice()));
        const frames = splitRecord(this.channel.open(frame));
        this.records.push(frames.length);
        for (const f of frames) if (!this.take(decodeP2p(f.slice()))) return false;
        return true;
      });
    } catch (e) {
      this.errors.push(String(e));
      this.close();
    }
  }

  private take(m: P2pMessage): boolean {
    this.got.push(m);
    this.gotAt.push(performance.now());
    if (this.hs && !this.channel) {
      this.hs.receive(m);
      this.switchIfDone();
    } else if (m.kind === "ping" && this.alive) {
      this.send({ kind: "pong" });
    }
    return !this.closed;
  }

  protected override markClosed(): void {
    super.markClosed();
    this.hs?.abort("connection closed");
    if (this.pinger) clearInterval(this.pinger);
  }

  /** As link.ts: switch to sealed frames at the exact frame boundary where the handshake ended. */
  private switchIfDone(): void {
    const r = this.hs?.outcome;
    if (!r || this.channel) return;
    this.session = r;
    this.channel = new SecureChannel(r.sessionKey, r.initiator, r.version);
    this.decoder.spec = this.channel.spec;
    this.pinger = setInterval(() => {
      if (this.alive && !this.closed && performance.now() - this.lastSent >= 50) this.send({ kind: "ping" });
    }, 50);
  }
}

/** GOSSIP items with seeded random salts (and data, unless given), their ids computed as an origin does. */
export function randomItems(rng: Rng, n: number, dataType: number, o: { ttl?: number; data?: Uint8Array } = {}): Gossip[] {
  const item = (): Gossip => makeItem({ salt: rng.bytes(16), ttl: o.ttl ?? 4, dataType, data: o.data ?? rng.bytes(8) });
  return Array.from({ length: n }, item);
}

/** A raw listener for the accepting side: every connection the node opens becomes a FakePeer. */
export function fakeListener(onPeer: (p: FakePeer) => void = () => {}): { address: string; peers: FakePeer[]; stop(): void } {
  const peers: FakePeer[] = [];
  const server = Bun.listen<Slot>({
    hostname: "127.0.0.1",
    port: 0,
    data: { owner: null }, // one object shared by every socket: each gets its own in open
    socket: {
      ...RawSocket.glue((s) => s.data.owner!),
      open: (s) => {
        const p = FakePeer.adopt(s);
        s.data = { owner: p };
        peers.push(p);
        onPeer(p);
      },
    },
  });
  return { address: `127.0.0.1:${server.port}`, peers, stop: () => server.stop(true) };
}
