// Seeded fuzzing of the API wire layer: random bytes may only raise WireError with a known
// code, and random valid messages survive encode -> concatenate -> random chunks -> decode.
// Seeds are fixed so a failure reproduces; every assertion message names its seed.

import { describe, expect, test } from "bun:test";
import {
  API_FRAME,
  type ApiMessage,
  decodeAnnounce,
  decodeApi,
  decodeModuleMessage,
  decodeNotification,
  decodeNotify,
  decodeValidation,
  encodeApi,
} from "../../src/wire/api.ts";
import { concat, equalBytes, toHex } from "../../src/wire/bytes.ts";
import { WireCode, WireError } from "../../src/wire/errors.ts";
import { FrameDecoder } from "../../src/wire/frame.ts";
import { mulberry32 } from "../../src/util/prng.ts";


class Rng {
  private readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(0, 255);
    return out;
  }
  /** Cuts b into random chunks (some empty), each a view of b. */
  chunks(b: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let off = 0;
    while (off < b.length) {
      const n = this.chance(0.05) ? 0 : this.int(1, this.chance(0.3) ? 4 : 64);
      out.push(b.subarray(off, Math.min(b.length, off + n)));
      off += n;
    }
    if (this.chance(0.1)) out.push(new Uint8Array(0));
    return out;
  }
}

const SEEDS = [1, 42, 0xc0ffee, 20240501];
const CODES = new Set<string>(Object.values(WireCode));

/** Runs fn; returns the WireError code it raised, or null. Anything else fails the test. */
function guarded(seed: number, what: string, fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    expect(e instanceof WireError, `seed ${seed}: ${what} threw a non-WireError: ${String(e)}`).toBe(true);
    const code = (e as WireError).code;
    expect(CODES.has(code), `seed ${seed}: ${what} threw unknown code ${code}`).toBe(true);
    return code;
  }
}

/** Random bytes; often with a header that looks like an API message of its own length. */
function randomInput(rng: Rng): Uint8Array {
  const b = rng.bytes(rng.int(0, 300));
  if (b.length >= 4 && rng.chance(0.6)) {
    // Declared size: exact, slightly off, or tiny.
    const pick = rng.int(0, 9);
    const size = pick < 6 ? b.length : pick < 9 ? Math.max(0, b.length + rng.int(-3, 3)) : rng.int(0, 8);
    b[0] = size >> 8;
    b[1] = size & 0xff;
    const type = rng.int(498, 505);
    b[2] = type >> 8;
    b[3] = type & 0xff;
    // Fixed-size types are sometimes given their exact size.
    if (rng.chance(0.3) && b.length >= 8) {
      b[0] = 0;
      b[1] = 8;
    }
  }
  // Sometimes a short run of back-to-back plausible frames.
  if (rng.chance(0.2)) {
    const parts: Uint8Array[] = [b];
    for (let k = rng.int(1, 4); k > 0; k--) {
      const n = rng.int(4, 20);
      const f = rng.bytes(n);
      f[0] = 0;
      f[1] = n;
      f[2] = 0x01;
      f[3] = rng.int(0xf4, 0xf7);
      parts.push(f);
    }
    return concat(parts);
  }
  return b;
}

/** Feeds input in chunks; returns the frames and the WireError code that stopped it, if any. */
function feed(seed: number, chunks: readonly Uint8Array[]): { frames: Uint8Array[]; code: string | null; pending: number } {
  const d = new FrameDecoder(API_FRAME);
  const frames: Uint8Array[] = [];
  let code: string | null = null;
  for (const c of chunks) {
    code = guarded(seed, "FrameDecoder.push", () => frames.push(...d.push(c)));
    if (code !== null) break;
  }
  return { frames, code, pending: d.pending };
}

function show(m: ApiMessage): Record<string, unknown> {
  return "data" in m ? { ...m, data: toHex(m.data) } : { ...m };
}

function randomMessage(rng: Rng): ApiMessage {
  const data = () => rng.bytes(rng.chance(0.1) ? 0 : rng.int(0, 200));
  switch (rng.int(0, 3)) {
    case 0:
      return { kind: "announce", ttl: rng.int(0, 255), dataType: rng.int(0, 0xffff), data: data() };
    case 1:
      return { kind: "notify", dataType: rng.int(0, 0xffff) };
    case 2:
      return { kind: "notification", id: rng.int(0, 0xffff), dataType: rng.int(0, 0xffff), data: data() };
    default:
      return { kind: "validation", id: rng.int(0, 0xffff), valid: rng.chance(0.5) };
  }
}

describe("fuzz: random bytes raise only WireError", () => {
  for (const seed of SEEDS) {
    test(`seed ${seed}`, () => {
      const rng = new Rng(seed);
      for (let iter = 0; iter < 2500; iter++) {
        const input = randomInput(rng);
        const tag = `seed ${seed} iter ${iter} input ${toHex(input.subarray(0, 16))}`;

        // Straight to the message decoders, as if the frame layer had passed it.
        for (const [name, fn] of [
          ["decodeApi", decodeApi],
          ["decodeModuleMessage", decodeModuleMessage],
          ["decodeAnnounce", decodeAnnounce],
          ["decodeNotify", decodeNotify],
          ["decodeNotification", decodeNotification],
          ["decodeValidation", decodeValidation],
        ] as const) {
          guarded(seed, `${tag} ${name}`, () => fn(input));
        }

        // Through the frame decoder in random chunks.
        const chunked = feed(seed, rng.chunks(input));
        const whole = feed(seed, [input]);
        // Chunking must not change the outcome.
        expect(chunked.frames.map(toHex), `${tag}: frames depend on chunking`).toEqual(whole.frames.map(toHex));
        expect(chunked.code, `${tag}: error depends on chunking`).toBe(whole.code);

        // The frames are exactly a prefix of the input, each sized by its own header.
        const joined = concat(chunked.frames);
        expect(equalBytes(joined, input.subarray(0, joined.length)), `${tag}: frames are not a prefix`).toBe(true);
        for (const f of chunked.frames) {
          expect(f.length >= 4 && f.length === ((f[0]! << 8) | f[1]!), `${tag}: bad frame ${toHex(f)}`).toBe(true);
        }
        if (chunked.code === null) {
          expect(chunked.pending, `${tag}: pending`).toBe(input.length - joined.length);
        } else {
          expect(chunked.code === WireCode.FrameTooSmall, `${tag}: frame layer code ${chunked.code}`).toBe(true);
        }

        for (const f of chunked.frames) {
          const apiCode = guarded(seed, `${tag} frame ${toHex(f.subarray(0, 8))} decodeApi`, () => decodeApi(f));
          const modCode = guarded(seed, `${tag} frame ${toHex(f.subarray(0, 8))} decodeModuleMessage`, () => decodeModuleMessage(f));
          // The two agree, except that any NOTIFICATION, well-formed or not, is refused
          // from a module by its type alone.
          const isNotification = ((f[2]! << 8) | f[3]!) === 502;
          expect(modCode, `${tag}: decodeModuleMessage vs decodeApi`).toBe(isNotification ? WireCode.UnexpectedType : apiCode);
          // A frame from the decoder always has a consistent size, so never these codes.
          expect(apiCode === WireCode.FrameTooSmall || apiCode === WireCode.FrameTooLarge, `${tag}: ${apiCode}`).toBe(false);
        }
      }
    });
  }
});

describe("fuzz: random valid messages round-trip through random chunks", () => {
  for (const seed of SEEDS) {
    test(`seed ${seed}`, () => {
      const rng = new Rng(seed ^ 0x5eed);
      for (let iter = 0; iter < 200; iter++) {
        const msgs: ApiMessage[] = [];
        for (let k = rng.int(1, 12); k > 0; k--) msgs.push(randomMessage(rng));
        const stream = concat(msgs.map(encodeApi));
        const { frames, code, pending } = feed(seed, rng.chunks(stream));
        const tag = `seed ${seed} iter ${iter}`;
        expect(code, tag).toBeNull();
        expect(pending, tag).toBe(0);
        expect(frames.map((f) => show(decodeApi(f))), tag).toEqual(msgs.map(show));
        for (let i = 0; i < frames.length; i++) {
          if (msgs[i]!.kind !== "notification") {
            expect(show(decodeModuleMessage(frames[i]!)), tag).toEqual(show(msgs[i]!));
          }
        }
      }
    });
  }
});
