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
}

/** The error for a frame whose declared size is below `min` (the decoder's, and a sealed link's for a record too small). */
export function frameTooSmall(size: number, min: number): WireError {
  return new WireError(WireCode.FrameTooSmall, `declared frame size ${size} is below the minimum ${min}`);
}

export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private head = 0; // bytes of chunks[0] already consumed
  private buffered = 0;
  private need = 0; // total size of the frame being read; 0 while reading the size field

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
    this.chunks.push(chunk);
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
      }
      if (this.buffered < this.need) return;
      const frame = this.consume(this.need);
      this.need = 0;
      if (!onFrame(frame)) return;
    }
  }

  private peekSize(): number {
    let size = 0;
    let ci = 0;
    let off = this.head;
    for (let i = 0; i < this.spec.sizeBytes; i++) {
      let c = this.chunks[ci]!;
      while (off >= c.byteLength) {
        c = this.chunks[++ci]!;
        off = 0;
      }
      size = size * 256 + c[off++]!;
    }
    return size;
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
