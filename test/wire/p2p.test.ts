// The peer-to-peer codecs against the layout in src/wire/p2p.ts: a fixture table checked
// three ways, every malformed shape with the code it must raise, and a seeded fuzz loop
// in which random frames may only raise WireError (and whatever decodes re-encodes to the
// same bytes: the encoding is canonical).

import { describe, expect, test } from "bun:test";
import { fromHex, toHex } from "../../src/wire/bytes.ts";
import { WireCode, WireError } from "../../src/wire/errors.ts";
import {
  decodeP2p,
  encodeP2p,
  MAX_GOSSIP_DATA,
  MAX_GRAFT,
  MAX_IHAVE,
  MAX_SHUFFLE_ENTRIES,
  P2P_MAX_FRAME,
  type P2pMessage,
  P2pType,
  p2pKindType,
  p2pTypeName,
} from "../../src/wire/p2p.ts";
import { codeOf } from "../helpers/wire.ts";

interface Fixture {
  readonly name: string;
  readonly hex: string;
  readonly value: P2pMessage;
}

const b = (hex: string): Uint8Array => fromHex(hex);
const rep = (byteHex: string, n: number): string => byteHex.repeat(n);
const ID = "000102030405060708090a0b0c0d0e0f";
const SALT = "101112131415161718191a1b1c1d1e1f";

const fixtures: readonly Fixture[] = [
  // Worked by hand from the layout comments.
  { name: "JOIN", hex: "00000006 0010", value: { kind: "join" } },
  { name: "NEIGHBOR high", hex: "00000007 0012 01", value: { kind: "neighbor", high: true } },
  {
    name: "GOSSIP id 00..0f, ttl 3, hops 1, salt 10..1f, type 1337, deadbeef",
    hex: `0000002e 0020 ${ID} 03 01 ${SALT} 0539 deadbeef`,
    value: { kind: "gossip", id: b(ID), ttl: 3, hops: 1, salt: b(SALT), dataType: 1337, data: b("deadbeef") },
  },
  // Empty bodies.
  { name: "DISCONNECT", hex: "00000006 0014", value: { kind: "disconnect" } },
  { name: "PING", hex: "00000006 0017", value: { kind: "ping" } },
  { name: "PONG", hex: "00000006 0018", value: { kind: "pong" } },
  { name: "PRUNE", hex: "00000006 0023", value: { kind: "prune" } },
  // Booleans.
  { name: "NEIGHBOR low", hex: "00000007 0012 00", value: { kind: "neighbor", high: false } },
  { name: "NEIGHBOR_REPLY accepted", hex: "00000007 0013 01", value: { kind: "neighbor_reply", accepted: true } },
  { name: "NEIGHBOR_REPLY declined", hex: "00000007 0013 00", value: { kind: "neighbor_reply", accepted: false } },
  // Handshake.
  {
    name: "HELLO v1, addr h:1, 2-byte key",
    hex: `00000030 0001 0001 ${rep("11", 32)} 03 683a31 0002 0a0b`,
    value: { kind: "hello", version: 1, ephemeral: b(rep("11", 32)), addr: "h:1", publicKey: b("0a0b") },
  },
  {
    name: "CHALLENGE v1, 20 bits, addr h:2, 1-byte key",
    hex: `00000050 0002 0001 ${rep("22", 32)} 14 ${rep("33", 32)} 03 683a32 0001 0c`,
    value: {
      kind: "challenge",
      version: 1,
      nonce: b(rep("22", 32)),
      powBits: 20,
      ephemeral: b(rep("33", 32)),
      addr: "h:2",
      publicKey: b("0c"),
    },
  },
  {
    name: "PROOF work 5, signature abcd",
    hex: "00000012 0003 0000000000000005 0002 abcd",
    value: { kind: "proof", work: 5n, signature: b("abcd") },
  },
  {
    name: "PROOF work 2^64-1, empty signature",
    hex: "00000010 0003 ffffffffffffffff 0000",
    value: { kind: "proof", work: 0xffff_ffff_ffff_ffffn, signature: b("") },
  },
  { name: "WELCOME 3-byte signature", hex: "0000000b 0004 0003 010203", value: { kind: "welcome", signature: b("010203") } },
  { name: "REFUSE busy", hex: "0000000b 0005 04 62757379", value: { kind: "refuse", reason: "busy" } },
  { name: "REFUSE empty reason", hex: "00000007 0005 00", value: { kind: "refuse", reason: "" } },
  { name: "REFUSE UTF-8 né", hex: "0000000a 0005 03 6ec3a9", value: { kind: "refuse", reason: "né" } },
  { name: "REFUSE leading BOM kept", hex: "0000000a 0005 03 efbbbf", value: { kind: "refuse", reason: "\ufeff" } },
  // Membership.
  {
    name: "FORWARD_JOIN ttl 6, 1.2.3.4:5",
    hex: "00000011 0011 06 09 312e322e332e343a35",
    value: { kind: "forward_join", ttl: 6, peer: { addr: "1.2.3.4:5" } },
  },
  {
    name: "SHUFFLE id 0102..08, ttl 4, [a:1, [::1]:2]",
    hex: "0000001c 0015 0102030405060708 04 02 03 613a31 07 5b3a3a315d3a32",
    value: { kind: "shuffle", id: 0x0102030405060708n, ttl: 4, peers: [{ addr: "a:1" }, { addr: "[::1]:2" }] },
  },
  {
    name: "SHUFFLE no peers",
    hex: "00000010 0015 0000000000000000 00 00",
    value: { kind: "shuffle", id: 0n, ttl: 0, peers: [] },
  },
  {
    name: "SHUFFLE_REPLY id 2^64-1, [a:1]",
    hex: "00000013 0016 ffffffffffffffff 01 03 613a31",
    value: { kind: "shuffle_reply", id: 0xffff_ffff_ffff_ffffn, peers: [{ addr: "a:1" }] },
  },
  // Dissemination.
  {
    name: "GOSSIP empty data, ttl 0, hops 255, type 65535",
    hex: `0000002a 0020 ${rep("ab", 16)} 00 ff ${rep("cd", 16)} ffff`,
    value: { kind: "gossip", id: b(rep("ab", 16)), ttl: 0, hops: 255, salt: b(rep("cd", 16)), dataType: 65535, data: b("") },
  },
  {
    name: "IHAVE one entry",
    hex: `00000019 0021 0001 ${rep("ff", 16)} 02`,
    value: { kind: "ihave", entries: [{ id: b(rep("ff", 16)), hops: 2 }] },
  },
  {
    name: "IHAVE two entries",
    hex: `0000002a 0021 0002 ${ID} 00 ${rep("01", 16)} 07`,
    value: {
      kind: "ihave",
      entries: [
        { id: b(ID), hops: 0 },
        { id: b(rep("01", 16)), hops: 7 },
      ],
    },
  },
  { name: "GRAFT one id", hex: `00000018 0022 0001 ${ID}`, value: { kind: "graft", ids: [b(ID)] } },
  {
    name: "GRAFT two ids",
    hex: `00000028 0022 0002 ${ID} ${rep("ee", 16)}`,
    value: { kind: "graft", ids: [b(ID), b(rep("ee", 16))] },
  },
];

/** Byte fields as hex and bigints as strings, so views compare by content and print readably. */
function show(v: unknown): unknown {
  if (v instanceof Uint8Array) return `<${toHex(v)}>`;
  if (typeof v === "bigint") return `${v}n`;
  if (Array.isArray(v)) return v.map(show);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, show(x)]));
  }
  return v;
}


/** Copies a frame with its size field rewritten to its actual length. */
function resized(frame: Uint8Array): Uint8Array {
  const out = frame.slice();
  if (out.length >= 4) new DataView(out.buffer).setUint32(0, out.length);
  return out;
}

function withByte(frame: Uint8Array, extra: number): Uint8Array {
  const out = new Uint8Array(frame.length + 1);
  out.set(frame);
  out[frame.length] = extra;
  return resized(out);
}

function frame(type: number, bodyHex: string): Uint8Array {
  const body = fromHex(bodyHex);
  const out = new Uint8Array(6 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.length);
  v.setUint16(4, type);
  out.set(body, 6);
  return out;
}

describe("p2p fixtures", () => {
  test("the table covers every message type", () => {
    const covered = new Set(fixtures.map((f) => p2pKindType(f.value.kind)));
    expect([...covered].sort((x, y) => x - y)).toEqual(Object.values(P2pType).sort((x, y) => x - y));
  });

  for (const f of fixtures) {
    const bytes = fromHex(f.hex);
    test(`decode: ${f.name}`, () => {
      expect(show(decodeP2p(bytes))).toEqual(show(f.value));
    });
    test(`encode: ${f.name}`, () => {
      expect(toHex(encodeP2p(f.value))).toBe(toHex(bytes));
    });
    test(`round trip: ${f.name}`, () => {
      expect(show(decodeP2p(encodeP2p(f.value)))).toEqual(show(f.value));
    });
  }

  test("GOSSIP carries at most what one API NOTIFICATION can deliver (65527 bytes)", () => {
    expect(MAX_GOSSIP_DATA).toBe(65527);
    const m: P2pMessage = { kind: "gossip", id: b(ID), ttl: 1, hops: 1, salt: b(SALT), dataType: 1, data: new Uint8Array(MAX_GOSSIP_DATA).fill(7) };
    const out = encodeP2p(m);
    expect(out.length).toBeLessThanOrEqual(P2P_MAX_FRAME);
    expect(show(decodeP2p(out))).toEqual(show(m));
    // One byte more, framed by hand (the encoder refuses it): the decoder refuses it too.
    const big = new Uint8Array(out.length + 1);
    big.set(out);
    new DataView(big.buffer).setUint32(0, big.length);
    expect(codeOf(() => decodeP2p(big))).toBe(WireCode.BadValue);
  });

  test("decoded byte fields are views of the frame (callers copy what they keep)", () => {
    const bytes = fromHex(fixtures[2]!.hex);
    const m = decodeP2p(bytes);
    if (m.kind !== "gossip") throw new Error("expected gossip");
    expect(m.data.buffer).toBe(bytes.buffer);
    expect(m.data.byteOffset).toBe(42);
    expect(m.id.byteOffset).toBe(6);
    expect(m.salt.buffer).toBe(bytes.buffer);
    expect(m.salt.byteOffset).toBe(24);
  });

  test("with copyItems, a GOSSIP's id, salt and data are copies of their own; other kinds' fields stay views", () => {
    const bytes = fromHex(fixtures[2]!.hex);
    const m = decodeP2p(bytes, true);
    if (m.kind !== "gossip") throw new Error("expected gossip");
    expect(show(m)).toEqual(show(fixtures[2]!.value));
    for (const field of [m.id, m.salt, m.data]) {
      expect(field.buffer).not.toBe(bytes.buffer);
      expect(field.buffer.byteLength).toBe(field.byteLength);
    }
    const ihave = fixtures.find((f) => f.value.kind === "ihave")!;
    const framed = fromHex(ihave.hex);
    const h = decodeP2p(framed, true);
    if (h.kind !== "ihave") throw new Error("expected ihave");
    expect(h.entries[0]!.id.buffer).toBe(framed.buffer);
  });

  test("p2pTypeName names every type and numbers unknown ones", () => {
    expect(p2pTypeName(P2pType.ForwardJoin)).toBe("FORWARD_JOIN");
    expect(p2pTypeName(P2pType.IHave)).toBe("IHAVE");
    expect(p2pTypeName(99)).toBe("type 99");
  });
});

describe("p2p malformed frames", () => {
  // Every field is length-prefixed or fixed, so any strict prefix is short of something;
  // only GOSSIP's trailing data may legitimately be shorter.
  for (const f of fixtures) {
    const bytes = fromHex(f.hex);
    const fixedEnd = f.value.kind === "gossip" ? 42 : bytes.length;
    test(`every cut of ${f.name} is ERR_TRUNCATED`, () => {
      for (let k = 0; k < fixedEnd; k++) {
        expect(`${k}: ${codeOf(() => decodeP2p(resized(bytes.subarray(0, k))))}`).toBe(`${k}: ${WireCode.Truncated}`);
      }
    });
    if (f.value.kind !== "gossip") {
      test(`a trailing byte after ${f.name} is ERR_TRAILING_BYTES`, () => {
        expect(codeOf(() => decodeP2p(withByte(bytes, 0)))).toBe(WireCode.TrailingBytes);
      });
    }
  }

  test("declared size differing from the frame length is ERR_WRONG_SIZE", () => {
    expect(codeOf(() => decodeP2p(fromHex("00000007 0010")))).toBe(WireCode.WrongSize);
    expect(codeOf(() => decodeP2p(fromHex("00000005 0010 00")))).toBe(WireCode.WrongSize);
  });

  test("a frame above P2P_MAX_FRAME is ERR_FRAME_TOO_LARGE", () => {
    const big = new Uint8Array(P2P_MAX_FRAME + 1);
    new DataView(big.buffer).setUint32(0, big.length);
    big[5] = P2pType.Gossip;
    expect(codeOf(() => decodeP2p(big))).toBe(WireCode.FrameTooLarge);
  });

  test("unknown types are ERR_UNKNOWN_TYPE", () => {
    for (const t of [0, 6, 15, 25, 31, 36, 500, 0xffff]) {
      expect(`${t}: ${codeOf(() => decodeP2p(frame(t, "")))}`).toBe(`${t}: ${WireCode.UnknownType}`);
    }
  });

  const bad: readonly [string, Uint8Array][] = [
    ["NEIGHBOR high = 2", frame(P2pType.Neighbor, "02")],
    ["NEIGHBOR_REPLY accepted = ff", frame(P2pType.NeighborReply, "ff")],
    ["SHUFFLE count over the cap", frame(P2pType.Shuffle, `0000000000000001 02 ${(MAX_SHUFFLE_ENTRIES + 1).toString(16)} ${"03613a31".repeat(MAX_SHUFFLE_ENTRIES + 1)}`)],
    ["SHUFFLE_REPLY count over the cap", frame(P2pType.ShuffleReply, `0000000000000001 ${(MAX_SHUFFLE_ENTRIES + 1).toString(16)} ${"03613a31".repeat(MAX_SHUFFLE_ENTRIES + 1)}`)],
    ["IHAVE count over the cap", frame(P2pType.IHave, `${(MAX_IHAVE + 1).toString(16).padStart(4, "0")} ${rep(`${ID}01`, MAX_IHAVE + 1)}`)],
    ["IHAVE count 0", frame(P2pType.IHave, "0000")],
    ["GRAFT count over the cap", frame(P2pType.Graft, `${(MAX_GRAFT + 1).toString(16).padStart(4, "0")} ${rep(ID, MAX_GRAFT + 1)}`)],
    ["GRAFT count 0", frame(P2pType.Graft, "0000")],
    ["REFUSE invalid UTF-8 (c3 28)", frame(P2pType.Refuse, "02 c328")],
    ["REFUSE overlong UTF-8 (c0 af)", frame(P2pType.Refuse, "02 c0af")],
    ["REFUSE UTF-8 encoded surrogate (ed a0 80)", frame(P2pType.Refuse, "03 eda080")],
    ["FORWARD_JOIN addr not UTF-8 (ff)", frame(P2pType.ForwardJoin, "01 01 ff")],
    ["FORWARD_JOIN empty addr", frame(P2pType.ForwardJoin, "01 00")],
    ["SHUFFLE empty addr", frame(P2pType.Shuffle, "0000000000000001 02 01 00")],
    ["HELLO empty addr", frame(P2pType.Hello, `0001 ${rep("11", 32)} 00 0001 00`)],
  ];
  for (const [name, bytes] of bad) {
    test(`${name} is ERR_BAD_VALUE`, () => {
      expect(codeOf(() => decodeP2p(bytes))).toBe(WireCode.BadValue);
    });
  }
});

describe("p2p encoders refuse what decoders would", () => {
  const gossip = { kind: "gossip", id: b(ID), ttl: 1, hops: 1, salt: b(SALT), dataType: 1, data: b("") } as const;
  const cases: readonly [string, unknown, string][] = [
    ["GOSSIP 15-byte id", { ...gossip, id: b(ID).subarray(1) }, WireCode.BadValue],
    ["GOSSIP 17-byte salt", { ...gossip, salt: b(`${SALT}00`) }, WireCode.BadValue],
    ["GOSSIP ttl 256", { ...gossip, ttl: 256 }, WireCode.BadValue],
    ["GOSSIP hops -1", { ...gossip, hops: -1 }, WireCode.BadValue],
    ["GOSSIP data type 1.5", { ...gossip, dataType: 1.5 }, WireCode.BadValue],
    ["GOSSIP data one byte too large", { ...gossip, data: new Uint8Array(MAX_GOSSIP_DATA + 1) }, WireCode.FrameTooLarge],
    ["IHAVE no entries", { kind: "ihave", entries: [] }, WireCode.BadValue],
    ["IHAVE over the cap", { kind: "ihave", entries: new Array(MAX_IHAVE + 1).fill({ id: b(ID), hops: 0 }) }, WireCode.BadValue],
    ["IHAVE entry hops 300", { kind: "ihave", entries: [{ id: b(ID), hops: 300 }] }, WireCode.BadValue],
    ["GRAFT no ids", { kind: "graft", ids: [] }, WireCode.BadValue],
    ["GRAFT over the cap", { kind: "graft", ids: new Array(MAX_GRAFT + 1).fill(b(ID)) }, WireCode.BadValue],
    ["SHUFFLE over the cap", { kind: "shuffle", id: 1n, ttl: 1, peers: new Array(MAX_SHUFFLE_ENTRIES + 1).fill({ addr: "a:1" }) }, WireCode.BadValue],
    ["SHUFFLE id 2^64", { kind: "shuffle", id: 1n << 64n, ttl: 1, peers: [] }, WireCode.BadValue],
    ["FORWARD_JOIN empty addr", { kind: "forward_join", ttl: 1, peer: { addr: "" } }, WireCode.BadValue],
    ["FORWARD_JOIN 256-byte addr", { kind: "forward_join", ttl: 1, peer: { addr: "a".repeat(256) } }, WireCode.BadValue],
    ["REFUSE lone surrogate", { kind: "refuse", reason: "\ud800" }, WireCode.BadValue],
    ["PROOF negative work", { kind: "proof", work: -1n, signature: b("") }, WireCode.BadValue],
    ["PROOF signature over 65535 bytes", { kind: "proof", work: 1n, signature: new Uint8Array(65536) }, WireCode.BadValue],
    ["HELLO 31-byte ephemeral", { kind: "hello", version: 1, ephemeral: new Uint8Array(31), addr: "a:1", publicKey: b("") }, WireCode.BadValue],
    ["CHALLENGE 33-byte nonce", { kind: "challenge", version: 1, nonce: new Uint8Array(33), powBits: 1, ephemeral: new Uint8Array(32), addr: "a:1", publicKey: b("") }, WireCode.BadValue],
    ["CHALLENGE pow bits 256", { kind: "challenge", version: 1, nonce: new Uint8Array(32), powBits: 256, ephemeral: new Uint8Array(32), addr: "a:1", publicKey: b("") }, WireCode.BadValue],
    ["NEIGHBOR high not a boolean", { kind: "neighbor", high: 1 }, WireCode.BadValue],
    ["unknown kind", { kind: "nope" }, WireCode.BadValue],
  ];
  for (const [name, m, code] of cases) {
    test(name, () => {
      expect(codeOf(() => encodeP2p(m as P2pMessage))).toBe(code);
    });
  }

  test("a 255-byte addr is the longest accepted, in both directions", () => {
    const m: P2pMessage = { kind: "forward_join", ttl: 1, peer: { addr: "é".repeat(127) + "a" } };
    expect(show(decodeP2p(encodeP2p(m)))).toEqual(show(m));
  });
});

/** mulberry32: a tiny seeded PRNG so a failure reproduces from its seed. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const TYPES = Object.values(P2pType);

/** Decodes; a success must re-encode to the same bytes; anything thrown must be a WireError. */
function probe(bytes: Uint8Array, what: string): void {
  let m: P2pMessage;
  try {
    m = decodeP2p(bytes);
  } catch (e) {
    if (e instanceof WireError) return;
    throw new Error(`${what}: non-WireError ${String(e)} on ${toHex(bytes)}`);
  }
  const again = toHex(encodeP2p(m));
  if (again !== toHex(bytes)) throw new Error(`${what}: re-encoded ${again}, input ${toHex(bytes)}`);
}

describe("p2p fuzz", () => {
  test("random frames of known types raise only WireError (seed 1)", () => {
    const r = rng(1);
    for (let i = 0; i < 20000; i++) {
      const len = r(4) === 0 ? r(8) : r(120);
      const bytes = new Uint8Array(len);
      for (let j = 0; j < len; j++) bytes[j] = r(256);
      if (len >= 6 && r(10) > 0) {
        // Mostly a correct header, so the body decoders get exercised.
        new DataView(bytes.buffer).setUint32(0, len);
        new DataView(bytes.buffer).setUint16(4, TYPES[r(TYPES.length)]!);
        // Small counts and lengths reach deeper than random ones.
        if (len > 8 && r(2) === 0) bytes[6] = r(4);
        if (len > 9 && r(2) === 0) bytes[7] = r(4);
      }
      probe(bytes, `seed 1 case ${i}`);
    }
  });

  test("mutated fixtures raise only WireError (seed 2)", () => {
    const r = rng(2);
    const frames = fixtures.map((f) => fromHex(f.hex));
    for (let i = 0; i < 20000; i++) {
      const src = frames[r(frames.length)]!;
      let bytes: Uint8Array = src.slice();
      const edits = 1 + r(3);
      for (let e = 0; e < edits; e++) {
        const op = r(3);
        if (op === 0 && bytes.length > 0) bytes[r(bytes.length)] = r(256);
        else if (op === 1) bytes = bytes.subarray(0, r(bytes.length + 1)).slice();
        else bytes = withByte(bytes, r(256));
      }
      if (r(4) > 0) bytes = resized(bytes);
      probe(bytes, `seed 2 case ${i}`);
    }
  });
});
