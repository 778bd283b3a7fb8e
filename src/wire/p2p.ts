// Gossip-to-Gossip protocol (ours; specified byte by byte in docs/PROTOCOL.md).
// Frame: | size: u32 (whole frame, header included) | type: u16 | body |, big-endian.
// Strings are | len: u8 | UTF-8 bytes |; blobs are | len: u16 | bytes |.

import { copyRange, getU16, getU32, setU16, setU32 } from "./bytes.ts";
import { checkBlob, checkFixed, checkU64, checkUint, Reader, utf8, Writer } from "./cursor.ts";
import { WireCode, WireError } from "./errors.ts";
import { MAX_API_DATA } from "./api.ts";
import type { FrameSpec } from "./frame.ts";

/**
 * The highest version we speak, offered in HELLO. 2: GOSSIP carries a salt and item ids are
 * bound to the content (docs/PROTOCOL.md section 6.1). 3: one sealed record carries every
 * frame a link writes in one turn (section 2.2). A link runs the lower of both sides' versions.
 */
export const P2P_VERSION = 3;
/** The lowest version we still speak: a version-2 peer gets one frame per sealed record. */
export const P2P_MIN_VERSION = 2;
export const P2P_HEADER = 6;
/** Largest frame: a GOSSIP with 65535 bytes of data fits with room to spare. */
export const P2P_MAX_FRAME = 131_072;
export const P2P_FRAME: FrameSpec = { sizeBytes: 4, minSize: P2P_HEADER, maxSize: P2P_MAX_FRAME };

export const ITEM_ID_BYTES = 16;
export const ITEM_SALT_BYTES = 16;
export const NONCE_BYTES = 32;
export const X25519_BYTES = 32;
export const PEER_ID_BYTES = 32;
/** Caps on list lengths a decoder accepts (a peer cannot make us allocate more). */
export const MAX_IHAVE = 1024;
export const MAX_GRAFT = 256;
export const MAX_SHUFFLE_ENTRIES = 64;

export const P2pType = {
  // handshake
  Hello: 1,
  Challenge: 2,
  Proof: 3,
  Welcome: 4,
  Refuse: 5,
  // membership (HyParView)
  Join: 16,
  ForwardJoin: 17,
  Neighbor: 18,
  NeighborReply: 19,
  Disconnect: 20,
  Shuffle: 21,
  ShuffleReply: 22,
  Ping: 23,
  Pong: 24,
  // dissemination (Plumtree / flood)
  Gossip: 32,
  IHave: 33,
  Graft: 34,
  Prune: 35,
} as const;
export type P2pType = (typeof P2pType)[keyof typeof P2pType];

/** A peer as other peers learn of it: its advertised p2p address and, when known, its id. */
export interface PeerRef {
  /** `host:port` or `[v6]:port`, at most 255 UTF-8 bytes. */
  readonly addr: string;
}

export interface Hello {
  readonly kind: "hello";
  readonly version: number;
  readonly ephemeral: Uint8Array; // X25519 public value, 32 bytes
  readonly addr: string; // joiner's advertised p2p address
  readonly publicKey: Uint8Array; // joiner's hostkey, SPKI DER
}
export interface Challenge {
  readonly kind: "challenge";
  readonly version: number;
  readonly nonce: Uint8Array; // 32 bytes
  readonly powBits: number; // u8
  readonly ephemeral: Uint8Array; // 32 bytes
  readonly addr: string; // accepter's advertised p2p address
  readonly publicKey: Uint8Array; // accepter's hostkey, SPKI DER
}
export interface Proof {
  readonly kind: "proof";
  readonly work: bigint; // u64 counter that solves the puzzle
  readonly signature: Uint8Array;
}
export interface Welcome {
  readonly kind: "welcome";
  readonly signature: Uint8Array;
}
export interface Refuse {
  readonly kind: "refuse";
  readonly reason: string; // at most 255 bytes
}
export interface Join {
  readonly kind: "join";
}
export interface ForwardJoin {
  readonly kind: "forward_join";
  readonly ttl: number; // u8
  readonly peer: PeerRef; // the joiner
}
export interface Neighbor {
  readonly kind: "neighbor";
  readonly high: boolean; // u8: 1 high priority, 0 low
}
export interface NeighborReply {
  readonly kind: "neighbor_reply";
  readonly accepted: boolean; // u8
}
export interface Disconnect {
  readonly kind: "disconnect";
}
export interface Shuffle {
  readonly kind: "shuffle";
  readonly id: bigint; // u64
  readonly ttl: number; // u8
  readonly peers: readonly PeerRef[]; // u8 count, <= MAX_SHUFFLE_ENTRIES
}
export interface ShuffleReply {
  readonly kind: "shuffle_reply";
  readonly id: bigint; // u64
  readonly peers: readonly PeerRef[];
}
export interface Ping {
  readonly kind: "ping";
}
export interface Pong {
  readonly kind: "pong";
}
export interface Gossip {
  readonly kind: "gossip";
  readonly id: Uint8Array; // 16 bytes: itemId(salt, dataType, data), src/wire/item-id.ts
  readonly ttl: number; // u8: hops this copy may still make, counting the one to the receiver
  readonly hops: number; // u8: hops made so far, counting the one to the receiver
  readonly salt: Uint8Array; // 16 bytes, random per item at its origin
  readonly dataType: number; // u16
  readonly data: Uint8Array;
}
export interface IHaveEntry {
  readonly id: Uint8Array; // 16 bytes
  readonly hops: number; // u8
}
export interface IHave {
  readonly kind: "ihave";
  readonly entries: readonly IHaveEntry[]; // u16 count, <= MAX_IHAVE
}
export interface Graft {
  readonly kind: "graft";
  readonly ids: readonly Uint8Array[]; // u16 count, <= MAX_GRAFT
}
export interface Prune {
  readonly kind: "prune";
}

export type P2pMessage =
  | Hello
  | Challenge
  | Proof
  | Welcome
  | Refuse
  | Join
  | ForwardJoin
  | Neighbor
  | NeighborReply
  | Disconnect
  | Shuffle
  | ShuffleReply
  | Ping
  | Pong
  | Gossip
  | IHave
  | Graft
  | Prune;

// ---------------------------------------------------------------------------------------
// Codecs. encodeP2p returns a whole frame (header included); decodeP2p takes one (as the
// FrameDecoder yields it). Byte fields of a decoded message (ids, data, keys, nonces,
// signatures) are views of the frame, not copies: whoever keeps one past the handling of
// the frame copies it. Decoders trust nothing (ERR_TRUNCATED, ERR_TRAILING_BYTES,
// ERR_BAD_VALUE for caps, booleans, UTF-8, empty addresses); encoders apply the same rules.

/** Offset of a GOSSIP's salt: what follows it to the end of the frame (salt, data type,
 *  data) is exactly what the item id hashes, after the label. */
export const GOSSIP_SALT_AT = P2P_HEADER + ITEM_ID_BYTES + 2;
/** Fixed part of a GOSSIP frame: header, id, ttl, hops, salt, data type. */
export const GOSSIP_FIXED = GOSSIP_SALT_AT + ITEM_SALT_BYTES + 2;
/** The most data one GOSSIP frame can carry: what one API NOTIFICATION can deliver (every
 *  item starts as an API ANNOUNCE, so anything larger could be neither announced nor delivered). */
export const MAX_GOSSIP_DATA = MAX_API_DATA;
const IHAVE_ENTRY = ITEM_ID_BYTES + 1;

const KIND_TYPE = {
  hello: P2pType.Hello,
  challenge: P2pType.Challenge,
  proof: P2pType.Proof,
  welcome: P2pType.Welcome,
  refuse: P2pType.Refuse,
  join: P2pType.Join,
  forward_join: P2pType.ForwardJoin,
  neighbor: P2pType.Neighbor,
  neighbor_reply: P2pType.NeighborReply,
  disconnect: P2pType.Disconnect,
  shuffle: P2pType.Shuffle,
  shuffle_reply: P2pType.ShuffleReply,
  ping: P2pType.Ping,
  pong: P2pType.Pong,
  gossip: P2pType.Gossip,
  ihave: P2pType.IHave,
  graft: P2pType.Graft,
  prune: P2pType.Prune,
} as const satisfies Record<P2pMessage["kind"], P2pType>;

const TYPE_NAME = new Map<number, string>(
  Object.entries(KIND_TYPE).map(([kind, type]) => [type, kind.toUpperCase()]),
);

/** The type number a message kind is sent as. */
export function p2pKindType(kind: P2pMessage["kind"]): P2pType {
  return KIND_TYPE[kind];
}

/** For logs: "HELLO", "FORWARD_JOIN", ..., or "type N" for an unknown number. */
export function p2pTypeName(type: number): string {
  return TYPE_NAME.get(type) ?? `type ${type}`;
}

function frameWriter(type: P2pType, body: number): Writer {
  const size = P2P_HEADER + body;
  if (size > P2P_MAX_FRAME) {
    throw new WireError(WireCode.FrameTooLarge, `${p2pTypeName(type)} of ${size} bytes exceeds ${P2P_MAX_FRAME}`);
  }
  return new Writer(size).u32(size).u16(type);
}

function addrBytes(what: string, addr: string): Uint8Array {
  const b = utf8(what, addr);
  if (b.byteLength === 0) throw new WireError(WireCode.BadValue, `${what}: empty address`);
  return b;
}

function readAddr(r: Reader, what: string): string {
  const s = r.string(what);
  if (s.length === 0) throw new WireError(WireCode.BadValue, `${what}: empty address`);
  return s;
}

function encodeHello(m: Hello): Uint8Array {
  checkUint("HELLO version", m.version, 16);
  checkFixed("HELLO ephemeral", m.ephemeral, X25519_BYTES);
  checkBlob("HELLO public key", m.publicKey);
  const addr = addrBytes("HELLO addr", m.addr);
  return frameWriter(P2pType.Hello, 2 + X25519_BYTES + 1 + addr.byteLength + 2 + m.publicKey.byteLength)
    .u16(m.version)
    .bytes(m.ephemeral)
    .string(addr)
    .blob(m.publicKey)
    .finish();
}

function decodeHello(r: Reader): Hello {
  return {
    kind: "hello",
    version: r.u16("HELLO version"),
    ephemeral: r.bytes(X25519_BYTES, "HELLO ephemeral"),
    addr: readAddr(r, "HELLO addr"),
    publicKey: r.blob("HELLO public key"),
  };
}

function encodeChallenge(m: Challenge): Uint8Array {
  checkUint("CHALLENGE version", m.version, 16);
  checkFixed("CHALLENGE nonce", m.nonce, NONCE_BYTES);
  checkUint("CHALLENGE pow bits", m.powBits, 8);
  checkFixed("CHALLENGE ephemeral", m.ephemeral, X25519_BYTES);
  checkBlob("CHALLENGE public key", m.publicKey);
  const addr = addrBytes("CHALLENGE addr", m.addr);
  const body = 2 + NONCE_BYTES + 1 + X25519_BYTES + 1 + addr.byteLength + 2 + m.publicKey.byteLength;
  return frameWriter(P2pType.Challenge, body)
    .u16(m.version)
    .bytes(m.nonce)
    .u8(m.powBits)
    .bytes(m.ephemeral)
    .string(addr)
    .blob(m.publicKey)
    .finish();
}

function decodeChallenge(r: Reader): Challenge {
  return {
    kind: "challenge",
    version: r.u16("CHALLENGE version"),
    nonce: r.bytes(NONCE_BYTES, "CHALLENGE nonce"),
    powBits: r.u8("CHALLENGE pow bits"),
    ephemeral: r.bytes(X25519_BYTES, "CHALLENGE ephemeral"),
    addr: readAddr(r, "CHALLENGE addr"),
    publicKey: r.blob("CHALLENGE public key"),
  };
}

function encodeProof(m: Proof): Uint8Array {
  checkU64("PROOF work", m.work);
  checkBlob("PROOF signature", m.signature);
  return frameWriter(P2pType.Proof, 8 + 2 + m.signature.byteLength).u64(m.work).blob(m.signature).finish();
}

function decodeProof(r: Reader): Proof {
  return { kind: "proof", work: r.u64("PROOF work"), signature: r.blob("PROOF signature") };
}

function encodeWelcome(m: Welcome): Uint8Array {
  checkBlob("WELCOME signature", m.signature);
  return frameWriter(P2pType.Welcome, 2 + m.signature.byteLength).blob(m.signature).finish();
}

function decodeWelcome(r: Reader): Welcome {
  return { kind: "welcome", signature: r.blob("WELCOME signature") };
}

function encodeRefuse(m: Refuse): Uint8Array {
  const reason = utf8("REFUSE reason", m.reason);
  return frameWriter(P2pType.Refuse, 1 + reason.byteLength).string(reason).finish();
}

function decodeRefuse(r: Reader): Refuse {
  return { kind: "refuse", reason: r.string("REFUSE reason") };
}

function encodeForwardJoin(m: ForwardJoin): Uint8Array {
  checkUint("FORWARD_JOIN ttl", m.ttl, 8);
  const addr = addrBytes("FORWARD_JOIN peer", m.peer.addr);
  return frameWriter(P2pType.ForwardJoin, 1 + 1 + addr.byteLength).u8(m.ttl).string(addr).finish();
}

function decodeForwardJoin(r: Reader): ForwardJoin {
  return { kind: "forward_join", ttl: r.u8("FORWARD_JOIN ttl"), peer: { addr: readAddr(r, "FORWARD_JOIN peer") } };
}

function peersBytes(what: string, peers: readonly PeerRef[]): { addrs: Uint8Array[]; size: number } {
  if (!Array.isArray(peers) || peers.length > MAX_SHUFFLE_ENTRIES) {
    throw new WireError(WireCode.BadValue, `${what}: at most ${MAX_SHUFFLE_ENTRIES} peers, got ${peers?.length}`);
  }
  const addrs = peers.map((p, i) => addrBytes(`${what} peer ${i}`, p.addr));
  let size = 1;
  for (const a of addrs) size += 1 + a.byteLength;
  return { addrs, size };
}

function readPeers(r: Reader, what: string): PeerRef[] {
  const count = r.u8(`${what} count`);
  if (count > MAX_SHUFFLE_ENTRIES) {
    throw new WireError(WireCode.BadValue, `${what}: count ${count} exceeds ${MAX_SHUFFLE_ENTRIES}`);
  }
  const peers: PeerRef[] = new Array(count);
  for (let i = 0; i < count; i++) peers[i] = { addr: readAddr(r, `${what} peer ${i}`) };
  return peers;
}

function encodeShuffle(m: Shuffle): Uint8Array {
  checkU64("SHUFFLE id", m.id);
  checkUint("SHUFFLE ttl", m.ttl, 8);
  const { addrs, size } = peersBytes("SHUFFLE", m.peers);
  const w = frameWriter(P2pType.Shuffle, 8 + 1 + size).u64(m.id).u8(m.ttl).u8(addrs.length);
  for (const a of addrs) w.string(a);
  return w.finish();
}

function decodeShuffle(r: Reader): Shuffle {
  return { kind: "shuffle", id: r.u64("SHUFFLE id"), ttl: r.u8("SHUFFLE ttl"), peers: readPeers(r, "SHUFFLE") };
}

function encodeShuffleReply(m: ShuffleReply): Uint8Array {
  checkU64("SHUFFLE_REPLY id", m.id);
  const { addrs, size } = peersBytes("SHUFFLE_REPLY", m.peers);
  const w = frameWriter(P2pType.ShuffleReply, 8 + size).u64(m.id).u8(addrs.length);
  for (const a of addrs) w.string(a);
  return w.finish();
}

function decodeShuffleReply(r: Reader): ShuffleReply {
  return { kind: "shuffle_reply", id: r.u64("SHUFFLE_REPLY id"), peers: readPeers(r, "SHUFFLE_REPLY") };
}

// GOSSIP and IHAVE are the hot path: fixed offsets, no cursor object, one allocation to
// encode, only the views the message itself needs to decode.

function encodeGossip(m: Gossip): Uint8Array {
  checkFixed("GOSSIP id", m.id, ITEM_ID_BYTES);
  checkUint("GOSSIP ttl", m.ttl, 8);
  checkUint("GOSSIP hops", m.hops, 8);
  checkFixed("GOSSIP salt", m.salt, ITEM_SALT_BYTES);
  checkUint("GOSSIP data type", m.dataType, 16);
  const size = GOSSIP_FIXED + m.data.byteLength;
  if (m.data.byteLength > MAX_GOSSIP_DATA) {
    throw new WireError(WireCode.FrameTooLarge, `GOSSIP data of ${m.data.byteLength} bytes exceeds ${MAX_GOSSIP_DATA}`);
  }
  const out = new Uint8Array(size);
  setU32(out, 0, size);
  setU16(out, 4, P2pType.Gossip);
  out.set(m.id, P2P_HEADER);
  out[22] = m.ttl;
  out[23] = m.hops;
  out.set(m.salt, GOSSIP_SALT_AT);
  setU16(out, GOSSIP_FIXED - 2, m.dataType);
  out.set(m.data, GOSSIP_FIXED);
  return out;
}

function decodeGossip(f: Uint8Array, copy: boolean): Gossip {
  if (f.byteLength < GOSSIP_FIXED) {
    throw new WireError(WireCode.Truncated, `GOSSIP needs at least ${GOSSIP_FIXED} bytes, got ${f.byteLength}`);
  }
  if (f.byteLength - GOSSIP_FIXED > MAX_GOSSIP_DATA) {
    throw new WireError(WireCode.BadValue, `GOSSIP data of ${f.byteLength - GOSSIP_FIXED} bytes exceeds ${MAX_GOSSIP_DATA}`);
  }
  const ttl = f[22]!;
  const hops = f[23]!;
  const dataType = getU16(f, GOSSIP_FIXED - 2);
  if (copy) {
    return {
      kind: "gossip",
      id: copyRange(f, P2P_HEADER, P2P_HEADER + ITEM_ID_BYTES),
      ttl,
      hops,
      salt: copyRange(f, GOSSIP_SALT_AT, GOSSIP_SALT_AT + ITEM_SALT_BYTES),
      dataType,
      data: copyRange(f, GOSSIP_FIXED, f.byteLength),
    };
  }
  return {
    kind: "gossip",
    id: f.subarray(P2P_HEADER, P2P_HEADER + ITEM_ID_BYTES),
    ttl,
    hops,
    salt: f.subarray(GOSSIP_SALT_AT, GOSSIP_SALT_AT + ITEM_SALT_BYTES),
    dataType,
    data: f.subarray(GOSSIP_FIXED),
  };
}

function checkCount(what: string, count: number, max: number): void {
  if (count < 1 || count > max) throw new WireError(WireCode.BadValue, `${what}: count ${count} is not 1-${max}`);
}

function encodeIHave(m: IHave): Uint8Array {
  const n = m.entries.length;
  checkCount("IHAVE", n, MAX_IHAVE);
  const size = P2P_HEADER + 2 + n * IHAVE_ENTRY;
  const out = new Uint8Array(size);
  setU32(out, 0, size);
  setU16(out, 4, P2pType.IHave);
  setU16(out, 6, n);
  let o = P2P_HEADER + 2;
  for (let i = 0; i < n; i++, o += IHAVE_ENTRY) {
    const e = m.entries[i]!;
    checkFixed(`IHAVE entry ${i} id`, e.id, ITEM_ID_BYTES);
    checkUint(`IHAVE entry ${i} hops`, e.hops, 8);
    out.set(e.id, o);
    out[o + ITEM_ID_BYTES] = e.hops;
  }
  return out;
}

/** Checks a `count u16 | count × entry` body is exactly complete before any entry is read. */
function listCount(f: Uint8Array, what: string, max: number, entry: number): number {
  if (f.byteLength < P2P_HEADER + 2) {
    throw new WireError(WireCode.Truncated, `${what} count: needs 2 bytes at offset ${P2P_HEADER}, ${f.byteLength - P2P_HEADER} left`);
  }
  const count = getU16(f, P2P_HEADER);
  checkCount(what, count, max);
  const need = P2P_HEADER + 2 + count * entry;
  if (f.byteLength < need) {
    throw new WireError(WireCode.Truncated, `${what}: ${count} entries need ${need} bytes, got ${f.byteLength}`);
  }
  if (f.byteLength > need) {
    throw new WireError(WireCode.TrailingBytes, `${what}: ${f.byteLength - need} trailing bytes after offset ${need}`);
  }
  return count;
}

function decodeIHave(f: Uint8Array): IHave {
  const count = listCount(f, "IHAVE", MAX_IHAVE, IHAVE_ENTRY);
  const entries: IHaveEntry[] = new Array(count);
  for (let i = 0, o = P2P_HEADER + 2; i < count; i++, o += IHAVE_ENTRY) {
    entries[i] = { id: f.subarray(o, o + ITEM_ID_BYTES), hops: f[o + ITEM_ID_BYTES]! };
  }
  return { kind: "ihave", entries };
}

function encodeGraft(m: Graft): Uint8Array {
  checkCount("GRAFT", m.ids.length, MAX_GRAFT);
  const w = frameWriter(P2pType.Graft, 2 + m.ids.length * ITEM_ID_BYTES).u16(m.ids.length);
  m.ids.forEach((id, i) => {
    checkFixed(`GRAFT id ${i}`, id, ITEM_ID_BYTES);
    w.bytes(id);
  });
  return w.finish();
}

function decodeGraft(f: Uint8Array): Graft {
  const count = listCount(f, "GRAFT", MAX_GRAFT, ITEM_ID_BYTES);
  const ids: Uint8Array[] = new Array(count);
  for (let i = 0, o = P2P_HEADER + 2; i < count; i++, o += ITEM_ID_BYTES) ids[i] = f.subarray(o, o + ITEM_ID_BYTES);
  return { kind: "graft", ids };
}

function encodeEmpty(type: P2pType): Uint8Array {
  return frameWriter(type, 0).finish();
}

function encodeBool(type: P2pType, b: boolean): Uint8Array {
  if (typeof b !== "boolean") throw new WireError(WireCode.BadValue, `${p2pTypeName(type)}: expected a boolean`);
  return frameWriter(type, 1).u8(b ? 1 : 0).finish();
}

export function encodeP2p(m: P2pMessage): Uint8Array {
  switch (m.kind) {
    case "gossip":
      return encodeGossip(m);
    case "ihave":
      return encodeIHave(m);
    case "graft":
      return encodeGraft(m);
    case "hello":
      return encodeHello(m);
    case "challenge":
      return encodeChallenge(m);
    case "proof":
      return encodeProof(m);
    case "welcome":
      return encodeWelcome(m);
    case "refuse":
      return encodeRefuse(m);
    case "forward_join":
      return encodeForwardJoin(m);
    case "neighbor":
      return encodeBool(P2pType.Neighbor, m.high);
    case "neighbor_reply":
      return encodeBool(P2pType.NeighborReply, m.accepted);
    case "shuffle":
      return encodeShuffle(m);
    case "shuffle_reply":
      return encodeShuffleReply(m);
    case "join":
    case "disconnect":
    case "ping":
    case "pong":
    case "prune":
      return encodeEmpty(KIND_TYPE[m.kind]);
    default:
      throw new WireError(WireCode.BadValue, `unknown message kind ${JSON.stringify((m as { kind: unknown }).kind)}`);
  }
}

/**
 * Decodes one whole frame. Throws WireError; byte fields are views of `f` (see above), except
 * a GOSSIP's with `copyItems`: then its id, salt and data are copies (copyRange), which a
 * receiver may keep.
 */
export function decodeP2p(f: Uint8Array, copyItems = false): P2pMessage {
  if (f.byteLength < P2P_HEADER) {
    throw new WireError(WireCode.Truncated, `frame of ${f.byteLength} bytes is shorter than the header`);
  }
  const size = getU32(f, 0);
  if (size !== f.byteLength) {
    throw new WireError(WireCode.WrongSize, `declared size ${size} but frame has ${f.byteLength} bytes`);
  }
  if (size > P2P_MAX_FRAME) {
    throw new WireError(WireCode.FrameTooLarge, `frame of ${size} bytes exceeds ${P2P_MAX_FRAME}`);
  }
  const type = getU16(f, 4);
  switch (type) {
    case P2pType.Gossip:
      return decodeGossip(f, copyItems);
    case P2pType.IHave:
      return decodeIHave(f);
    case P2pType.Graft:
      return decodeGraft(f);
  }
  const r = new Reader(f, P2P_HEADER);
  const m = decodeBody(type, r);
  r.end(p2pTypeName(type));
  return m;
}

function decodeBody(type: number, r: Reader): P2pMessage {
  switch (type) {
    case P2pType.Hello:
      return decodeHello(r);
    case P2pType.Challenge:
      return decodeChallenge(r);
    case P2pType.Proof:
      return decodeProof(r);
    case P2pType.Welcome:
      return decodeWelcome(r);
    case P2pType.Refuse:
      return decodeRefuse(r);
    case P2pType.ForwardJoin:
      return decodeForwardJoin(r);
    case P2pType.Neighbor:
      return { kind: "neighbor", high: r.bool("NEIGHBOR high") };
    case P2pType.NeighborReply:
      return { kind: "neighbor_reply", accepted: r.bool("NEIGHBOR_REPLY accepted") };
    case P2pType.Shuffle:
      return decodeShuffle(r);
    case P2pType.ShuffleReply:
      return decodeShuffleReply(r);
    case P2pType.Join:
      return { kind: "join" };
    case P2pType.Disconnect:
      return { kind: "disconnect" };
    case P2pType.Ping:
      return { kind: "ping" };
    case P2pType.Pong:
      return { kind: "pong" };
    case P2pType.Prune:
      return { kind: "prune" };
    default:
      throw new WireError(WireCode.UnknownType, `unknown message type ${type}`);
  }
}
