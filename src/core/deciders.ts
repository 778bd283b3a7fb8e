// Which items may prune plumtree's tree (PROTOCOL.md §6, "Prune deciders").
//
// A duplicate prunes the link it came on because that link closes a cycle of eager links. One
// item breaks a cycle at one place; but when several items from different origins cross the
// same cycle at once, each breaks it somewhere else, and two breaks cut the tree in two. Every
// item then misses the far side until a GRAFT timeout, the GRAFTs add eager links, the links
// make cycles, and the next items in flight break those apart again: at 100 items/s on 50
// nodes with millisecond links the simulator never left that storm (every item late by a
// GRAFT timeout, RMR 1.07), while at 50 items/s it never entered it.
//
// So only some items decide: an item whose id, read as a fraction, is below p = (mean gap
// between items) / PRUNE_PERIOD_MS. At one item a second or fewer every item decides (p = 1:
// plumtree as published); at r items a second about one a PRUNE_PERIOD_MS does, whatever r
// is, so two deciders rarely cross the network at once. Ids are hashes, so every node picks
// the same items (all nodes see the same stream, their p differ little, and a smaller p picks
// a subset of a larger one). A duplicate of any other item costs one wasted copy and no PRUNE.
//
// The node's first item has no gap to go by. After a quiet start (the node up
// PRUNE_PERIOD_MS without items, so every node's first item is the same one) it decides once
// it has been alone FIRST_HOLD_MS, until the next item comes; its duplicates that come before
// wait. So a fresh overlay, every link eager, is pruned to a tree by its first item when
// traffic starts slowly (the tree then is the first item's fastest paths, as in plumtree as
// published: after 95% silent kills at N = 10,000, seeds 1-4, the connected survivors reached
// within 5 s were 98.3, 98.0, 95.7 and 94.2%, against 84.3, 80.4 and 81.8% on seeds 1-3 when the
// first item did not decide). When traffic starts with a burst, nodes see its first items in
// different orders, and no first item decides.
//
// What it costs: an overlay whose traffic starts with a burst floods until its first decider,
// about a second of items at any rate; and deciders come at random, so at a high rate a new
// cycle may stay a few seconds. Tried and left out (simulator, 50 nodes, 2000 items on 1-3 ms
// links, after 5 warm-up items and 5 quiet seconds): an item that follows a quiet
// PRUNE_PERIOD_MS deciding whatever its id, at once (a burst's first items reach nodes in
// different orders, each node takes another one for "the first", and the tree is cut apart:
// 92.6% delivered at 1000/s, 32,046 GRAFTs); the share grown with the time since the last
// decider, up to 4 times, to end runs of unlucky ids (after a quiet time the first items of a
// burst decide together: 91.2% delivered at 1000/s, 28,344 GRAFTs).

import { getU16 } from "../wire/bytes.ts";

/** About one decider per this many ms, at any item rate. */
export const PRUNE_PERIOD_MS = 1000;
/** How long the node's first item must stay alone before its duplicates prune (see first). */
export const FIRST_HOLD_MS = 100;
/** Weight of a new gap in the running mean (after the first few, which are averaged evenly). */
const GAP_WEIGHT = 0.1;
/**
 * Deciders remembered: their duplicates come within a tree's delivery time, and one is about a
 * second of items at most (the keys are the seen cache's strings: an entry costs a reference).
 */
export const MAX_DECIDERS = 64;

/** An id's place among deciders: its first two bytes, big-endian, as a fraction of 1. */
export function deciderFraction(id: Uint8Array): number {
  return getU16(id, 0) / 65536;
}

export class PruneDeciders {
  private last = -Infinity;
  private gaps = 0;
  private meanGap = 0;
  private readonly deciders = new Set<string>();
  /** The node's first item, while it decides (see first), and when it came. */
  private firstKey: string | null = null;
  private firstAt = 0;

  constructor(private readonly startedAt: number) {}

  /**
   * The first copy of an item (received, or announced here): updates the item rate and
   * whether the item decides. The node's first item has no gap to go by: it decides if the
   * node had been up PRUNE_PERIOD_MS without items (a quiet start, where every node's first
   * item is the same one, and it prunes a fresh overlay's links, all eager, down to a tree),
   * but only once FIRST_HOLD_MS have passed without another item, and until one comes: when
   * traffic starts with a burst, nodes see its first items in different orders.
   */
  first(key: string, id: Uint8Array, now: number): void {
    this.firstKey = null;
    if (this.last === -Infinity) {
      this.last = now;
      if (now - this.startedAt >= PRUNE_PERIOD_MS) {
        this.firstKey = key;
        this.firstAt = now;
      }
      return;
    }
    this.gaps++;
    const gap = Math.min(PRUNE_PERIOD_MS, now - this.last);
    this.meanGap += (gap - this.meanGap) * Math.max(GAP_WEIGHT, 1 / this.gaps);
    this.last = now;
    if (deciderFraction(id) >= this.meanGap / PRUNE_PERIOD_MS) return;
    this.deciders.add(key);
    if (this.deciders.size > MAX_DECIDERS) this.deciders.delete(this.deciders.values().next().value!);
  }

  /**
   * Whether a duplicate of this item may prune the link it came on now ("yes"), not ("no"), or
   * perhaps at the returned time (the node's first item, not yet alone FIRST_HOLD_MS: ask again
   * then).
   */
  verdict(key: string, now: number): "yes" | "no" | number {
    if (this.deciders.has(key)) return "yes";
    if (key !== this.firstKey) return "no";
    return now - this.firstAt >= FIRST_HOLD_MS ? "yes" : this.firstAt + FIRST_HOLD_MS;
  }

  /** Whether a duplicate of this item may prune the link it came on now. */
  decides(key: string, now: number): boolean {
    return this.verdict(key, now) === "yes";
  }

  /** The share of items that decide now (1: all). */
  get share(): number {
    return this.meanGap / PRUNE_PERIOD_MS;
  }

  get size(): number {
    return this.deciders.size;
  }
}
