// Byte helpers: hex as humans type it (whitespace, 0x), and the small buffer utilities.

import { describe, expect, test } from "bun:test";
import { HexError, concat, copyOf, copyRange, equalBytes, fromHex, toHex } from "../../src/wire/bytes.ts";

const u8 = (...xs: number[]): Uint8Array => Uint8Array.from(xs);

describe("fromHex", () => {
  const ok: readonly [string, number[]][] = [
    ["", []],
    ["00", [0]],
    ["ff", [255]],
    ["deadbeef", [0xde, 0xad, 0xbe, 0xef]],
    ["DEADbeef", [0xde, 0xad, 0xbe, 0xef]],
    ["000c 01f4 04 00 0539 deadbeef", [0x00, 0x0c, 0x01, 0xf4, 0x04, 0x00, 0x05, 0x39, 0xde, 0xad, 0xbe, 0xef]],
    ["  0a\t0b\n0c\r\n ", [0x0a, 0x0b, 0x0c]],
    ["0 a0 b", [0x0a, 0x0b]], // whitespace may split a byte's digits
    ["0x0102", [1, 2]],
    ["0X0102", [1, 2]],
    [" 0x 01 02", [1, 2]],
    ["0x", []],
  ];
  for (const [text, bytes] of ok) {
    test(`${JSON.stringify(text)}`, () => {
      expect(Array.from(fromHex(text))).toEqual(bytes);
    });
  }

  const bad: readonly [string, string][] = [
    ["abc", "odd length"],
    ["0xabc", "odd length after 0x"],
    ["0", "single digit"],
    ["zz", "non-hex letters"],
    ["0g", "g is not hex"],
    ["de-ad", "punctuation"],
    ["0x0x00", "a second 0x"],
    ["00x1", "x in the middle"],
    ["éé", "non-ascii"],
  ];
  for (const [text, why] of bad) {
    test(`${JSON.stringify(text)} -> HexError (${why})`, () => {
      let caught: unknown;
      try {
        fromHex(text);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(HexError);
      expect(caught).toBeInstanceOf(Error);
      expect((caught as HexError).code).toBe("ERR_HEX");
    });
  }
});

describe("toHex", () => {
  test("lowercase, two digits per byte", () => {
    expect(toHex(u8(0, 1, 0x0f, 0x10, 0xab, 0xff))).toBe("00010f10abff");
  });

  test("empty", () => {
    expect(toHex(new Uint8Array(0))).toBe("");
  });

  test("a subarray shows only its own bytes", () => {
    const big = u8(1, 2, 3, 4, 5, 6);
    expect(toHex(big.subarray(2, 4))).toBe("0304");
    expect(toHex(big.subarray(6))).toBe("");
  });

  test("round trip over all 256 byte values", () => {
    const all = new Uint8Array(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    const hex = toHex(all);
    expect(hex.length).toBe(512);
    expect(Array.from(fromHex(hex))).toEqual(Array.from(all));
    expect(toHex(fromHex(hex.toUpperCase()))).toBe(hex);
  });
});

describe("concat", () => {
  test("no parts -> empty", () => {
    expect(concat([]).byteLength).toBe(0);
  });

  test("joins in order, skipping empty parts", () => {
    expect(Array.from(concat([u8(1), new Uint8Array(0), u8(2, 3), u8(), u8(4)]))).toEqual([1, 2, 3, 4]);
  });

  test("reads subarrays at their offsets", () => {
    const big = u8(9, 9, 1, 2, 9, 3, 9);
    expect(Array.from(concat([big.subarray(2, 4), big.subarray(5, 6)]))).toEqual([1, 2, 3]);
  });

  test("returns a fresh buffer, even for one part", () => {
    const a = u8(1, 2);
    const out = concat([a]);
    expect(out.buffer === a.buffer).toBe(false);
    out[0] = 7;
    expect(a[0]).toBe(1);
  });
});

describe("copyOf", () => {
  test("a Buffer view (whose slice() is a view too) comes back with an ArrayBuffer of its own", () => {
    const chunk = Buffer.from([9, 1, 2, 3, 9]);
    const view = chunk.subarray(1, 4);
    expect(view.slice().buffer).toBe(chunk.buffer);
    const out = copyOf(view);
    expect(Array.from(out)).toEqual([1, 2, 3]);
    expect(out.buffer.byteLength).toBe(3);
    out[0] = 7;
    expect(chunk[1]).toBe(1);
  });
});

describe("copyRange", () => {
  test("short and long ranges of a Buffer come back as copies of their own", () => {
    const chunk = Buffer.alloc(300);
    for (let i = 0; i < 300; i++) chunk[i] = i & 0xff;
    for (const [s, e] of [[3, 3], [3, 19], [10, 74], [10, 75], [0, 300]] as const) {
      const out = copyRange(chunk, s, e);
      expect(Array.from(out)).toEqual(Array.from(chunk.subarray(s, e)));
      expect(out.buffer.byteLength).toBe(e - s);
    }
  });
});

describe("equalBytes", () => {
  test("equal contents", () => {
    expect(equalBytes(u8(1, 2, 3), u8(1, 2, 3))).toBe(true);
    expect(equalBytes(u8(), new Uint8Array(0))).toBe(true);
  });

  test("different lengths", () => {
    expect(equalBytes(u8(1, 2), u8(1, 2, 3))).toBe(false);
    expect(equalBytes(u8(), u8(0))).toBe(false);
  });

  test("different contents", () => {
    expect(equalBytes(u8(1, 2, 3), u8(1, 2, 4))).toBe(false);
    expect(equalBytes(u8(0, 2, 3), u8(1, 2, 3))).toBe(false);
  });

  test("compares subarrays by content, not by buffer or offset", () => {
    const big = u8(5, 1, 2, 5, 1, 2);
    expect(equalBytes(big.subarray(1, 3), big.subarray(4, 6))).toBe(true);
    expect(equalBytes(big.subarray(0, 2), big.subarray(1, 3))).toBe(false);
  });
});
