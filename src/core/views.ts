// The passive view: a bounded set of peer addresses kept in reserve (HyParView).

import { type Env, pickRandom, sample } from "./env.ts";

export class PassiveView {
  private readonly addrs = new Set<string>();
  /** Entries by address prefix (view_prefix_limit: counts, and which entry to evict). */
  private readonly prefixes = new Map<string, Set<string>>();
  constructor(
    readonly capacity: number,
    private readonly env: Env,
    private readonly prefixOf: (addr: string) => string,
  ) {}

  countPrefix(prefix: string): number {
    return this.prefixes.get(prefix)?.size ?? 0;
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
    const set = this.prefixes.get(p);
    set?.delete(addr);
    if (set?.size === 0) this.prefixes.delete(p);
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
    let set = this.prefixes.get(p);
    if (!set) this.prefixes.set(p, (set = new Set()));
    set.add(addr);
  }

  /** A random entry of the most crowded prefix, if it holds more than `limit` entries. */
  private crowded(limit: number): string | undefined {
    if (limit === 0) return undefined;
    let most: Set<string> | undefined;
    for (const set of this.prefixes.values()) if (set.size > limit && set.size > (most?.size ?? 0)) most = set;
    return most ? pickRandom(this.env, [...most]) : undefined;
  }

  random(n: number): string[] {
    return sample(this.env, this.list(), n);
  }
}
