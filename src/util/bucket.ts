import type { Env, Timer } from "../core/env.ts";

// Token bucket: `rate` tokens per second, holding at most `burst` (by default `rate`: a
// one-second burst), full at start.

export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    private readonly clock: { now(): number },
    private readonly burst = rate,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Takes a token if there is one. `now`: the caller's reading of the clock, if it has one. */
  take(now = this.clock.now()): boolean {
    this.tokens = refill(this.tokens, this.last, this.rate, now, this.burst);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** A bucket's tokens at `now`, refilled at `rate` a second since `last`, holding at most `burst`. */
export function refill(tokens: number, last: number, rate: number, now: number, burst = rate): number {
  return Math.min(burst, tokens + ((now - last) * rate) / 1000);
}

/**
 * One log line per interval for a stream of like events: the first is reported at once, the
 * ones that follow within the interval are counted and reported together when it ends, so no
 * count is lost even if the stream stops.
 */
export class LogThrottle {
  private held = 0;
  private last = -Infinity;
  private timer: Timer | null = null;

  constructor(
    private readonly emit: (count: number) => void,
    private readonly env: Env,
    private readonly intervalMs = 1000,
  ) {}

  hit(): void {
    const now = this.env.now();
    if (this.timer === null && now - this.last >= this.intervalMs) {
      this.last = now;
      this.emit(1);
      return;
    }
    this.held++;
    if (this.timer === null) {
      this.timer = this.env.after(Math.max(0, this.last + this.intervalMs - now), () => this.flush());
    }
  }

  private flush(): void {
    this.timer = null;
    this.last = this.env.now();
    const n = this.held;
    this.held = 0;
    if (n > 0) this.emit(n);
  }
}
