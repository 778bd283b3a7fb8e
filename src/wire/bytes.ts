// Byte helpers shared by the codecs: hex, bounds-checked reads, concatenation.

export class HexError extends Error {
  readonly code = "ERR_HEX";
}

/** Parses hex (whitespace and a leading 0x tolerated, as humans type it). */
export function fromHex(text: string): Uint8Array {
  let s = text.replace(/\s+/g, "");
  if (s.startsWith("0x") || s.startsWith("0X")) s = s.slice(2);
  if (s.length % 2 !== 0) throw new HexError(`odd number of hex digits (${s.length})`);
  if (!/^[0-9a-fA-F]*$/.test(s)) throw new HexError(`not hex: ${JSON.stringify(text.slice(0, 40))}`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Lowercase hex (the platform's Uint8Array.prototype.toHex: one flat string, no Buffer). */
export function toHex(bytes: Uint8Array): string {
  return bytes.toHex();
}

/**
 * A copy with an ArrayBuffer of its own, for bytes kept past the handling of their frame.
 * Not `bytes.slice()`: the runtime hands socket data and deciphered records over as Buffers,
 * whose slice() is a view (it would keep the whole chunk or record alive). A new array filled
 * by hand costs about half of what Uint8Array.prototype.slice does.
 */
export function copyOf(bytes: Uint8Array): Uint8Array {
  return copyRange(bytes, 0, bytes.byteLength);
}

/**
 * copyOf(bytes.subarray(start, end)) without the view: a short range is copied byte by byte
 * (an item's id and salt, small data), which costs less than making a subarray of a Buffer.
 */
export function copyRange(bytes: Uint8Array, start: number, end: number): Uint8Array {
  const n = end - start;
  const out = new Uint8Array(n);
  if (n <= 64) for (let i = 0; i < n; i++) out[i] = bytes[start + i]!;
  else out.set(bytes.subarray(start, end));
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

// Big-endian fields read and written by index: the codecs' hot paths (every item, every
// NOTIFICATION and VALIDATION) make no DataView, whose creation asks the array for its
// ArrayBuffer (a JSC typed array allocates that object on first request).

/** The u16 at offset o. */
export function getU16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

/** The u32 at offset o. */
export function getU32(b: Uint8Array, o: number): number {
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

/** Writes n (0-0xffff) as a u16 at offset o. */
export function setU16(b: Uint8Array, o: number, n: number): void {
  b[o] = n >>> 8;
  b[o + 1] = n;
}

/** Writes n (0-0xffffffff) as a u32 at offset o. */
export function setU32(b: Uint8Array, o: number, n: number): void {
  b[o] = n >>> 24;
  b[o + 1] = n >>> 16;
  b[o + 2] = n >>> 8;
  b[o + 3] = n;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
