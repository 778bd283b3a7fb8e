// Resumable frame decoder: fed arbitrary chunks, yields whole frames (header included).
// A frame starts with its total size (u16 or u32, big-endian, header included). The
// declared size is checked as soon as it is readable, before waiting for the body, so a
// peer cannot make us buffer a frame we would refuse anyway.

import { WireCode, WireError } from "./errors.ts";

export interface FrameSpec {
  /** Width of the leading size field. */
  readonly sizeBytes: 2 | 4;
  /** Smallest legal total size (at least the fixed header). */
  readonly minSize: number;
  /** Largest legal total size. */
  readonly maxSize: number;
  /**
   * Judges a frame by its first `bytes` bytes (at most `minSize` and 8) and its declared size,
   * before its body is awaited; throws WireError. A frame the header already condemns is
   * refused at once instead of after up to `maxSize` bytes have been buffered.
   */
  readonly header?: { readonly bytes: number; readonly check: (head: Uint8Array, size: number) => void };
}

/** The error for a frame whose declared size is below `min` (the decoder's, and a sealed link's for a record too small). */
export function frameTooSmall(size: number, min: number): WireError {
  return new WireError(WireCode.FrameTooSmall, `declared frame size ${size} is below the minimum ${min}`);
}

/** Chunks below this size that continue a waiting frame are copied into the spill (append()). */
const SMALL_CHUNK = 512;
/** Size of each spill buffer. */
const SPILL_BYTES = 4096;

export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private head = 0; // bytes of chunks[0] already consumed
  private buffered = 0;
  private need = 0; // total size of the frame being read; 0 while reading the size field
  private headerChecked = false; // the spec's header check passed for the frame being read
  private readonly scratch = new Uint8Array(8); // peeked header bytes
  private spill: Uint8Array | null = null; // see append()
  private spillUsed = 0;

  /** `spec` may change between frames (a peer link switches to sealed frames after its handshake). */
  constructor(public spec: FrameSpec) {}

  /** Bytes held that do not yet form a whole frame. */
  get pending(): number {
    return this.buffered;
  }

  /** Appends a chunk and returns every frame it completes, in order. Throws WireError. */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    this.feed(chunk, (f) => {
      frames.push(f);
      return true;
    });
    return frames;
  }

  /**
   * Appends a chunk and hands each frame it completes to `onFrame`, in order; `onFrame`
   * returns false to stop (e.g. the connection was closed). Frames before a bad size field
   * are still handed over; then the WireError is thrown.
   */
  feed(chunk: Uint8Array, onFrame: (frame: Uint8Array) => boolean): void {
    if (chunk.byteLength === 0) return;
    if (chunk.byteLength < SMALL_CHUNK && this.chunks.length > 0) this.append(chunk);
    else this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    for (;;) {
      if (this.need === 0) {
        if (this.buffered < this.spec.sizeBytes) return;
        const size = this.peekSize();
        if (size < this.spec.minSize) throw frameTooSmall(size, this.spec.minSize);
        if (size > this.spec.maxSize) {
          throw new WireError(WireCode.FrameTooLarge, `declared frame size ${size} is above the maximum ${this.spec.maxSize}`);
        }
        this.need = size;
        this.headerChecked = this.spec.header === undefined;
      }
      if (!this.headerChecked) {
        const { bytes, check } = this.spec.header!;
        if (this.buffered < bytes) return;
        this.peek(bytes);
        check(this.scratch.subarray(0, bytes), this.need);
        this.headerChecked = true;
      }
      if (this.buffered < this.need) return;
      const frame = this.consume(this.need);
      this.need = 0;
      if (!onFrame(frame)) return;
    }
  }

  /**
   * Keeps a small chunk that continues a waiting frame by copying it into a buffer of our own
   * (the spill), which the next small chunks fill too: a peer that dribbles a frame a byte per
   * read then costs about its bytes, not an object per read (about 100 bytes each). Bytes
   * once written to the spill never move, so frames handed out as views of it stay intact.
   */
  private append(chunk: Uint8Array): void {
    const last = this.chunks.length - 1;
    const spill = this.spill;
    if (spill !== null && this.chunks[last]!.buffer === spill.buffer && this.spillUsed + chunk.byteLength <= spill.byteLength) {
      spill.set(chunk, this.spillUsed);
      this.spillUsed += chunk.byteLength;
      this.chunks[last] = spill.subarray(0, this.spillUsed);
      return;
    }
    this.spill = new Uint8Array(SPILL_BYTES);
    this.spill.set(chunk);
    this.spillUsed = chunk.byteLength;
    this.chunks.push(this.spill.subarray(0, this.spillUsed));
  }

  private peekSize(): number {
    this.peek(this.spec.sizeBytes);
    let size = 0;
    for (let i = 0; i < this.spec.sizeBytes; i++) size = size * 256 + this.scratch[i]!;
    return size;
  }

  /** Copies the first n buffered bytes (n <= 8, all buffered) into `scratch`, consuming none. */
  private peek(n: number): void {
    let ci = 0;
    let off = this.head;
    for (let i = 0; i < n; i++) {
      let c = this.chunks[ci]!;
      while (off >= c.byteLength) {
        c = this.chunks[++ci]!;
        off = 0;
      }
      this.scratch[i] = c[off++]!;
    }
  }

  /** Takes exactly n buffered bytes; without copying when they sit in one chunk. */
  private consume(n: number): Uint8Array {
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.byteLength - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.byteLength) {
        this.chunks.shift();
        this.head = 0;
      }
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const take = Math.min(c.byteLength - this.head, n - filled);
      out.set(c.subarray(this.head, this.head + take), filled);
      filled += take;
      this.head += take;
      if (this.head === c.byteLength) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return out;
  }
}
