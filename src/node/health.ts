// The story of a node's connectivity in a few log lines: joined (info, with the neighbour
// count), lost the last neighbour (warn), still alone after N seconds (warn, repeated with a
// doubling interval so a node cut off for a day logs a handful of lines, not thousands), back
// (info). It watches the active view size from outside the core, on an injected clock.

import type { Env, Timer } from "../core/env.ts";
import type { Logger } from "../util/log.ts";

export interface HealthOptions {
  /** The active view size now. */
  readonly neighbours: () => number;
  /** A node that expects peers (it has a bootstrapper) warns while alone from the start. */
  readonly expectsPeers: boolean;
  readonly env: Env;
  readonly log: Logger;
  /** How often the view size is looked at. */
  readonly tickMs?: number;
  /** First "no neighbour" warning after this long alone; the gaps then double up to maxGapMs. */
  readonly aloneMs?: number;
  readonly maxGapMs?: number;
}

export class HealthWatch {
  private readonly timer: Timer;
  private readonly tickMs: number;
  private readonly firstAloneMs: number;
  private readonly maxGapMs: number;
  private last = 0;
  private joined = false;
  /** When the node became alone (null: it has neighbours, or it does not expect any yet). */
  private aloneSince: number | null;
  /** Time alone at which the next warning is due, and the gap after it. */
  private warnAt: number;
  private gap: number;

  constructor(private readonly opts: HealthOptions) {
    this.tickMs = opts.tickMs ?? 1000;
    this.firstAloneMs = opts.aloneMs ?? 10_000;
    this.maxGapMs = opts.maxGapMs ?? 600_000;
    this.warnAt = this.gap = this.firstAloneMs;
    this.aloneSince = opts.expectsPeers ? opts.env.now() : null;
    this.timer = opts.env.every(this.tickMs, () => this.check());
  }

  private check(): void {
    const n = this.opts.neighbours();
    const now = this.opts.env.now();
    const log = this.opts.log;
    if (n > 0 && this.last === 0) {
      if (!this.joined) log.info("joined the overlay", { neighbours: n });
      else log.info("neighbours back", { neighbours: n, alone_s: this.aloneFor(now) });
      this.joined = true;
      this.aloneSince = null;
      this.warnAt = this.gap = this.firstAloneMs;
    } else if (n === 0 && this.last > 0) {
      log.warn("lost the last neighbour: rejoining through the passive view or the bootstrapper");
      this.aloneSince = now;
    } else if (n === 0 && this.aloneSince !== null && now - this.aloneSince >= this.warnAt) {
      this.gap = Math.min(this.gap * 2, this.maxGapMs);
      this.warnAt += this.gap;
      log.warn("no neighbour", { for_s: this.aloneFor(now), next_warning_in_s: Math.round(this.gap / 1000) });
    }
    this.last = n;
  }

  private aloneFor(now: number): number {
    return this.aloneSince === null ? 0 : Math.round((now - this.aloneSince) / 1000);
  }

  stop(): void {
    this.timer.cancel();
  }
}
