// The passive view: a bounded set of peer addresses kept in reserve (HyParView).

import { type Env, pickRandom, sample } from "./env.ts";

export class PassiveView {
  private readonly addrs = new Set<string>();
  constructor(
    readonly capacity: number,
    private readonly env: Env,
  ) {}

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
    this.addrs.delete(addr);
  }

  /** Adds addr, evicting (preferably one of `evictFirst`, else a random entry) when full. */
  add(addr: string, evictFirst: readonly string[] = []): void {
    if (this.addrs.has(addr)) return;
    if (this.addrs.size >= this.capacity) {
      const victim = evictFirst.find((a) => this.addrs.has(a)) ?? pickRandom(this.env, this.list());
      if (victim !== undefined) this.addrs.delete(victim);
    }
    this.addrs.add(addr);
  }

  random(n: number): string[] {
    return sample(this.env, this.list(), n);
  }
}
