// Prune deciders (src/core/deciders.ts): which items' duplicates may prune plumtree's tree.

import { describe, expect, test } from "bun:test";
import { FIRST_HOLD_MS, MAX_DECIDERS, PRUNE_PERIOD_MS, PruneDeciders } from "../../src/core/deciders.ts";

/** An id whose first two bytes, read as a fraction of 65536, are `f`. */
function idAt(f: number, tag = 0): Uint8Array {
  const id = new Uint8Array(32);
  const v = Math.min(65535, Math.floor(f * 65536));
  id[0] = v >> 8;
  id[1] = v & 255;
  new DataView(id.buffer).setUint32(28, tag);
  return id;
}

/** Feeds `count` items `gapMs` apart, ids spread evenly over [0, 1); returns the keys that decided. */
function feed(d: PruneDeciders, count: number, gapMs: number, start = 0): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const key = `k${start + i}`;
    d.first(key, idAt(((start + i) * 0.618034) % 1, start + i), (start + i) * gapMs);
    if (d.decides(key, 1e12)) out.push(key);
  }
  return out;
}

describe("prune deciders", () => {
  test("the node's first item decides after a quiet PRUNE_PERIOD_MS since the start, whatever its id, once alone FIRST_HOLD_MS, until the next item comes", () => {
    const d = new PruneDeciders(0);
    d.first("a", idAt(0.99), PRUNE_PERIOD_MS);
    expect(d.verdict("a", PRUNE_PERIOD_MS + 1)).toBe(PRUNE_PERIOD_MS + FIRST_HOLD_MS);
    expect(d.decides("a", PRUNE_PERIOD_MS + FIRST_HOLD_MS - 1)).toBe(false);
    expect(d.decides("a", PRUNE_PERIOD_MS + FIRST_HOLD_MS)).toBe(true);
    d.first("b", idAt(0.99), PRUNE_PERIOD_MS + FIRST_HOLD_MS + 10);
    expect(d.decides("a", 1e12)).toBe(false);
    expect(d.decides("b", 1e12)).toBe(false);
  });

  test("the first item sooner after the start decides nothing, whatever its id (the rate is not known yet)", () => {
    const d = new PruneDeciders(0);
    d.first("a", idAt(0), 0);
    expect(d.decides("a", 1e12)).toBe(false);
    expect(d.share).toBe(0);
    d.first("b", idAt(0.99), 5000);
    expect(d.decides("b", 1e12)).toBe(true);
  });

  test(`at one item per PRUNE_PERIOD_MS (${PRUNE_PERIOD_MS} ms) or fewer every item decides`, () => {
    const d = new PruneDeciders(0);
    const got = feed(d, 50, PRUNE_PERIOD_MS * 3);
    expect(got.length).toBe(49);
    expect(d.share).toBe(1);
  });

  test("at r items a second about one a PRUNE_PERIOD_MS decides", () => {
    for (const gap of [1, 10, 100]) {
      const d = new PruneDeciders(0);
      const count = (20 * PRUNE_PERIOD_MS) / gap; // 20 periods
      const got = feed(d, count, gap);
      expect(d.share).toBeCloseTo(gap / PRUNE_PERIOD_MS, 6);
      expect(got.length).toBeGreaterThanOrEqual(15);
      expect(got.length).toBeLessThanOrEqual(25);
    }
  });

  test("an item decides when its id is below the share: the same items everywhere, a smaller share picks a subset", () => {
    const busy = new PruneDeciders(0);
    const calm = new PruneDeciders(0);
    feed(busy, 100, 10); // share 0.01
    feed(calm, 100, 50, 1000); // share 0.05
    const ids = [0, 0.005, 0.009, 0.011, 0.03, 0.049, 0.051, 0.5].map((f, i) => ({ f, key: `t${i}`, id: idAt(f, 9000 + i) }));
    ids.forEach(({ key, id }, i) => {
      busy.first(key, id, 10 * (100 + i));
      calm.first(key, id, 50 * (1100 + i));
    });
    const decided = (d: PruneDeciders) => ids.filter(({ key }) => d.decides(key, 1e12)).map(({ f }) => f);
    expect(decided(busy)).toEqual([0, 0.005, 0.009]);
    expect(decided(calm)).toEqual([0, 0.005, 0.009, 0.011, 0.03, 0.049]);
  });

  test(`at most MAX_DECIDERS (${MAX_DECIDERS}) remembered, the oldest forgotten first`, () => {
    const d = new PruneDeciders(0);
    feed(d, MAX_DECIDERS + 11, PRUNE_PERIOD_MS);
    expect(d.size).toBe(MAX_DECIDERS);
    expect(d.decides("k1", 1e12)).toBe(false);
    expect(d.decides(`k${MAX_DECIDERS + 10}`, 1e12)).toBe(true);
  });
});
