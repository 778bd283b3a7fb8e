// Addresses a node has not proven (docs/PROTOCOL.md 5.1, 5.3, 5.4): a peer's advertised
// address is only claimed until we dial it and find that peer there, and an address named in
// a FORWARD_JOIN or SHUFFLE is hearsay. This file keeps what membership needs to treat them
// so: the JOIN checks in flight, the passive addresses held only on an incoming peer's word
// (dialled by us, never passed on), and the bounds on dials a walk asks for. All bounded.

import type { Logger } from "../util/log.ts";
import { LogThrottle, TokenBucket } from "../util/bucket.ts";
import type { Env } from "./env.ts";
import type { Peer } from "./peers.ts";

/** Checks of joiners' addresses in flight at most (JOIN, section 5.3). */
export const MAX_ADDRESS_CHECKS = 1024;
/**
 * Dials per second, in all, to addresses a peer named in a FORWARD_JOIN that ends here (a
 * burst of as many): any neighbour can send those, so they must not make us dial at its will.
 */
export const LEARNT_DIALS_PER_S = 10;
/** A learnt address whose dial was handshaken but got no neighbour is not dialled for a walk again for this long. */
export const LEARNT_HOLD_MS = 10_000;
/** Such held addresses remembered at most (oldest forgotten). */
export const MAX_LEARNT_HELD = 1024;

export class Claims {
  /** Joiners whose advertised address we are dialling to check, by that address. */
  private readonly checking = new Map<string, Peer>();
  /**
   * Passive addresses we hold only on an incoming peer's word (its advertised address, kept
   * when the link ended). Entries no longer in the passive view are pruned, so it holds at
   * most about passive_size.
   */
  private readonly claimed = new Set<string>();
  private readonly learntDials: TokenBucket;
  /** Learnt addresses whose last dial got no neighbour, with when a walk may dial them again. */
  private readonly held = new Map<string, number>();
  private readonly overRate: LogThrottle;

  constructor(
    private readonly env: Env,
    log: Logger,
    /** Whether an address is in the passive view (stale claims are pruned by it). */
    private readonly inPassive: (addr: string) => boolean,
    private readonly passiveSize: number,
  ) {
    this.learntDials = new TokenBucket(LEARNT_DIALS_PER_S, env);
    this.overRate = new LogThrottle((n) => log.info("walk ends not dialled: over the rate of learnt-address dials", { dropped: n, per_s: LEARNT_DIALS_PER_S }), env);
  }

  get checks(): number {
    return this.checking.size;
  }

  // --- JOIN checks (section 5.3): one per address at a time, MAX_ADDRESS_CHECKS at once.

  /** Starts checking `addr` for `joiner`; false when it may not (already checked, table full). */
  startCheck(addr: string, joiner: Peer): boolean {
    if (this.checking.has(addr) || this.checking.size >= MAX_ADDRESS_CHECKS) return false;
    this.checking.set(addr, joiner);
    return true;
  }

  /** The check of `addr` is over; returns the joiner it was for. */
  endCheck(addr: string): Peer | undefined {
    const joiner = this.checking.get(addr);
    this.checking.delete(addr);
    return joiner;
  }

  // --- claimed passive addresses: dialled by us, never passed on (section 5.7).

  /** `addr` sits in the passive view on an incoming peer's word only. */
  claim(addr: string): void {
    this.claimed.add(addr);
    if (this.claimed.size > this.passiveSize) {
      for (const a of this.claimed) if (!this.inPassive(a)) this.claimed.delete(a);
    }
  }

  /** A dial of ours proved `addr`. */
  proven(addr: string): void {
    this.claimed.delete(addr);
  }

  /** The addresses among `addrs` we may pass on to other nodes. */
  passable(addrs: string[]): string[] {
    return this.claimed.size === 0 ? addrs : addrs.filter((a) => !this.claimed.has(a));
  }

  // --- dials a walk asks for (section 5.4).

  /** Whether a walk that ends here may dial `addr` now (not held, and a token left); spends the token. */
  mayDial(addr: string): boolean {
    if ((this.held.get(addr) ?? 0) > this.env.now()) return false;
    if (this.learntDials.take()) return true;
    this.overRate.hit();
    return false;
  }

  /** A walk's dial to `addr` was handshaken but got no neighbour: hold further ones off for LEARNT_HOLD_MS. */
  hold(addr: string): void {
    this.held.delete(addr);
    this.held.set(addr, this.env.now() + LEARNT_HOLD_MS);
    if (this.held.size > MAX_LEARNT_HELD) this.held.delete(this.held.keys().next().value as string);
  }
}
