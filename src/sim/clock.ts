// The simulator's clock: one virtual timeline for a whole network. Events run in (time,
// order of scheduling) order, so a run is a pure function of its seed. Each node gets its
// own Env on this clock with its own seeded PRNG (src/util/prng.ts).

import type { Env, Timer } from "../core/env.ts";
import { mulberry32 } from "../util/prng.ts";
import { sha256 } from "../util/sha256.ts";

/**
 * The pending events: a 4-ary min-heap by (at, seq), each entry three numbers (at, seq, slot)
 * side by side in one typed array, so sifting compares numbers in contiguous memory instead of
 * chasing one object per event, and one level's four children share a cache line or two (at
 * 10,000 nodes the heap holds hundreds of thousands of messages in flight: a binary heap with
 * a typed array per field took a cache miss per field at each of its ~18 levels). (at, seq) is
 * a total order, so the events come out in the same order from any correct heap. Each event's
 * payload (fn, a, b) lives in a slot; a slot's generation tells a cancelled or reused slot from
 * the event a Timer was made for.
 */
class EventQueue {
  private h = new Float64Array(3 * 1024);
  private n = 0;
  private fns: Array<((a?: unknown, b?: unknown) => void) | null> = [];
  private as: unknown[] = [];
  private bs: unknown[] = [];
  private gen: number[] = [];
  private free: number[] = [];

  get size(): number {
    return this.n;
  }

  /** The time of the earliest event, or Infinity. */
  peekAt(): number {
    return this.n > 0 ? this.h[0]! : Infinity;
  }

  /** Adds an event; returns its slot. */
  push(at: number, seq: number, fn: (a?: unknown, b?: unknown) => void, a: unknown, b: unknown): number {
    let s = this.free.pop();
    if (s === undefined) {
      s = this.fns.length;
      this.fns.push(fn);
      this.as.push(a);
      this.bs.push(b);
      this.gen.push(0);
    } else {
      this.fns[s] = fn;
      this.as[s] = a;
      this.bs[s] = b;
    }
    if (3 * this.n === this.h.length) this.grow();
    const H = this.h;
    let i = this.n++;
    while (i > 0) {
      const p = (i - 1) >> 2;
      const pa = H[3 * p]!;
      if (pa < at || (pa === at && H[3 * p + 1]! < seq)) break;
      H[3 * i] = pa;
      H[3 * i + 1] = H[3 * p + 1]!;
      H[3 * i + 2] = H[3 * p + 2]!;
      i = p;
    }
    H[3 * i] = at;
    H[3 * i + 1] = seq;
    H[3 * i + 2] = s;
    return s;
  }

  /** Removes the earliest event and returns its slot (the caller must release() it). */
  pop(): number {
    const H = this.h;
    const top = H[2]!;
    const n = --this.n;
    if (n === 0) return top;
    const la = H[3 * n]!;
    const lq = H[3 * n + 1]!;
    const ls = H[3 * n + 2]!;
    let i = 0;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= n) break;
      // The least of up to four children.
      let c = first;
      let ca = H[3 * first]!;
      let cq = H[3 * first + 1]!;
      const last = Math.min(first + 4, n);
      for (let k = first + 1; k < last; k++) {
        const ka = H[3 * k]!;
        if (ka < ca || (ka === ca && H[3 * k + 1]! < cq)) {
          c = k;
          ca = ka;
          cq = H[3 * k + 1]!;
        }
      }
      if (ca > la || (ca === la && cq > lq)) break;
      H[3 * i] = ca;
      H[3 * i + 1] = cq;
      H[3 * i + 2] = H[3 * c + 2]!;
      i = c;
    }
    H[3 * i] = la;
    H[3 * i + 1] = lq;
    H[3 * i + 2] = ls;
    return top;
  }

  fn(s: number): ((a?: unknown, b?: unknown) => void) | null {
    return this.fns[s]!;
  }
  a(s: number): unknown {
    return this.as[s];
  }
  b(s: number): unknown {
    return this.bs[s];
  }
  generation(s: number): number {
    return this.gen[s]!;
  }

  /** Cancels the event in slot s if it is still generation g. */
  cancel(s: number, g: number): void {
    if (this.gen[s] === g) this.fns[s] = null;
  }

  /** Frees a popped slot for reuse (its payload is dropped, so the GC can take it). */
  release(s: number): void {
    this.fns[s] = null;
    this.as[s] = this.bs[s] = undefined;
    this.gen[s]!++;
    this.free.push(s);
  }

  private grow(): void {
    const h = new Float64Array(2 * this.h.length);
    h.set(this.h);
    this.h = h;
  }
}

/** A scheduled event's handle: one small object, not a closure and its scope. */
class SlotTimer implements Timer {
  constructor(
    private readonly q: EventQueue,
    private readonly s: number,
    private readonly g: number,
  ) {}
  cancel(): void {
    this.q.cancel(this.s, this.g);
  }
}

export class SimClock {
  private readonly queue = new EventQueue();
  private seq = 0;
  private t = 0;
  /** Events run so far. */
  events = 0;

  now(): number {
    return this.t;
  }

  /** Schedules fn at now + ms (ms >= 0). */
  at(ms: number, fn: () => void): Timer {
    const q = this.queue;
    const s = q.push(this.t + Math.max(0, ms), this.seq++, fn, undefined, undefined);
    return new SlotTimer(q, s, q.generation(s));
  }

  /** Schedules fn(a, b) at now + ms without a closure (the network's per-message events). */
  call<A, B>(ms: number, fn: (a: A, b: B) => void, a: A, b: B): void {
    this.queue.push(this.t + Math.max(0, ms), this.seq++, fn as (a?: unknown, b?: unknown) => void, a, b);
  }

  /** Runs events until the clock passes `until` (virtual ms) or none are left; returns events run. */
  runUntil(until: number): number {
    let n = 0;
    const q = this.queue;
    for (;;) {
      const at = q.peekAt();
      if (at > until) break;
      const s = q.pop();
      this.t = at;
      const fn = q.fn(s);
      const a = q.a(s);
      const b = q.b(s);
      q.release(s);
      if (fn === null) continue;
      fn(a, b);
      n++;
    }
    if (this.t < until) this.t = until;
    this.events += n;
    return n;
  }

  /** Runs for `ms` more virtual milliseconds. */
  run(ms: number): number {
    return this.runUntil(this.t + ms);
  }

  /** Pending events (cancelled ones included until they come up). */
  get pending(): number {
    return this.queue.size;
  }

  /** An Env on this clock with its own PRNG. */
  env(seed: number): Env {
    return new SimEnv(this, mulberry32(seed));
  }
}

/**
 * A node's Env on the shared clock: a class, so that reading the time is a method of one
 * shared prototype, not a closure and its scope per node (at 10,000 nodes every object the
 * core touches for a message is a cache miss).
 */
class SimEnv implements Env {
  constructor(
    private readonly clock: SimClock,
    readonly random: () => number,
  ) {}

  now(): number {
    return this.clock.now();
  }

  after(ms: number, fn: () => void): Timer {
    return this.clock.at(ms, fn);
  }

  every(ms: number, fn: () => void): Timer {
    const clock = this.clock;
    let current: Timer;
    let stopped = false;
    const tick = () => {
      if (stopped) return;
      current = clock.at(ms, tick);
      fn();
    };
    current = clock.at(ms, tick);
    return {
      cancel: () => {
        stopped = true;
        current.cancel();
      },
    };
  }

  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.random() * 256);
    return b;
  }

  // The real hash, not a cheap stand-in: simulated nodes check item ids exactly as the
  // binary does (about 0.3 us an item, a few ms per 1000-node run).
  sha256(input: Uint8Array): Uint8Array {
    return sha256(input);
  }
}

/** A 32-bit seed for part `i` of a run seeded with `seed` (so parts draw independently). */
export function subSeed(seed: number, i: number): number {
  let h = (seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
