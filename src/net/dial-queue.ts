// The pacing of our outgoing dials (docs/PROTOCOL.md 5.4, 7). Each dial solves the acceptor's
// proof of work on the one event-loop thread, so at most MAX_DIALS_AT_ONCE run at once and the
// rest wait. Some dials are the node's own (refill, rejoin, refresh, the bootstrapper); others
// a peer asked for (a FORWARD_JOIN that ends here, a JOIN whose address we check), and a peer
// can name an address that accepts TCP and stays silent, holding a slot for the whole
// handshake deadline. So dials a peer asked for never take the last slot, wait behind every
// own dial, and their waiting is bounded: at most MAX_ASKED_DIALS_QUEUED wait, each at most
// the handshake deadline; beyond either they are dropped (the owner sees the dial fail).
// The node's own dials are bounded by the core (at most about `degree` in flight).

import type { Env, Timer } from "../core/env.ts";

/** Our dials connecting or in their handshake at once; more wait their turn. */
export const MAX_DIALS_AT_ONCE = 3;
/** Of those, dials a peer asked for (walks, address checks): one slot is always left for our own. */
export const MAX_ASKED_DIALS_AT_ONCE = MAX_DIALS_AT_ONCE - 1;
/** Dials a peer asked for waiting for a slot at most; more are dropped at once. */
export const MAX_ASKED_DIALS_QUEUED = 64;

/** One dial as the queue sees it. */
export interface QueuedDial {
  /** A peer asked for it (FORWARD_JOIN, JOIN check), not the node's own views. */
  readonly asked: boolean;
  /** Opens the connection (its handshake deadline runs from here). */
  start(): void;
  /** Dropped while waiting (too long): the dial has failed. */
  drop(why: string): void;
}

export class DialQueue {
  private readonly running = new Set<QueuedDial>();
  private runningAsked = 0;
  private readonly own: QueuedDial[] = [];
  private readonly asked: QueuedDial[] = [];
  private readonly deadlines = new Map<QueuedDial, Timer>();

  constructor(
    private readonly after: Env["after"],
    /** How long a dial a peer asked for may wait for a slot (the handshake deadline). */
    private readonly askedWaitMs: number,
  ) {}

  /** Dials running (connecting or in their handshake). */
  get inProgress(): number {
    return this.running.size;
  }
  /** Dials waiting for a slot. */
  get queued(): number {
    return this.own.length + this.asked.length;
  }

  /**
   * Starts the dial now, or queues it. False: a dial a peer asked for that finds the queue full
   * is refused (neither started nor queued; the caller fails it).
   */
  submit(d: QueuedDial): boolean {
    if (d.asked && this.asked.length >= MAX_ASKED_DIALS_QUEUED) return false;
    if (d.asked) {
      this.asked.push(d);
      this.deadlines.set(
        d,
        this.after(this.askedWaitMs, () => {
          if (!this.unqueue(d)) return;
          d.drop(`waited ${this.askedWaitMs} ms for a dial slot`);
        }),
      );
    } else {
      this.own.push(d);
    }
    this.pump();
    return true;
  }

  /** The dial finished its handshake or ended (or was given up while queued): its slot is free. */
  finish(d: QueuedDial): void {
    if (this.running.delete(d)) {
      if (d.asked) this.runningAsked--;
    } else {
      this.unqueue(d);
    }
    this.pump();
  }

  private mayStart(d: QueuedDial): boolean {
    return this.running.size < MAX_DIALS_AT_ONCE && (!d.asked || this.runningAsked < MAX_ASKED_DIALS_AT_ONCE);
  }

  /** Removes a waiting dial; false if it was not waiting. */
  private unqueue(d: QueuedDial): boolean {
    const q = d.asked ? this.asked : this.own;
    const i = q.indexOf(d);
    if (i < 0) return false;
    q.splice(i, 1);
    this.deadlines.get(d)?.cancel();
    this.deadlines.delete(d);
    return true;
  }

  /** Starts waiting dials while slots are free: our own first, oldest first. */
  private pump(): void {
    for (;;) {
      const d = this.own.length > 0 ? this.own[0]! : this.asked[0];
      if (d === undefined || !this.mayStart(d)) return;
      this.unqueue(d);
      this.running.add(d);
      if (d.asked) this.runningAsked++;
      d.start();
    }
  }
}
