// The passive view: a bounded set of peer addresses kept in reserve (HyParView).

import { type Env, pickRandom, sample } from "./env.ts";

export class PassiveView {
  private readonly addrs = new Set<string>();
  /**
   * Entries per address prefix (view_prefix_limit). Counts, not sets of addresses: with
   * addresses from many networks nearly every prefix holds one entry, and a Set each was a
   * third of a simulated node's objects; crowded() finds a prefix's entries in `addrs`.
   */
  private readonly prefixes = new Map<string, number>();
  constructor(
    readonly capacity: number,
    private readonly env: Env,
    private readonly prefixOf: (addr: string) => string,
  ) {}

  countPrefix(prefix: string): number {
    return this.prefixes.get(prefix) ?? 0;
  }

  get size(): number {
    return this.addrs.size;
  }
  has(addr: string): boolean {
    return this.addrs.has(addr);
  }
  list(): string[] {
    return [...this.addrs];
  }
  delete(addr: string): void {
    if (!this.addrs.delete(addr)) return;
    const p = this.prefixOf(addr);
    const n = this.prefixes.get(p) ?? 0;
    if (n <= 1) this.prefixes.delete(p);
    else this.prefixes.set(p, n - 1);
  }

  /**
   * Adds addr. When full, one entry makes room: one of `evictFirst` if present, else one of
   * the prefix with the most entries if that has more than `prefixLimit` (0: no limit), else
   * a random one.
   */
  add(addr: string, evictFirst: readonly string[] = [], prefixLimit = 0): void {
    if (this.addrs.has(addr)) return;
    if (this.addrs.size >= this.capacity) {
      const victim = evictFirst.find((a) => this.addrs.has(a)) ?? this.crowded(prefixLimit) ?? pickRandom(this.env, this.list());
      if (victim !== undefined) this.delete(victim);
    }
    this.addrs.add(addr);
    const p = this.prefixOf(addr);
    this.prefixes.set(p, (this.prefixes.get(p) ?? 0) + 1);
  }

  /** A random entry of the most crowded prefix, if it holds more than `limit` entries. */
  private crowded(limit: number): string | undefined {
    if (limit === 0) return undefined;
    let most: string | undefined;
    let count = limit;
    for (const [p, n] of this.prefixes) {
      if (n > count) {
        most = p;
        count = n;
      }
    }
    if (most === undefined) return undefined;
    // In insertion order, as a per-prefix set would list them.
    return pickRandom(this.env, this.list().filter((a) => this.prefixOf(a) === most));
  }

  random(n: number): string[] {
    return sample(this.env, this.list(), n);
  }
}
