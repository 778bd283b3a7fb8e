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
// What it costs: a fresh overlay (every link eager) floods until its first decider, about a
// second of items at any rate; and deciders come at random, so at a high rate a new cycle may
// stay a few seconds. Tried and left out (simulator, 50 nodes, 2000 items on 1-3 ms links,
// after 5 warm-up items and 5 quiet seconds): an item that follows a quiet PRUNE_PERIOD_MS
// deciding whatever its id, to prune a fresh overlay at once (a burst's first items reach
// nodes in different orders, each node takes another one for "the first", and the tree is cut
// apart: 92.6% delivered at 1000/s, 32,046 GRAFTs); the share grown with the time since the
// last decider, up to 4 times, to end runs of unlucky ids (after a quiet time the first items
// of a burst decide together: 91.2% delivered at 1000/s, 28,344 GRAFTs).

/** About one decider per this many ms, at any item rate. */
export const PRUNE_PERIOD_MS = 1000;
/** Weight of a new gap in the running mean (after the first few, which are averaged evenly). */
const GAP_WEIGHT = 0.1;
/**
 * Deciders remembered: their duplicates come within a tree's delivery time, and one is about a
 * second of items at most (the keys are the seen cache's strings: an entry costs a reference).
 */
export const MAX_DECIDERS = 64;

export class PruneDeciders {
  private last = -Infinity;
  private gaps = 0;
  private meanGap = 0;
  private readonly deciders = new Set<string>();

  /**
   * The first copy of an item (received, or announced here): updates the item rate and
   * whether the item decides. A node that has seen no gap yet does not know the rate and
   * lets no item decide (at start-up under load, nodes' first items differ).
   */
  first(key: string, id: Uint8Array, now: number): void {
    if (this.last !== -Infinity) {
      this.gaps++;
      const gap = Math.min(PRUNE_PERIOD_MS, now - this.last);
      this.meanGap += (gap - this.meanGap) * Math.max(GAP_WEIGHT, 1 / this.gaps);
    }
    this.last = now;
    // No gap yet: the mean is 0 and no item decides.
    if (((id[0]! << 8) | id[1]!) >= (this.meanGap / PRUNE_PERIOD_MS) * 65536) return;
    this.deciders.add(key);
    if (this.deciders.size > MAX_DECIDERS) this.deciders.delete(this.deciders.values().next().value!);
  }

  /** Whether a duplicate of this item may prune the link it came on. */
  decides(key: string): boolean {
    return this.deciders.has(key);
  }

  /** The share of items that decide now (1: all). */
  get share(): number {
    return this.meanGap / PRUNE_PERIOD_MS;
  }

  get size(): number {
    return this.deciders.size;
  }
}
