// Pending verdicts: items handed to local subscribers as NOTIFICATIONs, waiting for their
// VALIDATIONs. The contract's rules live here:
// - the message id is a 16-bit id unique among pending verdicts (not the p2p item id);
// - an item from a peer passes only when every notified subscriber still connected has
//   answered valid; any invalid verdict fails it; no verdict in time fails it; a subscriber
//   that disconnects no longer counts, and if none is left the item is dropped;
// - notifications for a locally announced item get ids too, so their replies are accepted,
//   but they gate nothing.

import type { Verdict } from "../core/dissemination.ts";
import type { Env, Timer } from "../core/env.ts";
import { realEnv } from "../util/real-env.ts";

export type { Verdict };

/** Something that can be notified and can answer: one API connection. */
export interface Subscriber {
  readonly id: number;
}

interface Pending {
  readonly id: number;
  readonly gating: boolean;
  /** When the verdict times out (clock.now() at open + timeoutMs). */
  readonly deadline: number;
  /** Notified subscribers that still count and have not answered valid. */
  readonly waiting: Set<Subscriber>;
  /** Notified subscribers that answered valid and are still connected. */
  readonly approved: Set<Subscriber>;
  readonly settle: (v: Verdict) => void;
}

export type AnswerResult = "accepted" | "unknown-id" | "not-asked" | "already-answered";

export class VerdictTable {
  /**
   * Pending items by message id, in the order they were opened: every entry lives equally
   * long, so that is also the order of their deadlines, and one timer, armed for the oldest
   * entry's, serves them all (a timer per item cost more than the rest of the table).
   */
  private readonly byId = new Map<number, Pending>();
  /** Unanswered notifications per subscriber. */
  private readonly owed = new Map<Subscriber, number>();
  private nextId = 0;
  private timer: Timer | null = null;

  constructor(
    private readonly timeoutMs: number,
    private readonly maxPending: number,
    /** The clock and timers (the real ones in the node; a virtual clock in tests). */
    private readonly clock: Pick<Env, "now" | "after"> = realEnv,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  /** Verdicts `sub` still owes (notifications it has not answered). */
  owedBy(sub: Subscriber): number {
    return this.owed.get(sub) ?? 0;
  }

  /**
   * Reserves an id for an item about to be notified to `subscribers`. Returns null when the
   * table is full. `gating` false: a local announce's copy, whose answers decide nothing.
   * `settle` is called once, with the verdict, from whichever call decides it (an answer,
   * withdraw, forget, clear) or from the timer.
   */
  open(subscribers: readonly Subscriber[], gating: boolean, settle: (v: Verdict) => void): number | null {
    if (this.byId.size >= this.maxPending) return null;
    const id = this.allocateId();
    const waiting = new Set(subscribers);
    for (const s of waiting) this.owe(s, 1);
    const deadline = this.clock.now() + this.timeoutMs;
    this.byId.set(id, { id, gating, deadline, waiting, approved: new Set(), settle });
    this.timer ??= this.clock.after(this.timeoutMs, this.expire);
    return id;
  }

  /** The notification to `sub` could not be sent: it does not count for this item. */
  withdraw(id: number, sub: Subscriber): void {
    const p = this.byId.get(id);
    if (!p) return;
    if (p.waiting.delete(sub)) this.owe(sub, -1);
    this.check(p);
  }

  /** Records a VALIDATION from `sub`. */
  answer(id: number, sub: Subscriber, valid: boolean): AnswerResult {
    const p = this.byId.get(id);
    if (!p) return "unknown-id";
    if (p.approved.has(sub)) return "already-answered";
    if (!p.waiting.has(sub)) return "not-asked";
    if (!valid && p.gating) {
      this.finish(p, "invalid");
      return "accepted";
    }
    p.waiting.delete(sub);
    this.owe(sub, -1);
    p.approved.add(sub);
    this.check(p);
    return "accepted";
  }

  /** A subscriber went away: it no longer counts for any pending item. */
  forget(sub: Subscriber): void {
    this.owed.delete(sub);
    for (const p of [...this.byId.values()]) {
      const was = p.waiting.delete(sub) || p.approved.delete(sub);
      if (was) this.check(p);
    }
  }

  /** Settles everything (shutdown). */
  clear(verdict: Verdict = "abandoned"): void {
    for (const p of [...this.byId.values()]) this.finish(p, verdict);
    this.timer?.cancel();
    this.timer = null;
  }

  /** The timer: times out every entry whose deadline has come, then waits for the next. */
  private readonly expire = (): void => {
    this.timer = null;
    const now = this.clock.now();
    for (const p of this.byId.values()) {
      if (p.deadline > now) {
        // A verdict settled above may have opened an entry, and armed a timer for it: the
        // oldest entry's deadline comes first.
        (this.timer as Timer | null)?.cancel(); // (set by finish() → open(), unseen by the compiler)
        this.timer = this.clock.after(p.deadline - now, this.expire);
        return;
      }
      this.finish(p, "timeout");
    }
  };

  private check(p: Pending): void {
    if (p.waiting.size > 0) return;
    this.finish(p, p.approved.size > 0 ? "valid" : "abandoned");
  }

  private finish(p: Pending, v: Verdict): void {
    if (this.byId.get(p.id) !== p) return;
    this.byId.delete(p.id);
    for (const s of p.waiting) this.owe(s, -1);
    p.settle(v);
  }

  private owe(sub: Subscriber, delta: number): void {
    const n = (this.owed.get(sub) ?? 0) + delta;
    if (n > 0) this.owed.set(sub, n);
    else this.owed.delete(sub);
  }

  private allocateId(): number {
    // The table never holds more than 65536 entries (maxPending <= 65536 and full tables
    // are refused above), so a free id exists and this loop ends.
    for (;;) {
      const id = this.nextId;
      this.nextId = (this.nextId + 1) & 0xffff;
      if (!this.byId.has(id)) return id;
    }
  }
}
