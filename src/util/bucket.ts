// Token bucket: `rate` tokens per second, holding at most `rate` (a one-second burst).

export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = rate;
    this.last = now();
  }

  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Counts suppressed events and lets one log line through per interval. */
export class LogThrottle {
  private suppressed = 0;
  private last = -Infinity;
  constructor(private readonly intervalMs = 1000) {}

  /** Returns the number of events to report (this one plus those suppressed), or 0 to stay quiet. */
  hit(): number {
    this.suppressed++;
    const now = performance.now();
    if (now - this.last < this.intervalMs) return 0;
    this.last = now;
    const n = this.suppressed;
    this.suppressed = 0;
    return n;
  }
}
