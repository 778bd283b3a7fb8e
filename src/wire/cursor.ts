// Bounds-checked cursors for the peer-to-peer codecs (big-endian throughout).
// Reader: every read checks the bytes left and throws WireError(ERR_TRUNCATED) naming the
// field; end() rejects leftovers (ERR_TRAILING_BYTES). Writer: size-then-fill, the caller
// computes the exact size first, so a frame is one allocation and finish() proves the
// size computation and the fill agree.
// Byte fields returned by the Reader are views of the input, not copies: a caller that
// keeps one beyond the life of the frame copies it (the frame's buffer may be reused).

import { getU16, getU32, setU16, setU32 } from "./bytes.ts";
import { WireCode, WireError } from "./errors.ts";

const TWO_64 = 1n << 64n;
// ignoreBOM keeps a leading U+FEFF in the string, so decode -> encode gives the same bytes.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
// With the u flag a paired surrogate is one astral code point; only lone halves match.
const LONE_SURROGATE = /\p{Surrogate}/u;

export class Reader {
  private pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.byteLength - this.pos;
  }

  private need(n: number, what: string): number {
    const at = this.pos;
    if (this.buf.byteLength - at < n) {
      throw new WireError(
        WireCode.Truncated,
        `${what}: needs ${n} bytes at offset ${at}, ${this.buf.byteLength - at} left`,
      );
    }
    this.pos = at + n;
    return at;
  }

  u8(what = "u8"): number {
    return this.buf[this.need(1, what)]!;
  }

  u16(what = "u16"): number {
    return getU16(this.buf, this.need(2, what));
  }

  u32(what = "u32"): number {
    return getU32(this.buf, this.need(4, what));
  }

  u64(what = "u64"): bigint {
    const at = this.need(8, what);
    return (BigInt(getU32(this.buf, at)) << 32n) | BigInt(getU32(this.buf, at + 4));
  }

  /** A 0/1 byte; anything else is ERR_BAD_VALUE. */
  bool(what = "boolean"): boolean {
    const b = this.u8(what);
    if (b > 1) throw new WireError(WireCode.BadValue, `${what}: expected 0 or 1, got ${b}`);
    return b === 1;
  }

  /** n bytes, as a view of the input. */
  bytes(n: number, what = "bytes"): Uint8Array {
    const at = this.need(n, what);
    return this.buf.subarray(at, at + n);
  }

  /** Everything left, as a view of the input. */
  rest(): Uint8Array {
    const at = this.pos;
    this.pos = this.buf.byteLength;
    return this.buf.subarray(at);
  }

  /** `len u8 | UTF-8`; invalid UTF-8 is ERR_BAD_VALUE. */
  string(what = "string"): string {
    const raw = this.bytes(this.u8(`${what} length`), what);
    try {
      return utf8Decoder.decode(raw);
    } catch {
      throw new WireError(WireCode.BadValue, `${what}: invalid UTF-8`);
    }
  }

  /** `len u16 | bytes`, as a view of the input. */
  blob(what = "blob"): Uint8Array {
    return this.bytes(this.u16(`${what} length`), what);
  }

  /** Asserts the whole input was consumed. */
  end(what = "message"): void {
    if (this.pos !== this.buf.byteLength) {
      throw new WireError(
        WireCode.TrailingBytes,
        `${what}: ${this.buf.byteLength - this.pos} trailing bytes after offset ${this.pos}`,
      );
    }
  }
}

export class Writer {
  readonly buf: Uint8Array;
  private pos = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }

  u8(n: number): this {
    this.buf[this.pos++] = n;
    return this;
  }

  u16(n: number): this {
    setU16(this.buf, this.pos, n);
    this.pos += 2;
    return this;
  }

  u32(n: number): this {
    setU32(this.buf, this.pos, n);
    this.pos += 4;
    return this;
  }

  u64(n: bigint): this {
    setU32(this.buf, this.pos, Number(BigInt.asUintN(64, n) >> 32n));
    setU32(this.buf, this.pos + 4, Number(BigInt.asUintN(32, n)));
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
    return this;
  }

  /** A string already turned into bytes by utf8(): `len u8 | bytes`. */
  string(b: Uint8Array): this {
    return this.u8(b.byteLength).bytes(b);
  }

  blob(b: Uint8Array): this {
    return this.u16(b.byteLength).bytes(b);
  }

  /** The filled buffer; throws if the precomputed size and the fill disagree (a codec bug). */
  finish(): Uint8Array {
    if (this.pos !== this.buf.byteLength) {
      throw new Error(`writer filled ${this.pos} of ${this.buf.byteLength} bytes`);
    }
    return this.buf;
  }
}

// Encoder-side checks: the same rules the decoder enforces, so we never send what we
// would refuse to receive.

export function checkUint(what: string, n: number, bits: 8 | 16 | 32): void {
  const max = bits === 8 ? 0xff : bits === 16 ? 0xffff : 0xffffffff;
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new WireError(WireCode.BadValue, `${what}: expected an integer 0-${max}, got ${n}`);
  }
}

export function checkU64(what: string, n: bigint): void {
  if (typeof n !== "bigint" || n < 0n || n >= TWO_64) {
    throw new WireError(WireCode.BadValue, `${what}: expected a u64, got ${String(n)}`);
  }
}

export function checkFixed(what: string, b: Uint8Array, n: number): void {
  if (!(b instanceof Uint8Array) || b.byteLength !== n) {
    throw new WireError(WireCode.BadValue, `${what}: expected ${n} bytes, got ${b?.byteLength}`);
  }
}

/** UTF-8 bytes of s for a `len u8` string: at most 255 bytes, no lone surrogates. */
export function utf8(what: string, s: string): Uint8Array {
  if (typeof s !== "string" || LONE_SURROGATE.test(s)) {
    throw new WireError(WireCode.BadValue, `${what}: not a well-formed string`);
  }
  const b = utf8Encoder.encode(s);
  if (b.byteLength > 0xff) {
    throw new WireError(WireCode.BadValue, `${what}: ${b.byteLength} UTF-8 bytes, at most 255`);
  }
  return b;
}

export function checkBlob(what: string, b: Uint8Array): void {
  if (!(b instanceof Uint8Array) || b.byteLength > 0xffff) {
    throw new WireError(WireCode.BadValue, `${what}: expected at most 65535 bytes, got ${b?.byteLength}`);
  }
}
