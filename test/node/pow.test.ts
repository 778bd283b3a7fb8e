// Proof of work (src/node/pow.ts): the digest layout, solve/verify agreement, binding to
// nonce and both identities, and that solving neither blocks the event loop nor ignores abort.

import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { leadingZeroBits, powDigest, solveWork, verifyWork } from "../../src/node/pow.ts";
import { fromHex, toHex } from "../../src/wire/bytes.ts";

const fill = (v: number): Uint8Array => new Uint8Array(32).fill(v);
const NONCE = fill(0x01);
const JOINER = fill(0xaa);
const ACCEPTER = fill(0xbb);

describe("powDigest", () => {
  test("is SHA-256 of label | nonce | joinerId | accepterId | work u64 BE", () => {
    const expected = createHash("sha256")
      .update("voidphone-gossip-pow-v1")
      .update(NONCE)
      .update(JOINER)
      .update(ACCEPTER)
      .update(fromHex("0102030405060708"))
      .digest("hex");
    expect(toHex(powDigest(NONCE, JOINER, ACCEPTER, 0x0102030405060708n))).toBe(expected);
  });

  test("rejects wrong-size inputs", () => {
    expect(() => powDigest(new Uint8Array(31), JOINER, ACCEPTER, 0n)).toThrow(RangeError);
    expect(() => powDigest(NONCE, JOINER, ACCEPTER, 1n << 64n)).toThrow(RangeError);
  });
});

describe("leadingZeroBits", () => {
  const cases: readonly [string, number][] = [
    ["ff", 0],
    ["80", 0],
    ["7f", 1],
    ["01", 7],
    ["00ff", 8],
    ["0001", 15],
    ["00007f", 17],
    ["00".repeat(32), 256],
  ];
  for (const [hex, n] of cases) {
    test(`${hex} has ${n}`, () => {
      expect(leadingZeroBits(fromHex(hex))).toBe(n);
    });
  }
});

describe("solve and verify", () => {
  test("a solution at 8 bits verifies, and is the smallest counter that does", async () => {
    const work = await solveWork(NONCE, JOINER, ACCEPTER, 8);
    expect(verifyWork(NONCE, JOINER, ACCEPTER, work, 8)).toBe(true);
    expect(leadingZeroBits(powDigest(NONCE, JOINER, ACCEPTER, work))).toBeGreaterThanOrEqual(8);
    for (let w = 0n; w < work; w++) expect(verifyWork(NONCE, JOINER, ACCEPTER, w, 8)).toBe(false);
  });

  test("0 bits: any work verifies, and 0 is the solution", async () => {
    expect(await solveWork(NONCE, JOINER, ACCEPTER, 0)).toBe(0n);
    expect(verifyWork(NONCE, JOINER, ACCEPTER, 12345n, 0)).toBe(true);
  });

  test("the work is bound to the nonce and to both identities", async () => {
    // A 12-bit solution passes by chance elsewhere with probability 2^-12 per check;
    // these inputs are fixed, so the outcome is deterministic.
    const work = await solveWork(NONCE, JOINER, ACCEPTER, 12);
    expect(verifyWork(NONCE, JOINER, ACCEPTER, work, 12)).toBe(true);
    expect(verifyWork(fill(0x02), JOINER, ACCEPTER, work, 12)).toBe(false);
    expect(verifyWork(NONCE, fill(0xab), ACCEPTER, work, 12)).toBe(false);
    expect(verifyWork(NONCE, JOINER, fill(0xbc), work, 12)).toBe(false);
    // Swapping the roles is another puzzle too.
    expect(verifyWork(NONCE, ACCEPTER, JOINER, work, 12)).toBe(false);
  });

  test("verifyWork is false, not an exception, for work outside u64", () => {
    expect(verifyWork(NONCE, JOINER, ACCEPTER, -1n, 0)).toBe(false);
    expect(verifyWork(NONCE, JOINER, ACCEPTER, 1n << 64n, 0)).toBe(false);
  });
});

describe("solveWork scheduling", () => {
  test("yields to the event loop: a 1 ms interval ticks while solving 14 bits", async () => {
    // With these inputs the first 14-bit solution is counter 109599: many slices of work.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const work = await solveWork(fill(0x01), JOINER, ACCEPTER, 14, { sliceMs: 2 });
      expect(work).toBe(109599n);
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(0);
  });

  test("abort rejects with the signal's reason and stops hashing", async () => {
    const ac = new AbortController();
    const solving = solveWork(NONCE, JOINER, ACCEPTER, 64, { signal: ac.signal, sliceMs: 1 });
    setTimeout(() => ac.abort(new Error("peer went away")), 5);
    await expect(solving).rejects.toThrow("peer went away");
  });

  test("an already aborted signal rejects at once", async () => {
    await expect(solveWork(NONCE, JOINER, ACCEPTER, 8, { signal: AbortSignal.abort() })).rejects.toThrow();
  });
});
