// The seen cache (src/core/caches.ts): item ids remembered for suppress_s, at most
// seen_cache_size of them, oldest forgotten first; a ring of entries in expiry order and an
// open-addressing table over it, keyed by a secret. The model test holds it against a plain
// Map through random adds, lookups, refreshes and expiry, with tables that grow and evict.

import { describe, expect, test } from "bun:test";
import { SeenCache } from "../../src/core/caches.ts";
import { mulberry32 } from "../../src/util/prng.ts";
import { toHex } from "../../src/wire/bytes.ts";
import { nodeKeys } from "../helpers/fake-module.ts";
import { startNode } from "../helpers/testnet.ts";

/** A clock the test moves by hand. */
function clock() {
  const c = { t: 0, now: () => c.t };
  return c;
}

/** Id number n as 16 bytes (distinct for distinct n). */
function id(n: number): Uint8Array {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint32(0, n);
  b[15] = n & 0xff;
  return b;
}

/** White-box: the cache's ring capacity and table slots. */
const inside = (s: SeenCache) => s as unknown as { cap: number; slots: Int32Array };

describe("SeenCache", () => {
  test("an id is seen after add, whatever array or offset it sits in", () => {
    const s = new SeenCache(1000, 100, clock());
    expect(s.has(id(1))).toBe(false);
    s.add(id(1));
    const frame = new Uint8Array(40);
    frame.set(id(1), 7);
    expect(s.has(frame.subarray(7, 23))).toBe(true);
    expect(s.has(id(2))).toBe(false);
    expect(s.size).toBe(1);
  });

  test("rule: an id is forgotten ttlMs after it was added", () => {
    const c = clock();
    const s = new SeenCache(1000, 100, c);
    s.add(id(1));
    c.t = 999;
    expect(s.has(id(1))).toBe(true);
    c.t = 1000;
    expect(s.has(id(1))).toBe(false);
    // Expired entries leave at the next add.
    s.add(id(2));
    expect(s.size).toBe(1);
  });

  test("rule: at most max ids, the oldest forgotten first", () => {
    const s = new SeenCache(60_000, 100, clock());
    for (let i = 0; i < 150; i++) s.add(id(i));
    expect(s.size).toBe(100);
    for (let i = 0; i < 50; i++) expect(s.has(id(i))).toBe(false);
    for (let i = 50; i < 150; i++) expect(s.has(id(i))).toBe(true);
  });

  test("rule: adding an id again restarts its time, and it counts once", () => {
    const c = clock();
    const s = new SeenCache(1000, 100, c);
    s.add(id(1));
    c.t = 500;
    s.add(id(1));
    expect(s.size).toBe(1);
    c.t = 1200;
    expect(s.has(id(1))).toBe(true);
    c.t = 1500;
    expect(s.has(id(1))).toBe(false);
  });

  test("grows with what it holds, and no further: 100,000 ids, then a million re-adds of one", () => {
    const s = new SeenCache(60_000, 100_000, clock());
    expect(inside(s).cap).toBe(16);
    for (let i = 0; i < 100_000; i++) s.add(id(i));
    expect(s.size).toBe(100_000);
    expect(inside(s).cap).toBe(131_072);
    for (let i = 0; i < 100_000; i += 997) expect(s.has(id(i))).toBe(true);
    // Each re-add leaves a dead entry behind the oldest one, which stays: the ring is compacted, not grown.
    const small = new SeenCache(60_000, 100_000, clock());
    small.add(id(1));
    for (let i = 0; i < 1_000_000; i++) small.add(id(7));
    expect(small.size).toBe(2);
    expect(small.has(id(1)) && small.has(id(7))).toBe(true);
    expect(inside(small).cap).toBe(16);
  });

  test("snapshot: the newest max live ids, oldest first, with ms left; restore puts them back, capped at ttlMs", () => {
    const c = clock();
    const s = new SeenCache(1000, 100, c);
    for (let i = 0; i < 5; i++) {
      s.add(id(i));
      c.t += 100;
    }
    // At 500: id 0 has 500 ms left, id 4 900.
    expect(s.snapshot(3)).toEqual([[toHex(id(2)), 700], [toHex(id(3)), 800], [toHex(id(4)), 900]]);
    c.t = 1150; // id 0 and 1 expired (at 1000 and 1100)
    expect(s.snapshot(10).map(([k]) => k)).toEqual([2, 3, 4].map((i) => toHex(id(i))));

    const c2 = clock();
    const r = new SeenCache(500, 100, c2);
    r.restore([[toHex(id(9)), 5000], [toHex(id(8)), 100], [toHex(id(7)), 0]]);
    expect([r.has(id(7)), r.has(id(8)), r.has(id(9))]).toEqual([false, true, true]);
    expect(r.snapshot(10)).toEqual([[toHex(id(8)), 100], [toHex(id(9)), 500]]);
  });

  test("rule: the hash is keyed by the secret: the same ids sit in other slots under another secret", () => {
    const a = new SeenCache(60_000, 1000, clock(), new Uint8Array(16).fill(1));
    const b = new SeenCache(60_000, 1000, clock(), new Uint8Array(16).fill(2));
    for (let i = 0; i < 100; i++) {
      a.add(id(i));
      b.add(id(i));
    }
    expect(Array.from(inside(a).slots)).not.toEqual(Array.from(inside(b).slots));
    for (let i = 0; i < 100; i++) expect(a.has(id(i)) && b.has(id(i))).toBe(true);
  });

  for (const seed of [1, 2, 3]) {
    test(`model: random adds, lookups, re-adds and expiry agree with a plain Map (seed ${seed})`, () => {
      const rnd = mulberry32(seed);
      const c = clock();
      const ttl = 200;
      const max = 300;
      const s = new SeenCache(ttl, max, c, new Uint8Array(16).fill(seed));
      const model = new Map<number, number>(); // id -> expiry, in insertion order
      const universe = 1500;
      for (let step = 0; step < 60_000; step++) {
        const r = rnd();
        const n = Math.floor(rnd() * universe);
        if (r < 0.45) {
          s.add(id(n));
          model.delete(n);
          model.set(n, c.t + ttl);
          for (const [k, t] of model) {
            if (t > c.t && model.size <= max) break;
            model.delete(k);
          }
        } else if (r < 0.95) {
          const t = model.get(n);
          expect(s.has(id(n))).toBe(t !== undefined && t > c.t);
        } else c.t += Math.floor(rnd() * 20);
        if (step % 1000 === 0) {
          let live = 0;
          for (const t of model.values()) if (t > c.t) live++;
          expect(s.snapshot(max).length).toBe(live);
        }
      }
    });
  }

  test("rule: each node keys its seen cache with a random secret of its own", async () => {
    const keys = await nodeKeys();
    const nodes = [startNode({ hostkey: keys[0]!, keys: {} }), startNode({ hostkey: keys[1]!, keys: {} })];
    try {
      const secret = (n: (typeof nodes)[number]) => {
        const seen = (n.dissemination as unknown as { seen: Record<"k0" | "k1" | "k2" | "k3", number> }).seen;
        return [seen.k0, seen.k1, seen.k2, seen.k3];
      };
      const [a, b] = nodes.map(secret);
      expect(a).not.toEqual([0, 0, 0, 0]);
      expect(a).not.toEqual(b);
    } finally {
      for (const n of nodes) n.stop();
    }
  });
});
