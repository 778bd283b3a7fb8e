// The protocol core's only view of time, chance and hashing. The binary passes the real clock
// and the platform's random source (src/util/real-env.ts); the simulator passes a virtual clock
// and a seeded PRNG (src/sim/clock.ts), so a whole network replays exactly from its seed. Both
// hash with the same SHA-256 (src/util/sha256.ts).

export interface Timer {
  /** Stops the timer; harmless when it already fired or was cancelled. */
  cancel(): void;
}

export interface Env {
  /** Milliseconds on a monotonic clock (only differences mean anything). */
  now(): number;
  /** Runs fn once, ms from now. */
  after(ms: number, fn: () => void): Timer;
  /** Runs fn every ms until cancelled. */
  every(ms: number, fn: () => void): Timer;
  /** A number in [0, 1). */
  random(): number;
  /** n random bytes (item ids, walk ids: unpredictable in the binary, seeded in the simulator). */
  bytes(n: number): Uint8Array;
  /** SHA-256 of `input`, 32 bytes (item ids, src/wire/item-id.ts). */
  sha256(input: Uint8Array): Uint8Array;
}

export function pickRandom<T>(env: Env, items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(env.random() * items.length)];
}

/** Up to n distinct random elements (a partial Fisher-Yates shuffle of a copy). */
export function sample<T>(env: Env, items: readonly T[], n: number): T[] {
  const k = Math.min(n, items.length);
  if (k === 0) return [];
  const a = items.slice();
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(env.random() * (a.length - i));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  a.length = k;
  return a;
}
