// The simulator's clock: one virtual timeline for a whole network. Events run in (time,
// order of scheduling) order, so a run is a pure function of its seed. Each node gets its
// own Env on this clock with its own seeded PRNG (src/util/prng.ts).

import type { Env, Timer } from "../core/env.ts";
import { mulberry32 } from "../util/prng.ts";
import { sha256 } from "../util/sha256.ts";

/**
 * The pending events: a binary min-heap by (at, seq) kept in typed arrays, so sifting compares
 * numbers in contiguous memory instead of chasing one object per event (at 10,000 nodes the
 * heap holds hundreds of thousands of messages in flight, and the old heap of objects was an
 * eighth of the run). Each event's payload (fn, a, b) lives in a slot; a slot's generation
 * tells a cancelled or reused slot from the event a Timer was made for.
 */
class EventQueue {
  private at = new Float64Array(1024);
  private seq = new Float64Array(1024);
  private slot = new Int32Array(1024);
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
    return this.n > 0 ? this.at[0]! : Infinity;
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
    if (this.n === this.at.length) this.grow();
    const A = this.at;
    const Q = this.seq;
    const S = this.slot;
    let i = this.n++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pa = A[p]!;
      if (pa < at || (pa === at && Q[p]! < seq)) break;
      A[i] = pa;
      Q[i] = Q[p]!;
      S[i] = S[p]!;
      i = p;
    }
    A[i] = at;
    Q[i] = seq;
    S[i] = s;
    return s;
  }

  /** Removes the earliest event and returns its slot (the caller must release() it). */
  pop(): number {
    const A = this.at;
    const Q = this.seq;
    const S = this.slot;
    const top = S[0]!;
    const n = --this.n;
    if (n === 0) return top;
    const la = A[n]!;
    const lq = Q[n]!;
    const ls = S[n]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && (A[r]! < A[l]! || (A[r] === A[l] && Q[r]! < Q[l]!))) c = r;
      const ca = A[c]!;
      if (ca > la || (ca === la && Q[c]! > lq)) break;
      A[i] = ca;
      Q[i] = Q[c]!;
      S[i] = S[c]!;
      i = c;
    }
    A[i] = la;
    Q[i] = lq;
    S[i] = ls;
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
    const m = this.at.length * 2;
    const at = new Float64Array(m);
    at.set(this.at);
    const seq = new Float64Array(m);
    seq.set(this.seq);
    const slot = new Int32Array(m);
    slot.set(this.slot);
    this.at = at;
    this.seq = seq;
    this.slot = slot;
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
