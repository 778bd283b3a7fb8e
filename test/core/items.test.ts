// The knowledge base and the items held past it for GRAFTs (src/core/caches.ts, ItemCache):
// cache_size items, newest first to stay; past them, an item stays until it is holdMs old or
// everything held weighs more than holdBytes.

import { expect, test } from "bun:test";
import { ITEM_OVERHEAD_BYTES, ItemCache, type StoredItem } from "../../src/core/caches.ts";

/** An item of `size` data bytes stored at `at`. */
function item(at: number, size = 10): StoredItem {
  const id = new Uint8Array(16);
  return { msg: { kind: "gossip", id, ttl: 5, hops: 1, salt: new Uint8Array(8), dataType: 540, data: new Uint8Array(size) }, at };
}

/** Keys held, oldest first. */
const held = (c: ItemCache, keys: string[]) => keys.filter((k) => c.get(k) !== undefined);

test("without a hold, the newest `max` items stay; storing a key again makes it the newest", () => {
  const c = new ItemCache(3);
  for (const [i, k] of ["a", "b", "c", "d"].entries()) c.add(k, item(i));
  expect(held(c, ["a", "b", "c", "d"])).toEqual(["b", "c", "d"]);
  c.add("b", item(10));
  c.add("e", item(11));
  expect(held(c, ["a", "b", "c", "d", "e"])).toEqual(["b", "d", "e"]);
  expect(c.size).toBe(3);
  expect(c.bytes).toBe(3 * (10 + ITEM_OVERHEAD_BYTES));
});

test("past `max`, an item stays until it is holdMs old, checked as items are stored", () => {
  const c = new ItemCache(2, 100, 1 << 20);
  c.add("a", item(0));
  c.add("b", item(50));
  c.add("c", item(99)); // a is 99 ms old: still held
  expect(held(c, ["a", "b", "c"])).toEqual(["a", "b", "c"]);
  c.add("d", item(100)); // a is 100 ms old: gone; b is not
  expect(held(c, ["a", "b", "c", "d"])).toEqual(["b", "c", "d"]);
  c.add("e", item(400)); // b and c are past it; the knowledge base keeps d and e
  expect(held(c, ["b", "c", "d", "e"])).toEqual(["d", "e"]);
  expect(c.bytes).toBe(2 * (10 + ITEM_OVERHEAD_BYTES));
});

test("past `max`, the oldest go first while everything held weighs more than holdBytes", () => {
  const w = 100 + ITEM_OVERHEAD_BYTES;
  const c = new ItemCache(1, 10_000, 3 * w);
  for (const [i, k] of ["a", "b", "c"].entries()) c.add(k, item(i, 100));
  expect(c.bytes).toBe(3 * w);
  c.add("d", item(3, 100));
  expect(held(c, ["a", "b", "c", "d"])).toEqual(["b", "c", "d"]);
  // A heavy item pushes out as many as it takes, but never the knowledge base.
  c.add("e", item(4, 10 * w));
  expect(held(c, ["b", "c", "d", "e"])).toEqual(["e"]);
  expect(c.bytes).toBe(10 * w + ITEM_OVERHEAD_BYTES);
});

test("storing a held key again counts its weight once", () => {
  const c = new ItemCache(1, 10_000, 1 << 20);
  c.add("a", item(0, 100));
  c.add("b", item(1));
  c.add("a", item(2, 100));
  expect(c.size).toBe(2);
  expect(c.bytes).toBe(100 + 10 + 2 * ITEM_OVERHEAD_BYTES);
});

test("offers come from the knowledge base only: the newest `max` items stored since a time", () => {
  const c = new ItemCache(2, 10_000, 1 << 20);
  for (const [i, k] of ["a", "b", "c", "d"].entries()) c.add(k, item(i * 10));
  expect(c.size).toBe(4);
  expect(c.since(0).map((it) => it.at)).toEqual([20, 30]);
  expect(c.since(25).map((it) => it.at)).toEqual([30]);
  expect(c.since(31)).toEqual([]);
});
