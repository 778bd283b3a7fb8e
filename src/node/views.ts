// The passive view: a bounded set of peer addresses kept in reserve (HyParView).

export function pickRandom<T>(items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(Math.random() * items.length)];
}

/** Up to n distinct random elements. */
export function sample<T>(items: readonly T[], n: number): T[] {
  const a = [...items];
  const k = Math.min(n, a.length);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(Math.random() * (a.length - i));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, k);
}

export class PassiveView {
  private readonly addrs = new Set<string>();
  constructor(readonly capacity: number) {}

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
      const victim = evictFirst.find((a) => this.addrs.has(a)) ?? pickRandom(this.list());
      if (victim !== undefined) this.addrs.delete(victim);
    }
    this.addrs.add(addr);
  }

  random(n: number): string[] {
    return sample(this.list(), n);
  }
}
