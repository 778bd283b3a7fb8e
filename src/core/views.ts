// The passive view: a bounded set of peer addresses kept in reserve (HyParView).

import { type Env, pickRandom, sample } from "./env.ts";

export class PassiveView {
  private readonly addrs = new Set<string>();
  /** Entries per address prefix (for the view_prefix_limit check without a scan). */
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
    const n = (this.prefixes.get(p) ?? 1) - 1;
    if (n > 0) this.prefixes.set(p, n);
    else this.prefixes.delete(p);
  }

  /** Adds addr, evicting (preferably one of `evictFirst`, else a random entry) when full. */
  add(addr: string, evictFirst: readonly string[] = []): void {
    if (this.addrs.has(addr)) return;
    if (this.addrs.size >= this.capacity) {
      const victim = evictFirst.find((a) => this.addrs.has(a)) ?? pickRandom(this.env, this.list());
      if (victim !== undefined) this.delete(victim);
    }
    this.addrs.add(addr);
    const p = this.prefixOf(addr);
    this.prefixes.set(p, (this.prefixes.get(p) ?? 0) + 1);
  }

  random(n: number): string[] {
    return sample(this.env, this.list(), n);
  }
}
