// The API codecs against the contract (voidphone-gossip.md, "API wire format"): a fixture
// table checked three ways, then every malformed shape with the code it must raise.

import { describe, expect, test } from "bun:test";
import {
  ANNOUNCE_MIN,
  API_MAX_FRAME,
  MAX_API_DATA,
  type ApiMessage,
  decodeAnnounce,
  decodeApi,
  decodeModuleMessage,
  decodeNotification,
  decodeNotify,
  decodeValidation,
  encodeAnnounce,
  encodeApi,
  encodeNotification,
  encodeNotify,
  encodeValidation,
} from "../../src/wire/api.ts";
import { fromHex, toHex } from "../../src/wire/bytes.ts";
import { WireCode } from "../../src/wire/errors.ts";
import { codeOf } from "../helpers/wire.ts";

interface Fixture {
  readonly name: string;
  readonly hex: string;
  readonly value: ApiMessage;
  /** False when the hex sets reserved bits: encode writes them as 0, so hex -> value only. */
  readonly canonical?: boolean;
}

const data = (hex: string): Uint8Array => fromHex(hex);
const MAX_DATA_HEX = "a5".repeat(MAX_API_DATA);

const fixtures: readonly Fixture[] = [
  // The contract's four examples, verbatim.
  {
    name: "contract: ANNOUNCE ttl 4, type 1337, deadbeef",
    hex: "000c 01f4 04 00 0539 deadbeef",
    value: { kind: "announce", ttl: 4, dataType: 1337, data: data("deadbeef") },
  },
  {
    name: "contract: NOTIFY type 1337",
    hex: "0008 01f5 0000 0539",
    value: { kind: "notify", dataType: 1337 },
  },
  {
    name: "contract: NOTIFICATION id 7, type 1337, deadbeef",
    hex: "000c 01f6 0007 0539 deadbeef",
    value: { kind: "notification", id: 7, dataType: 1337, data: data("deadbeef") },
  },
  {
    name: "contract: VALIDATION id 7, valid",
    hex: "0008 01f7 0007 0001",
    value: { kind: "validation", id: 7, valid: true },
  },
  // ANNOUNCE edges.
  {
    name: "ANNOUNCE empty data",
    hex: "0008 01f4 01 00 021c",
    value: { kind: "announce", ttl: 1, dataType: 540, data: data("") },
  },
  {
    name: "ANNOUNCE ttl 0 (unlimited), data type 0",
    hex: "0009 01f4 00 00 0000 ff",
    value: { kind: "announce", ttl: 0, dataType: 0, data: data("ff") },
  },
  {
    name: "ANNOUNCE ttl 255, data type 65535",
    hex: "000a 01f4 ff 00 ffff 0102",
    value: { kind: "announce", ttl: 255, dataType: 65535, data: data("0102") },
  },
  {
    name: "ANNOUNCE max size (65535-byte frame)",
    hex: `ffff 01f4 07 00 1234 ${MAX_DATA_HEX}`,
    value: { kind: "announce", ttl: 7, dataType: 0x1234, data: data(MAX_DATA_HEX) },
  },
  {
    name: "ANNOUNCE reserved byte set is ignored",
    hex: "0009 01f4 03 ff 0539 42",
    value: { kind: "announce", ttl: 3, dataType: 1337, data: data("42") },
    canonical: false,
  },
  // NOTIFY edges.
  {
    name: "NOTIFY data type 0",
    hex: "0008 01f5 0000 0000",
    value: { kind: "notify", dataType: 0 },
  },
  {
    name: "NOTIFY data type 65535",
    hex: "0008 01f5 0000 ffff",
    value: { kind: "notify", dataType: 65535 },
  },
  {
    name: "NOTIFY reserved bits set are ignored",
    hex: "0008 01f5 abcd 0539",
    value: { kind: "notify", dataType: 1337 },
    canonical: false,
  },
  // NOTIFICATION edges.
  {
    name: "NOTIFICATION empty data, id 0, data type 0",
    hex: "0008 01f6 0000 0000",
    value: { kind: "notification", id: 0, dataType: 0, data: data("") },
  },
  {
    name: "NOTIFICATION id 65535, data type 65535",
    hex: "0009 01f6 ffff ffff 00",
    value: { kind: "notification", id: 65535, dataType: 65535, data: data("00") },
  },
  {
    name: "NOTIFICATION max size (65535-byte frame)",
    hex: `ffff 01f6 0102 0304 ${MAX_DATA_HEX}`,
    value: { kind: "notification", id: 0x0102, dataType: 0x0304, data: data(MAX_DATA_HEX) },
  },
  // VALIDATION edges: only the least significant bit is V.
  {
    name: "VALIDATION id 0, invalid",
    hex: "0008 01f7 0000 0000",
    value: { kind: "validation", id: 0, valid: false },
  },
  {
    name: "VALIDATION id 65535, valid",
    hex: "0008 01f7 ffff 0001",
    value: { kind: "validation", id: 65535, valid: true },
  },
  {
    name: "VALIDATION reserved bits set, V clear: invalid",
    hex: "0008 01f7 0007 fffe",
    value: { kind: "validation", id: 7, valid: false },
    canonical: false,
  },
  {
    name: "VALIDATION reserved bits set, V set: valid",
    hex: "0008 01f7 0007 ffff",
    value: { kind: "validation", id: 7, valid: true },
    canonical: false,
  },
  {
    name: "VALIDATION only bit 1 set: invalid",
    hex: "0008 01f7 0007 0002",
    value: { kind: "validation", id: 7, valid: false },
    canonical: false,
  },
];

/** Data as hex, so a mismatch prints readably and subarray views compare by content. */
function show(m: ApiMessage): Record<string, unknown> {
  return "data" in m ? { ...m, data: toHex(m.data) } : { ...m };
}

const byKind = {
  announce: decodeAnnounce,
  notify: decodeNotify,
  notification: decodeNotification,
  validation: decodeValidation,
} as const;


describe("api fixtures", () => {
  for (const f of fixtures) {
    const bytes = fromHex(f.hex);

    test(`decode: ${f.name}`, () => {
      expect(show(decodeApi(bytes))).toEqual(show(f.value));
      expect(show(byKind[f.value.kind](bytes))).toEqual(show(f.value));
      if (f.value.kind === "notification") {
        expect(codeOf(() => decodeModuleMessage(bytes))).toBe(WireCode.UnexpectedType);
      } else {
        expect(show(decodeModuleMessage(bytes))).toEqual(show(f.value));
      }
    });

    if (f.canonical !== false) {
      test(`encode: ${f.name}`, () => {
        expect(toHex(encodeApi(f.value))).toBe(toHex(bytes));
      });
    }

    test(`round trip: ${f.name}`, () => {
      expect(show(decodeApi(encodeApi(f.value)))).toEqual(show(f.value));
      // Non-canonical input re-encodes to the canonical form of the same value.
      expect(show(decodeApi(encodeApi(decodeApi(bytes))))).toEqual(show(f.value));
    });
  }

  test("decoded data is exactly the body, not the whole frame", () => {
    const frame = fromHex("000c 01f4 04 00 0539 deadbeef");
    const m = decodeAnnounce(frame);
    expect(m.data.byteLength).toBe(4);
    expect(toHex(m.data)).toBe("deadbeef");
  });

  test("decoding a subarray frame reads at its offset", () => {
    const big = fromHex("ffff 000c 01f6 0007 0539 deadbeef eeee");
    const frame = big.subarray(2, 14);
    expect(show(decodeApi(frame))).toEqual(
      show({ kind: "notification", id: 7, dataType: 1337, data: data("deadbeef") }),
    );
  });
});

describe("api malformed input", () => {
  const decodeCases: readonly { name: string; hex: string; decode: (b: Uint8Array) => unknown; code: WireCode }[] = [
    // Fixed-size types with the wrong (self-consistent) size.
    { name: "NOTIFY size 7", hex: "0007 01f5 0000 05", decode: decodeApi, code: WireCode.WrongSize },
    { name: "NOTIFY size 9", hex: "0009 01f5 0000 0539 00", decode: decodeApi, code: WireCode.WrongSize },
    { name: "NOTIFY size 4", hex: "0004 01f5", decode: decodeApi, code: WireCode.WrongSize },
    { name: "NOTIFY size 9 (module)", hex: "0009 01f5 0000 0539 00", decode: decodeModuleMessage, code: WireCode.WrongSize },
    { name: "VALIDATION size 9", hex: "0009 01f7 0007 0001 00", decode: decodeApi, code: WireCode.WrongSize },
    { name: "VALIDATION size 7", hex: "0007 01f7 0007 00", decode: decodeApi, code: WireCode.WrongSize },
    { name: "VALIDATION size 9 (module)", hex: "0009 01f7 0007 0001 00", decode: decodeModuleMessage, code: WireCode.WrongSize },
    // Variable-size types shorter than their fixed part.
    { name: "ANNOUNCE size 7", hex: "0007 01f4 04 00 05", decode: decodeApi, code: WireCode.Truncated },
    { name: "ANNOUNCE size 6", hex: "0006 01f4 04 00", decode: decodeApi, code: WireCode.Truncated },
    { name: "ANNOUNCE size 5", hex: "0005 01f4 04", decode: decodeModuleMessage, code: WireCode.Truncated },
    { name: "ANNOUNCE header only", hex: "0004 01f4", decode: decodeApi, code: WireCode.Truncated },
    { name: "NOTIFICATION size 7", hex: "0007 01f6 0007 05", decode: decodeApi, code: WireCode.Truncated },
    // Shorter than the header itself.
    { name: "empty frame", hex: "", decode: decodeApi, code: WireCode.Truncated },
    { name: "3-byte frame", hex: "0003 01", decode: decodeApi, code: WireCode.Truncated },
    { name: "3-byte frame (module)", hex: "0003 01", decode: decodeModuleMessage, code: WireCode.Truncated },
    // Declared size differs from the frame length.
    { name: "ANNOUNCE declares 13, has 12", hex: "000d 01f4 04 00 0539 deadbeef", decode: decodeApi, code: WireCode.WrongSize },
    { name: "ANNOUNCE declares 11, has 12", hex: "000b 01f4 04 00 0539 deadbeef", decode: decodeApi, code: WireCode.WrongSize },
    { name: "NOTIFY declares 8, has 9", hex: "0008 01f5 0000 0539 00", decode: decodeApi, code: WireCode.WrongSize },
    { name: "VALIDATION declares 8, has 7", hex: "0008 01f7 0007 00", decode: decodeModuleMessage, code: WireCode.WrongSize },
    { name: "NOTIFICATION declares 0, has 12", hex: "0000 01f6 0007 0539 deadbeef", decode: decodeApi, code: WireCode.WrongSize },
    // Types that are not Gossip API messages.
    { name: "type 499", hex: "0008 01f3 0000 0539", decode: decodeApi, code: WireCode.UnknownType },
    { name: "type 504", hex: "0008 01f8 0000 0539", decode: decodeApi, code: WireCode.UnknownType },
    { name: "type 499 (module)", hex: "0008 01f3 0000 0539", decode: decodeModuleMessage, code: WireCode.UnknownType },
    { name: "type 504 (module)", hex: "0008 01f8 0000 0539", decode: decodeModuleMessage, code: WireCode.UnknownType },
    { name: "type 0", hex: "0004 0000", decode: decodeApi, code: WireCode.UnknownType },
    { name: "type 65535", hex: "0004 ffff", decode: decodeApi, code: WireCode.UnknownType },
    { name: "type 540 (RPS)", hex: "0008 021c 0000 0000", decode: decodeModuleMessage, code: WireCode.UnknownType },
    // NOTIFICATION goes from Gossip to modules, never the other way.
    { name: "NOTIFICATION from a module", hex: "000c 01f6 0007 0539 deadbeef", decode: decodeModuleMessage, code: WireCode.UnexpectedType },
    { name: "NOTIFICATION empty from a module", hex: "0008 01f6 0000 0000", decode: decodeModuleMessage, code: WireCode.UnexpectedType },
    // A specific decoder handed another type.
    { name: "decodeAnnounce on NOTIFY", hex: "0008 01f5 0000 0539", decode: decodeAnnounce, code: WireCode.UnexpectedType },
    { name: "decodeNotify on VALIDATION", hex: "0008 01f7 0007 0001", decode: decodeNotify, code: WireCode.UnexpectedType },
    { name: "decodeValidation on NOTIFY", hex: "0008 01f5 0000 0539", decode: decodeValidation, code: WireCode.UnexpectedType },
    { name: "decodeNotification on ANNOUNCE", hex: "000c 01f4 04 00 0539 deadbeef", decode: decodeNotification, code: WireCode.UnexpectedType },
  ];

  for (const c of decodeCases) {
    test(`${c.name} -> ${c.code}`, () => {
      expect(codeOf(() => c.decode(fromHex(c.hex)))).toBe(c.code);
    });
  }

  const encodeCases: readonly { name: string; encode: () => unknown; code: WireCode }[] = [
    { name: "ANNOUNCE ttl 256", encode: () => encodeAnnounce({ ttl: 256, dataType: 1, data: data("") }), code: WireCode.BadValue },
    { name: "ANNOUNCE ttl -1", encode: () => encodeAnnounce({ ttl: -1, dataType: 1, data: data("") }), code: WireCode.BadValue },
    { name: "ANNOUNCE ttl 1.5", encode: () => encodeAnnounce({ ttl: 1.5, dataType: 1, data: data("") }), code: WireCode.BadValue },
    { name: "ANNOUNCE ttl NaN", encode: () => encodeAnnounce({ ttl: NaN, dataType: 1, data: data("") }), code: WireCode.BadValue },
    { name: "ANNOUNCE data type 70000", encode: () => encodeAnnounce({ ttl: 1, dataType: 70000, data: data("") }), code: WireCode.BadValue },
    { name: "ANNOUNCE data type 65536", encode: () => encodeAnnounce({ ttl: 1, dataType: 65536, data: data("") }), code: WireCode.BadValue },
    { name: "ANNOUNCE data type -1", encode: () => encodeAnnounce({ ttl: 1, dataType: -1, data: data("") }), code: WireCode.BadValue },
    { name: "NOTIFY data type 70000", encode: () => encodeNotify({ dataType: 70000 }), code: WireCode.BadValue },
    { name: "NOTIFY data type Infinity", encode: () => encodeNotify({ dataType: Infinity }), code: WireCode.BadValue },
    { name: "NOTIFICATION id -1", encode: () => encodeNotification({ id: -1, dataType: 1, data: data("") }), code: WireCode.BadValue },
    { name: "NOTIFICATION id 65536", encode: () => encodeNotification({ id: 65536, dataType: 1, data: data("") }), code: WireCode.BadValue },
    { name: "NOTIFICATION data type 70000", encode: () => encodeNotification({ id: 1, dataType: 70000, data: data("") }), code: WireCode.BadValue },
    { name: "VALIDATION id -1", encode: () => encodeValidation({ id: -1, valid: true }), code: WireCode.BadValue },
    { name: "VALIDATION id 65536", encode: () => encodeValidation({ id: 65536, valid: false }), code: WireCode.BadValue },
    {
      name: "ANNOUNCE data MAX_API_DATA + 1",
      encode: () => encodeAnnounce({ ttl: 1, dataType: 1, data: new Uint8Array(MAX_API_DATA + 1) }),
      code: WireCode.FrameTooLarge,
    },
    {
      name: "NOTIFICATION data MAX_API_DATA + 1",
      encode: () => encodeNotification({ id: 1, dataType: 1, data: new Uint8Array(MAX_API_DATA + 1) }),
      code: WireCode.FrameTooLarge,
    },
    {
      name: "encodeApi ANNOUNCE ttl 256",
      encode: () => encodeApi({ kind: "announce", ttl: 256, dataType: 1, data: data("") }),
      code: WireCode.BadValue,
    },
  ];

  for (const c of encodeCases) {
    test(`encode ${c.name} -> ${c.code}`, () => {
      expect(codeOf(c.encode)).toBe(c.code);
    });
  }

  test("ANNOUNCE with exactly MAX_API_DATA bytes encodes to a 65535-byte frame", () => {
    expect(MAX_API_DATA).toBe(API_MAX_FRAME - ANNOUNCE_MIN);
    const payload = new Uint8Array(MAX_API_DATA).fill(0x5a);
    const frame = encodeAnnounce({ ttl: 9, dataType: 540, data: payload });
    expect(frame.byteLength).toBe(API_MAX_FRAME);
    expect(toHex(frame.subarray(0, 8))).toBe("ffff01f40900021c");
    const m = decodeAnnounce(frame);
    expect(m.data.byteLength).toBe(MAX_API_DATA);
    expect(m.data.every((b) => b === 0x5a)).toBe(true);
  });

  test("NOTIFICATION with exactly MAX_API_DATA bytes encodes to a 65535-byte frame", () => {
    const frame = encodeNotification({ id: 1, dataType: 2, data: new Uint8Array(MAX_API_DATA) });
    expect(frame.byteLength).toBe(API_MAX_FRAME);
    expect(decodeNotification(frame).data.byteLength).toBe(MAX_API_DATA);
  });
});
