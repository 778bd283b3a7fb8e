// The simulator's clock: one virtual timeline for a whole network. Events run in (time,
// order of scheduling) order, so a run is a pure function of its seed. Each node gets its
// own Env on this clock with its own seeded PRNG (src/util/prng.ts).

import type { Env, Timer } from "../core/env.ts";
import { mulberry32 } from "../util/prng.ts";
import { sha256 } from "../util/sha256.ts";

interface Event {
  at: number;
  seq: number;
  fn: ((a?: unknown, b?: unknown) => void) | null;
  a: unknown;
  b: unknown;
}

/** A binary min-heap of events by (at, seq). */
class EventHeap {
  private readonly a: Event[] = [];

  get size(): number {
    return this.a.length;
  }

  peek(): Event | undefined {
    return this.a[0];
  }

  push(e: Event): void {
    const a = this.a;
    let i = a.length;
    a.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, a[p]!)) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = e;
  }

  pop(): Event | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(a[r]!, a[l]!) ? r : l;
      if (!before(a[c]!, last)) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
}

function before(x: Event, y: Event): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

export class SimClock {
  private readonly heap = new EventHeap();
  private seq = 0;
  private t = 0;
  /** Events run so far. */
  events = 0;

  now(): number {
    return this.t;
  }

  /** Schedules fn at now + ms (ms >= 0). */
  at(ms: number, fn: () => void): Timer {
    const e: Event = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, a: undefined, b: undefined };
    this.heap.push(e);
    return { cancel: () => void (e.fn = null) };
  }

  /** Schedules fn(a, b) at now + ms without a closure (the network's per-message events). */
  call<A, B>(ms: number, fn: (a: A, b: B) => void, a: A, b: B): void {
    this.heap.push({ at: this.t + Math.max(0, ms), seq: this.seq++, fn: fn as (a?: unknown, b?: unknown) => void, a, b });
  }

  /** Runs events until the clock passes `until` (virtual ms) or none are left; returns events run. */
  runUntil(until: number): number {
    let n = 0;
    for (;;) {
      const e = this.heap.peek();
      if (!e || e.at > until) break;
      this.heap.pop();
      this.t = e.at;
      const fn = e.fn;
      if (fn === null) continue;
      e.fn = null;
      fn(e.a, e.b);
      e.a = e.b = undefined;
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
    return this.heap.size;
  }

  /** An Env on this clock with its own PRNG. */
  env(seed: number): Env {
    const random = mulberry32(seed);
    const clock = this;
    return {
      now: () => clock.t,
      after: (ms, fn) => clock.at(ms, fn),
      every(ms, fn) {
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
      },
      random,
      bytes(n) {
        const b = new Uint8Array(n);
        for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
        return b;
      },
      // The real hash, not a cheap stand-in: simulated nodes check item ids exactly as the
      // binary does (about 0.3 us an item, a few ms per 1000-node run).
      sha256,
    };
  }
}

/** A 32-bit seed for part `i` of a run seeded with `seed` (so parts draw independently). */
export function subSeed(seed: number, i: number): number {
  let h = (seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
