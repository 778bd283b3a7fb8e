// Proof of work for the join handshake (against DoS and Sybil: admission costs the joiner
// about 2^bits hashes and the accepter one). The puzzle binds the accepter's nonce and
// both identities, so a solution is good for one connection between two peers only:
//
//   digest = SHA-256( "voidphone-gossip-pow-v1" | nonce 32 | joinerId 32 | accepterId 32 | work u64 BE )
//   valid  = digest has at least `bits` leading zero bits
//
// Hashing uses Bun.SHA256.hash into a preallocated output, the fastest of the SHA-256
// paths Bun offers for many small inputs (measured against a reused Bun.CryptoHasher,
// CryptoHasher.hash and node:crypto createHash); only the 8 counter bytes change per try.

import { NONCE_BYTES, PEER_ID_BYTES } from "../wire/p2p.ts";

const LABEL = new TextEncoder().encode("voidphone-gossip-pow-v1");
const COUNTER_AT = LABEL.byteLength + NONCE_BYTES + 2 * PEER_ID_BYTES;
const INPUT_BYTES = COUNTER_AT + 8;
const U64_END = 1n << 64n;
/** A digest has 256 bits; more cannot be demanded. */
export const MAX_POW_BITS = 256;
/** Default length of one hashing slice before yielding to the event loop. */
export const DEFAULT_SLICE_MS = 4;
/** Hashes between clock reads inside a slice. */
const CHECK_EVERY = 1024;

function checkLen(what: string, b: Uint8Array, n: number): void {
  if (!(b instanceof Uint8Array) || b.byteLength !== n) {
    throw new RangeError(`pow ${what}: expected ${n} bytes, got ${b?.byteLength}`);
  }
}

function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 0 || bits > MAX_POW_BITS) {
    throw new RangeError(`pow bits: expected an integer 0-${MAX_POW_BITS}, got ${bits}`);
  }
}

/** The puzzle input with a zero counter. */
function puzzleInput(nonce: Uint8Array, joinerId: Uint8Array, accepterId: Uint8Array): Uint8Array {
  checkLen("nonce", nonce, NONCE_BYTES);
  checkLen("joiner id", joinerId, PEER_ID_BYTES);
  checkLen("accepter id", accepterId, PEER_ID_BYTES);
  const input = new Uint8Array(INPUT_BYTES);
  let o = 0;
  input.set(LABEL, o);
  input.set(nonce, (o += LABEL.byteLength));
  input.set(joinerId, (o += NONCE_BYTES));
  input.set(accepterId, o + PEER_ID_BYTES);
  return input;
}

export function powDigest(nonce: Uint8Array, joinerId: Uint8Array, accepterId: Uint8Array, work: bigint): Uint8Array {
  if (work < 0n || work >= U64_END) throw new RangeError(`pow work: expected a u64, got ${work}`);
  const input = puzzleInput(nonce, joinerId, accepterId);
  new DataView(input.buffer).setBigUint64(COUNTER_AT, work);
  const out = new Uint8Array(32);
  Bun.SHA256.hash(input, out);
  return out;
}

export function leadingZeroBits(digest: Uint8Array): number {
  let n = 0;
  for (const b of digest) {
    if (b === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(b) - 24;
  }
  return n;
}

/** True when `work` solves the puzzle at `bits`. Never throws for a work value off the wire. */
export function verifyWork(
  nonce: Uint8Array,
  joinerId: Uint8Array,
  accepterId: Uint8Array,
  work: bigint,
  bits: number,
): boolean {
  checkBits(bits);
  if (typeof work !== "bigint" || work < 0n || work >= U64_END) return false;
  return leadingZeroBits(powDigest(nonce, joinerId, accepterId, work)) >= bits;
}

export interface SolveOptions {
  readonly signal?: AbortSignal;
  /** Hash for about this long, then yield to the event loop. */
  readonly sliceMs?: number;
}

/**
 * Finds the smallest counter that solves the puzzle. Hashes in slices of ~sliceMs and
 * yields between them (setImmediate), so timers and sockets keep running while a peer
 * solves a hard puzzle. Rejects with the signal's reason when aborted.
 */
export async function solveWork(
  nonce: Uint8Array,
  joinerId: Uint8Array,
  accepterId: Uint8Array,
  bits: number,
  opts: SolveOptions = {},
): Promise<bigint> {
  checkBits(bits);
  const sliceMs = opts.sliceMs ?? DEFAULT_SLICE_MS;
  const signal = opts.signal;
  const input = puzzleInput(nonce, joinerId, accepterId);
  const v = new DataView(input.buffer);
  const out = new Uint8Array(32);
  // The digest meets `bits` when its first `full` bytes are zero and the next byte has no
  // bit set under `mask`.
  const full = bits >>> 3;
  const mask = (0xff00 >>> (bits & 7)) & 0xff;
  // The counter is a float below 2^53: far beyond any feasible search, exact in a double.
  let counter = 0;
  for (;;) {
    signal?.throwIfAborted();
    const sliceEnd = performance.now() + sliceMs;
    do {
      for (let i = 0; i < CHECK_EVERY; i++, counter++) {
        v.setUint32(COUNTER_AT, Math.floor(counter / 0x100000000));
        v.setUint32(COUNTER_AT + 4, counter >>> 0);
        Bun.SHA256.hash(input, out);
        let j = 0;
        while (j < full && out[j] === 0) j++;
        if (j === full && (full === 32 || (out[full]! & mask) === 0)) return BigInt(counter);
      }
      if (counter >= Number.MAX_SAFE_INTEGER - CHECK_EVERY) throw new RangeError(`pow: no solution at ${bits} bits`);
    } while (performance.now() < sliceEnd);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
