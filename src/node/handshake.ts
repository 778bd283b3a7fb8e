// The join handshake, as a socket-free state machine fed decoded messages.
//
//   initiator (joiner)                        acceptor
//   HELLO {version, ephemeral, addr, key}  ->   (version: the highest the joiner speaks)
//                                          <- CHALLENGE {version, nonce, powBits, ephemeral, addr, key}
//                                             (version: the link's, the lower of both sides')
//   (solve the work, sign "joiner" | th)
//   PROOF {work, signature}                ->
//                                             (work first, then signature; sign "acceptor" | th)
//                                          <- WELCOME {signature}
//
// th = SHA-256("voidphone-gossip-handshake-v1" | version u16 | nonce | joinerId | acceptorId |
//              joinerEphemeral | acceptorEphemeral | u8-len joinerAddr | u8-len acceptorAddr |
//              powBits u8 | work u64), version being the link's. Different labels per role stop
// a signature from being reflected. An acceptor that picks a version below its own highest
// marks the end of its nonce (DOWNGRADE_MARK, as TLS 1.3 marks its random), so a joiner that
// offered more sees that its HELLO was altered; th covers the nonce, so the mark cannot be
// removed (docs/PROTOCOL.md section 4.2). Identity = SHA-256(SPKI DER); the key must be canonical DER so that one key
// cannot pose as many identities. The acceptor does nothing costly (no RSA, no DH) before
// the work checks out. Either side that detects a failure sends REFUSE {reason} before the
// result rejects; the owner of the link then closes it.

import {
  constants,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from "node:crypto";
import type { Hostkey } from "../config/hostkey.ts";
import { equalBytes, toHex as hex } from "../wire/bytes.ts";
import { utf8, Writer } from "../wire/cursor.ts";
import {
  type Challenge,
  type Hello,
  NONCE_BYTES,
  P2P_MIN_VERSION,
  P2P_VERSION,
  type P2pMessage,
  p2pKindType,
  p2pTypeName,
  type Proof,
  type Welcome,
} from "../wire/p2p.ts";
import { solveWork, verifyWork } from "./pow.ts";

export const MIN_PEER_KEY_BITS = 1024;
export const MAX_PEER_KEY_BITS = 16384;
export const DEFAULT_MAX_POW_BITS = 28;
/** RSA verification cost grows with the public exponent; real keys use 65537. */
const MAX_PUBLIC_EXPONENT = 1n << 33n;

export const HsCode = {
  Version: "ERR_HS_VERSION",
  Key: "ERR_HS_KEY",
  Self: "ERR_HS_SELF",
  Admit: "ERR_HS_ADMIT",
  Difficulty: "ERR_HS_DIFFICULTY",
  Work: "ERR_HS_WORK",
  Signature: "ERR_HS_SIGNATURE",
  Refused: "ERR_HS_REFUSED",
  Unexpected: "ERR_HS_UNEXPECTED",
  Timeout: "ERR_HS_TIMEOUT",
  Aborted: "ERR_HS_ABORTED",
  /** A local failure (e.g. send threw); a bug or a closed link, not the peer's fault. */
  Internal: "ERR_HS_INTERNAL",
} as const;
export type HsCode = (typeof HsCode)[keyof typeof HsCode];

/** The REFUSE reason for a peer that presents our own identity (also how a dialer learns it reached itself). */
export const SELF_REASON = "peer claims our own identity";

export class HandshakeError extends Error {
  constructor(
    readonly code: HsCode,
    message: string,
  ) {
    super(message);
    this.name = "HandshakeError";
  }
}

export interface HandshakeOptions {
  readonly hostkey: Hostkey;
  /** Our p2p address as peers should dial it. */
  readonly advertisedAddr: string;
  /** Difficulty we demand as acceptor (0-255). */
  readonly powBits: number;
  /** Hardest puzzle we agree to solve as initiator; default 28. */
  readonly maxPowBits?: number;
  /** Deadline for the whole handshake, from start(). */
  readonly timeoutMs: number;
  /** Called once the peer's identity is known (both roles): a refusal reason, or null to go on. */
  readonly admit?: (peerIdHex: string, peerAddr: string) => string | null;
  /** Hashing slice for the initiator's proof of work (see solveWork). */
  readonly powSliceMs?: number;
  /** The highest protocol version we speak (P2P_MIN_VERSION-P2P_VERSION); default P2P_VERSION. Tests play older peers with it. */
  readonly maxVersion?: number;
}

export interface HandshakeResult {
  readonly peerId: Uint8Array;
  readonly peerIdHex: string;
  readonly peerAddr: string;
  readonly peerKeyDer: Uint8Array;
  /** SHA-256("voidphone-gossip-session-v1" | X25519 shared secret | th); equal on both sides. */
  readonly sessionKey: Uint8Array;
  readonly initiator: boolean;
  /** The link's protocol version: the lower of both sides' highest (what CHALLENGE carried). */
  readonly version: number;
}

type State = "idle" | "await-hello" | "await-challenge" | "solving" | "await-proof" | "await-welcome" | "done" | "failed";

interface PeerKey {
  readonly key: KeyObject;
  readonly der: Uint8Array;
  readonly id: Uint8Array;
  readonly idHex: string;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const TH_LABEL = ascii("voidphone-gossip-handshake-v1");
const SESSION_LABEL = ascii("voidphone-gossip-session-v1");
const JOINER_LABEL = ascii("joiner");
const ACCEPTOR_LABEL = ascii("acceptor");
const LONE_SURROGATE = /\p{Surrogate}/gu;
const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as const;
/** The last 8 bytes of a CHALLENGE nonce when the acceptor picked a version below its highest: "DOWNGRD" | that highest u8. */
const DOWNGRADE_MARK = ascii("DOWNGRD");
const MARK_AT = NONCE_BYTES - DOWNGRADE_MARK.byteLength - 1;

/** Marks `nonce` (in place): its sender speaks up to `highest` but picked a lower version. */
export function markDowngrade(nonce: Uint8Array, highest: number): void {
  nonce.set(DOWNGRADE_MARK, MARK_AT);
  nonce[NONCE_BYTES - 1] = highest;
}

/** The highest version the acceptor marked in `nonce`, or 0 if there is no mark. */
export function downgradeMark(nonce: Uint8Array): number {
  return equalBytes(nonce.subarray(MARK_AT, NONCE_BYTES - 1), DOWNGRADE_MARK) ? nonce[NONCE_BYTES - 1]! : 0;
}

const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

/** A REFUSE reason must fit a u8-length string: cut at 255 UTF-8 bytes on a code point. */
function fitReason(reason: string): string {
  let out = "";
  let n = 0;
  for (const ch of reason.replace(LONE_SURROGATE, "\uFFFD")) {
    const len = Buffer.byteLength(ch, "utf8");
    if (n + len > 255) break;
    out += ch;
    n += len;
  }
  return out;
}

/** Parses a peer's hostkey: canonical SPKI DER of an RSA key of sane size and exponent. */
function parsePeerKey(der: Uint8Array): PeerKey {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(der), format: "der", type: "spki" });
  } catch {
    throw new HandshakeError(HsCode.Key, "public key is not SPKI DER");
  }
  if (key.asymmetricKeyType !== "rsa") {
    throw new HandshakeError(HsCode.Key, `public key is ${key.asymmetricKeyType ?? "of an unknown type"}, not RSA`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_PEER_KEY_BITS || bits > MAX_PEER_KEY_BITS) {
    throw new HandshakeError(HsCode.Key, `RSA key of ${bits} bits, expected ${MIN_PEER_KEY_BITS}-${MAX_PEER_KEY_BITS}`);
  }
  const e = key.asymmetricKeyDetails?.publicExponent ?? 0n;
  if (e < 3n || e > MAX_PUBLIC_EXPONENT) throw new HandshakeError(HsCode.Key, `RSA public exponent ${e} out of range`);
  const canonical = new Uint8Array(key.export({ type: "spki", format: "der" }));
  if (!equalBytes(canonical, der)) throw new HandshakeError(HsCode.Key, "public key is not canonical SPKI DER");
  const id = sha256(canonical);
  return { key, der: canonical, id, idHex: hex(id) };
}

function rawX25519(pub: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(pub.export({ format: "jwk" }).x!, "base64url"));
}

/** X25519 shared secret; a low-order peer value (all-zero secret) is refused. */
export function sharedSecret(priv: KeyObject, peerRaw: Uint8Array): Uint8Array {
  try {
    const pub = createPublicKey({
      key: { kty: "OKP", crv: "X25519", x: Buffer.from(peerRaw).toString("base64url") },
      format: "jwk",
    });
    const s = new Uint8Array(diffieHellman({ privateKey: priv, publicKey: pub }));
    if (s.every((b) => b === 0)) throw new Error("all-zero secret");
    return s;
  } catch {
    throw new HandshakeError(HsCode.Key, "unusable ephemeral key");
  }
}

export interface Transcript {
  readonly version: number;
  readonly nonce: Uint8Array;
  readonly joinerId: Uint8Array;
  readonly acceptorId: Uint8Array;
  readonly joinerEphemeral: Uint8Array;
  readonly acceptorEphemeral: Uint8Array;
  readonly joinerAddr: string;
  readonly acceptorAddr: string;
  readonly powBits: number;
  readonly work: bigint;
}

/** The bytes th hashes (docs/PROTOCOL.md section 4.4); pinned by the section 9 vectors. */
export function transcriptInput(t: Transcript): Uint8Array {
  const ja = ascii(t.joinerAddr);
  const aa = ascii(t.acceptorAddr);
  const size = TH_LABEL.byteLength + 2 + NONCE_BYTES + 4 * 32 + 1 + ja.byteLength + 1 + aa.byteLength + 1 + 8;
  const w = new Writer(size)
    .bytes(TH_LABEL)
    .u16(t.version)
    .bytes(t.nonce)
    .bytes(t.joinerId)
    .bytes(t.acceptorId)
    .bytes(t.joinerEphemeral)
    .bytes(t.acceptorEphemeral)
    .string(ja)
    .string(aa)
    .u8(t.powBits)
    .u64(t.work);
  return w.finish();
}

export function transcriptHash(t: Transcript): Uint8Array {
  return sha256(transcriptInput(t));
}

/** sessionKey = SHA-256("voidphone-gossip-session-v1" | X25519 shared secret | th), both roles. */
export function deriveSessionKey(shared: Uint8Array, th: Uint8Array): Uint8Array {
  return sha256(SESSION_LABEL, shared, th);
}

function signAs(label: Uint8Array, th: Uint8Array, key: KeyObject): Uint8Array {
  return new Uint8Array(sign("sha256", Buffer.concat([label, th]), { key, ...PSS }));
}

function verifyAs(label: Uint8Array, th: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  try {
    return verify("sha256", Buffer.concat([label, th]), { key, ...PSS }, signature);
  } catch {
    return false;
  }
}

export class Handshake {
  readonly result: Promise<HandshakeResult>;
  private resolve!: (r: HandshakeResult) => void;
  private reject!: (e: HandshakeError) => void;
  private state: State;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly solving = new AbortController();
  private readonly ephemeralPriv: KeyObject;
  private readonly ephemeral: Uint8Array;
  private readonly maxPowBits: number;
  private readonly maxVersion: number;
  /** The link's version: set by the acceptor on HELLO, learnt by the joiner from CHALLENGE. */
  private version = 0;
  // Filled as the handshake proceeds.
  private peer: PeerKey | undefined;
  private peerAddr = "";
  private peerEphemeral: Uint8Array | undefined;
  private challenge: Challenge | undefined;

  constructor(
    readonly role: "initiator" | "acceptor",
    private readonly opts: HandshakeOptions,
    private readonly send: (m: P2pMessage) => void,
  ) {
    if (!Number.isInteger(opts.powBits) || opts.powBits < 0 || opts.powBits > 255) {
      throw new RangeError(`handshake powBits: expected an integer 0-255, got ${opts.powBits}`);
    }
    this.maxPowBits = opts.maxPowBits ?? DEFAULT_MAX_POW_BITS;
    this.maxVersion = opts.maxVersion ?? P2P_VERSION;
    if (!Number.isInteger(this.maxVersion) || this.maxVersion < P2P_MIN_VERSION || this.maxVersion > P2P_VERSION) {
      throw new RangeError(`handshake maxVersion: expected an integer ${P2P_MIN_VERSION}-${P2P_VERSION}, got ${opts.maxVersion}`);
    }
    // Our own address goes into HELLO/CHALLENGE and the transcript as a u8-length string.
    if (utf8("advertised address", opts.advertisedAddr).byteLength === 0) {
      throw new RangeError("handshake advertisedAddr: empty");
    }
    this.result = new Promise<HandshakeResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // The owner may only look at the result after the fact; never an unhandled rejection.
    this.result.catch(() => {});
    const pair = generateKeyPairSync("x25519");
    this.ephemeralPriv = pair.privateKey;
    this.ephemeral = rawX25519(pair.publicKey);
    this.state = role === "acceptor" ? "await-hello" : "idle";
  }

  /**
   * The result, set synchronously the moment the handshake succeeds: the link switches to
   * sealed frames at exactly that frame boundary, before the promise callbacks run.
   */
  outcome: HandshakeResult | null = null;

  get settled(): boolean {
    return this.state === "done" || this.state === "failed";
  }

  /** Initiator: sends HELLO. Both: arms the deadline. */
  start(): void {
    if (this.timer !== undefined || this.settled) return;
    this.timer = setTimeout(() => this.fail(new HandshakeError(HsCode.Timeout, "handshake timed out")), this.opts.timeoutMs);
    if (this.role === "initiator" && this.state === "idle") {
      this.state = "await-challenge";
      const hello: Hello = {
        kind: "hello",
        version: this.maxVersion,
        ephemeral: this.ephemeral,
        addr: this.opts.advertisedAddr,
        publicKey: this.opts.hostkey.publicKeyDer,
      };
      try {
        this.send(hello);
      } catch (e) {
        this.fail(e, false);
      }
    }
  }

  /** Feeds one decoded message. Ignored once settled. Never throws for peer input. */
  receive(m: P2pMessage): void {
    if (this.settled) return;
    try {
      if (m.kind === "refuse") {
        // Refused for having the acceptor's own identity: the address we dialled is ourselves.
        if (m.reason === SELF_REASON) throw new HandshakeError(HsCode.Self, `refused by peer: the peer is this node (${JSON.stringify(m.reason)})`);
        throw new HandshakeError(HsCode.Refused, `refused by peer: ${JSON.stringify(m.reason)}`);
      }
      if (this.state === "await-hello" && m.kind === "hello") return this.onHello(m);
      if (this.state === "await-challenge" && m.kind === "challenge") return this.onChallenge(m);
      if (this.state === "await-proof" && m.kind === "proof") return this.onProof(m);
      if (this.state === "await-welcome" && m.kind === "welcome") return this.onWelcome(m);
      throw new HandshakeError(HsCode.Unexpected, `unexpected ${p2pTypeName(p2pKindType(m.kind))} in state ${this.state}`);
    } catch (e) {
      this.fail(e);
    }
  }

  /** Ends the handshake without telling the peer (e.g. the connection closed). */
  abort(reason: string): void {
    this.fail(new HandshakeError(HsCode.Aborted, reason), false);
  }

  /** Peer identity checks shared by both roles (the version is checked before). */
  private checkPeer(publicKey: Uint8Array, addr: string): PeerKey {
    const peer = parsePeerKey(publicKey);
    if (equalBytes(peer.id, this.opts.hostkey.id)) throw new HandshakeError(HsCode.Self, SELF_REASON);
    const refusal = this.opts.admit?.(peer.idHex, addr) ?? null;
    if (refusal !== null) throw new HandshakeError(HsCode.Admit, refusal);
    this.peer = peer;
    this.peerAddr = addr;
    return peer;
  }

  private onHello(m: Hello): void {
    // HELLO offers the joiner's highest version: the link runs the lower of the two.
    if (m.version < P2P_MIN_VERSION) throw new HandshakeError(HsCode.Version, `unsupported version ${m.version}`);
    this.checkPeer(m.publicKey, m.addr);
    this.version = Math.min(m.version, this.maxVersion);
    this.peerEphemeral = new Uint8Array(m.ephemeral);
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
    if (this.version < this.maxVersion) markDowngrade(nonce, this.maxVersion);
    const challenge: Challenge = {
      kind: "challenge",
      version: this.version,
      nonce,
      powBits: this.opts.powBits,
      ephemeral: this.ephemeral,
      addr: this.opts.advertisedAddr,
      publicKey: this.opts.hostkey.publicKeyDer,
    };
    this.challenge = challenge;
    this.state = "await-proof";
    this.send(challenge);
  }

  private onChallenge(m: Challenge): void {
    // The acceptor picks at most what we offered, at least what we still speak.
    if (m.version < P2P_MIN_VERSION || m.version > this.maxVersion) throw new HandshakeError(HsCode.Version, `unsupported version ${m.version}`);
    // An acceptor that speaks more than it picked saw a HELLO offering less than ours: altered
    // on the way. (Its mark cannot be forged away: the nonce is in th.)
    const marked = downgradeMark(m.nonce);
    if (m.version < this.maxVersion && marked > m.version) {
      throw new HandshakeError(HsCode.Version, `downgrade: version ${m.version} picked by a peer that speaks ${marked}, our HELLO offered ${this.maxVersion}`);
    }
    const peer = this.checkPeer(m.publicKey, m.addr);
    this.version = m.version;
    if (m.powBits > this.maxPowBits) {
      throw new HandshakeError(HsCode.Difficulty, `difficulty too high (${m.powBits} bits, at most ${this.maxPowBits})`);
    }
    // Keep copies: the message's fields may be views of a frame buffer.
    const challenge: Challenge = { ...m, nonce: new Uint8Array(m.nonce), ephemeral: new Uint8Array(m.ephemeral) };
    this.challenge = challenge;
    this.peerEphemeral = challenge.ephemeral;
    this.state = "solving";
    const signal = this.solving.signal;
    const sliceMs = this.opts.powSliceMs;
    solveWork(challenge.nonce, this.opts.hostkey.id, peer.id, challenge.powBits, { signal, ...(sliceMs === undefined ? {} : { sliceMs }) })
      .then((work) => {
        if (this.state !== "solving") return;
        const th = this.transcript(work);
        const signature = signAs(JOINER_LABEL, th, this.opts.hostkey.privateKey);
        this.work = work;
        this.state = "await-welcome";
        const proof: Proof = { kind: "proof", work, signature };
        this.send(proof);
      })
      .catch((e) => this.fail(e));
  }

  private work = 0n;

  private onProof(m: Proof): void {
    const c = this.challenge!;
    const peer = this.peer!;
    // Cheap check first: one hash. No RSA or DH work for a peer that has not paid.
    if (!verifyWork(c.nonce, peer.id, this.opts.hostkey.id, m.work, c.powBits)) {
      throw new HandshakeError(HsCode.Work, `proof of work does not meet ${c.powBits} bits`);
    }
    const th = this.transcript(m.work);
    if (!verifyAs(JOINER_LABEL, th, peer.key, m.signature)) {
      throw new HandshakeError(HsCode.Signature, "bad joiner signature");
    }
    const sessionKey = deriveSessionKey(sharedSecret(this.ephemeralPriv, this.peerEphemeral!), th);
    const welcome: Welcome = { kind: "welcome", signature: signAs(ACCEPTOR_LABEL, th, this.opts.hostkey.privateKey) };
    this.send(welcome);
    this.succeed(sessionKey);
  }

  private onWelcome(m: Welcome): void {
    const th = this.transcript(this.work);
    if (!verifyAs(ACCEPTOR_LABEL, th, this.peer!.key, m.signature)) {
      throw new HandshakeError(HsCode.Signature, "bad acceptor signature");
    }
    this.succeed(deriveSessionKey(sharedSecret(this.ephemeralPriv, this.peerEphemeral!), th));
  }

  private transcript(work: bigint): Uint8Array {
    const c = this.challenge!;
    const initiator = this.role === "initiator";
    return transcriptHash({
      version: this.version,
      nonce: c.nonce,
      joinerId: initiator ? this.opts.hostkey.id : this.peer!.id,
      acceptorId: initiator ? this.peer!.id : this.opts.hostkey.id,
      joinerEphemeral: initiator ? this.ephemeral : this.peerEphemeral!,
      acceptorEphemeral: initiator ? this.peerEphemeral! : this.ephemeral,
      joinerAddr: initiator ? this.opts.advertisedAddr : this.peerAddr,
      acceptorAddr: initiator ? this.peerAddr : this.opts.advertisedAddr,
      powBits: c.powBits,
      work,
    });
  }

  private succeed(sessionKey: Uint8Array): void {
    this.state = "done";
    this.stop();
    const peer = this.peer!;
    this.resolve((this.outcome = {
      peerId: peer.id,
      peerIdHex: peer.idHex,
      peerAddr: this.peerAddr,
      peerKeyDer: peer.der,
      sessionKey,
      initiator: this.role === "initiator",
      version: this.version,
    }));
  }

  private fail(e: unknown, tellPeer = true): void {
    if (this.settled) return;
    const err =
      e instanceof HandshakeError
        ? e
        : new HandshakeError(HsCode.Internal, e instanceof Error ? e.message : String(e));
    this.state = "failed";
    this.stop();
    // A refusal from the peer needs no answer; anything we detect is worth a reason.
    if (tellPeer && err.code !== HsCode.Refused) {
      try {
        this.send({ kind: "refuse", reason: fitReason(err.message) });
      } catch {
        // The link may already be gone; the rejection below is what matters.
      }
    }
    this.reject(err);
  }

  private stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.solving.abort();
  }
}
