// Repair: how a node keeps its active view full and its overlay whole. HyParView's refill
// (NEIGHBOR to passive peers) and rejoin (JOIN through the bootstrapper), and what the
// simulator's fuzzer showed HyParView lacks: per-address back-offs instead of forgetting
// (failed dials, declines), addresses remembered after they leave the passive view, and a
// periodic refresh that links to a random known peer so that split overlays merge again.

import type { Logger } from "../util/log.ts";
import { type Env, pickRandom, sample } from "./env.ts";
import type { PassiveView } from "./views.ts";

/** Longest pause between joins through the bootstrapper. */
export const MAX_JOIN_BACKOFF_MS = 30_000;
/** Consecutive failed dials after which an address leaves the passive view (and is remembered). */
export const MAX_DIAL_FAILURES = 6;
/** Backoff after the first failed dial to an address; it doubles with each further failure. */
export const DIAL_BACKOFF_MS = 1000;
/** Addresses with failed dials remembered at most (or passive_size, if larger). */
export const MAX_FAILURES_KEPT = 4096;
/** Addresses heard of in SHUFFLE walks, kept as a last reserve, at most. */
export const MAX_HEARD = 256;
/**
 * Ticks a node may spend alone before it joins through its bootstrapper even while its passive
 * view still offers peers to dial (they may all be gone: a stale state file).
 */
export const BOOTSTRAP_AFTER_ALONE_TICKS = 5;
/** Addresses that declined a low-priority NEIGHBOR lately, remembered at most. */
export const MAX_DECLINED = 1024;
/** Longest wait before asking a peer that keeps declining again. */
export const MAX_DECLINE_BACKOFF_MS = 300_000;

/** What repair needs of membership. */
export interface RepairHost {
  readonly env: Env;
  readonly log: Logger;
  readonly degree: number;
  readonly passiveSize: number;
  readonly shuffleIntervalMs: number;
  readonly bootstrappers: readonly string[];
  readonly passive: PassiveView;
  /** Our address, or another name of ours a dial found us at (a bootstrapper list naming us as localhost). */
  readonly isSelf: (addr: string) => boolean;
  readonly stopped: () => boolean;
  readonly activeSize: () => number;
  readonly isActive: (addr: string) => boolean;
  readonly isDialing: (addr: string) => boolean;
  /** Our dials still waiting, connecting, handshaking or awaiting their reply (not those a walk asked for that the transport holds back). */
  readonly dialsInFlight: () => number;
  readonly joinInFlight: () => boolean;
  /** spare: a link for the overlay's sake (refresh), not to carry items. */
  readonly dial: (addr: string, role: "join" | "neighbor", high: boolean, spare: boolean) => void;
  /** Tells whether a neighbour at an address would crowd a prefix of the active view (view_prefix_limit), as the view is now. */
  readonly crowding: () => (addr: string) => boolean;
}

interface Backoff {
  count: number;
  until: number;
}

export class Repair {
  /**
   * Addresses that declined a low-priority NEIGHBOR (they are full): not asked again until
   * `until`; each further decline doubles the wait (from shuffle_interval_ms, up to
   * MAX_DECLINE_BACKOFF_MS), so a node below its degree does not pay for a handshake every
   * second with peers that keep saying no.
   */
  private readonly declined = new Map<string, Backoff>();
  /** Addresses whose last dials failed: how often, and when they may be dialed again. */
  private readonly failures = new Map<string, Backoff>();
  /**
   * Addresses heard of lately in SHUFFLE walks (passing through or ending here), most recent
   * last. A node of a young overlay knows few peers (its passive view holds 60 of 180 after
   * 30 s); when a mass failure kills every one of them, nobody alive knows it and it knows
   * nobody alive (the simulator: one survivor of a 95% kill alone for good on 4 of 10 seeds).
   * The walks that crossed it name many more. Never passed on (they are other peers' claims,
   * not addresses we proved); dialled only when we are alone with nobody else to dial.
   */
  private readonly heardOf = new Set<string>();
  private lastJoin = -Infinity;
  /** The bootstrapper to try first at the next rejoin (they take turns). */
  private nextBoot = 0;
  private lastEscalation = -Infinity;
  private escalationWait: number;
  private joinBackoff: number;
  /** Since when the active view has been empty (null: it is not; set on ticks). */
  private aloneSince: number | null = null;

  constructor(
    private readonly host: RepairHost,
    private readonly tickMs: number,
  ) {
    this.joinBackoff = tickMs;
    this.escalationWait = host.shuffleIntervalMs;
  }

  get sizes(): { declined: number; failures: number; heard: number } {
    return { declined: this.declined.size, failures: this.failures.size, heard: this.heardOf.size };
  }

  /** Addresses heard of (see heardOf). */
  heard(addrs: Iterable<string>): void {
    for (const a of addrs) {
      if (!a || this.host.isSelf(a)) continue;
      this.heardOf.delete(a);
      this.heardOf.add(a);
      if (this.heardOf.size > MAX_HEARD) this.heardOf.delete(this.heardOf.keys().next().value as string);
    }
  }

  /** A link to addr became active (dialed: the address we dialed, if we did). */
  activated(addr: string, dialed: string | null): void {
    this.declined.delete(addr);
    if (dialed !== null) this.failures.delete(dialed);
    this.joinBackoff = this.tickMs;
    this.escalationWait = this.host.shuffleIntervalMs;
    this.aloneSince = null;
  }

  /** addr declined our low-priority NEIGHBOR. */
  declinedBy(addr: string): void {
    const count = (this.declined.get(addr)?.count ?? 0) + 1;
    const wait = Math.min(this.host.shuffleIntervalMs * 2 ** (count - 1), MAX_DECLINE_BACKOFF_MS);
    this.declined.delete(addr);
    this.declined.set(addr, { count, until: this.host.env.now() + wait });
    if (this.declined.size > MAX_DECLINED) this.declined.delete(this.declined.keys().next().value as string);
  }

  /**
   * A dial failed: back off from the address. After MAX_DIAL_FAILURES in a row it leaves the
   * passive view but is remembered (bounded, oldest forgotten first) and tried again now and
   * then by refresh() and rejoin: a peer across a long partition, or one restarting slowly,
   * is not forgotten for good.
   */
  dialFailed(addr: string): void {
    const f = this.failures.get(addr) ?? { count: 0, until: 0 };
    f.count++;
    if (f.count >= MAX_DIAL_FAILURES) this.host.passive.delete(addr);
    f.until = this.host.env.now() + DIAL_BACKOFF_MS * 2 ** Math.min(f.count - 1, MAX_DIAL_FAILURES);
    this.remember(addr, f);
  }

  /** Keeps a back-off (most recent last; the oldest is forgotten beyond the bound). */
  private remember(addr: string, f: Backoff): void {
    this.failures.delete(addr);
    this.failures.set(addr, f);
    if (this.failures.size > Math.max(MAX_FAILURES_KEPT, this.host.passiveSize)) this.failures.delete(this.failures.keys().next().value as string);
  }

  /** Replaces lost neighbours from the passive view. */
  refill(): void {
    const h = this.host;
    if (h.stopped()) return;
    // Dials still connecting or handshaking count as in flight too. (Capping them lower, to
    // spare the proofs of work, made the simulator's overlays fill slowly and their trees twice
    // as deep: pacing that work belongs in the TCP transport.)
    const room = h.degree - h.activeSize() - h.dialsInFlight();
    if (room > 0) {
      const high = h.activeSize() === 0;
      const candidates = this.candidates();
      let picked = candidates;
      if (candidates.length > room) {
        // Peers from prefixes the view holds few of first (prefix diversity is preferred).
        const crowds = h.crowding();
        picked = sample(h.env, candidates.filter((a) => !crowds(a)), room);
        if (picked.length < room) picked.push(...sample(h.env, candidates.filter(crowds), room - picked.length));
      }
      // Alone, with nobody in reserve to dial now: every address we heard of is worth a try.
      if (picked.length === 0 && high) picked = sample(h.env, this.lastResort(), room);
      for (const addr of picked) h.dial(addr, "neighbor", high, false);
      // Every peer in reserve declines (they are full) and nothing is in flight: a node left
      // below its degree (e.g. a clique that filled itself after a mass failure) would wait
      // for the next refresh; ask one of them with high priority instead. Paced: the first
      // after shuffle_interval_ms, then at doubling gaps (up to MAX_DECLINE_BACKOFF_MS) until
      // a link comes up.
      const now = h.env.now();
      if (candidates.length === 0 && h.dialsInFlight() === 0 && now - this.lastEscalation >= this.escalationWait) {
        const addr = pickRandom(h.env, this.candidates(true));
        if (addr !== undefined) {
          this.lastEscalation = now;
          this.escalationWait = Math.min(this.escalationWait * 2, MAX_DECLINE_BACKOFF_MS);
          h.dial(addr, "neighbor", true, false);
        }
      }
    }
    if (h.activeSize() === 0) this.maybeRejoin();
  }

  /**
   * HyParView's active view is stable once full, so two parts of a network that lost sight of
   * each other (a healed partition, an unlucky order of joins) would stay apart for good.
   * Every refresh interval therefore:
   * - a node below its degree takes a random passive peer as a neighbour with high priority,
   *   so a full peer takes it too (its low-priority requests may all have been declined); one
   *   time in four, or when the passive view offers nobody, it tries an address it remembers
   *   from failed dials, or its bootstrapper, instead;
   * - a full node tries one remembered address (a peer it lost, or could not reach, that may
   *   be back: the other side of a healed partition), and nothing else: each swap of a full
   *   node's link disturbs plumtree's tree for good (the simulator: a swap per node per
   *   minute tripled the time to last delivery), so a healthy network is left alone.
   */
  refresh(): void {
    const h = this.host;
    if (h.stopped()) return;
    const far = this.remembered();
    let addr: string | undefined;
    if (h.activeSize() >= h.degree) addr = pickRandom(h.env, far);
    else {
      // A peer that declined a low-priority request may be full: high priority gets in anyway.
      const near = this.candidates(true);
      for (const b of h.bootstrappers) if (!h.isSelf(b) && !h.isActive(b) && !h.isDialing(b) && !this.backingOff(b)) far.push(b);
      addr = far.length > 0 && (near.length === 0 || h.env.random() < 0.25) ? pickRandom(h.env, far) : pickRandom(h.env, near);
    }
    // A full node's refresh link is for the overlay's sake: it starts lazy (see Peer.spare).
    if (addr !== undefined) h.dial(addr, "neighbor", true, h.activeSize() >= h.degree);
  }

  /**
   * With no neighbour and nobody in reserve to dial, join again: through the bootstrapper, or, when
   * that is gone too, through any address we still remember, so a node whose bootstrapper
   * left is not alone for good. Alone for BOOTSTRAP_AFTER_ALONE_TICKS ticks, the node joins
   * through its bootstrapper alongside its passive view's dials: those may all go to hosts that
   * are gone. Paced by a backoff that doubles up to MAX_JOIN_BACKOFF_MS and resets when a link
   * comes up.
   */
  maybeRejoin(): void {
    const h = this.host;
    if (h.stopped()) return;
    if (h.activeSize() > 0) {
      this.aloneSince = null;
      return;
    }
    const now = h.env.now();
    this.aloneSince ??= now;
    if (now - this.lastJoin < this.joinBackoff) return;
    if (this.candidates(true).length > 0) {
      // Peers in reserve to dial, but alone a while: a stale state file (or a view of peers
      // that all went away) can keep us dialing the dead for minutes, since a dial to a host
      // that drops packets takes handshake_timeout_ms to fail, longer than its back-off (the
      // audit: alone 176-398 s with the bootstrapper up). Try the bootstrapper alongside.
      if (now - this.aloneSince < BOOTSTRAP_AFTER_ALONE_TICKS * this.tickMs) return;
      const b = this.nextBootstrapper();
      if (b !== undefined) this.join(b, now);
      return;
    }
    // Alone, with nobody in reserve we may dial now (an empty passive view, or every entry
    // backing off: peers that all went away while we were down).
    if (h.dialsInFlight() > 0 || h.joinInFlight()) return;
    // Bootstrappers in turn (one that is down backs off like any address), else what we remember.
    const b = this.nextBootstrapper();
    const known = this.remembered();
    const target = b !== undefined && (known.length === 0 || h.env.random() < 0.5) ? b : pickRandom(h.env, known);
    if (target !== undefined) this.join(target, now);
  }

  /** The bootstrapper whose turn it is (they take turns): not our own address, not being dialed, not backing off. */
  private nextBootstrapper(): string | undefined {
    const h = this.host;
    const n = h.bootstrappers.length;
    for (let k = 0; k < n; k++) {
      const a = h.bootstrappers[(this.nextBoot + k) % n]!;
      if (!h.isSelf(a) && !h.isDialing(a) && !this.backingOff(a)) {
        this.nextBoot = (this.nextBoot + k + 1) % n;
        return a;
      }
    }
    return undefined;
  }

  private join(target: string, now: number): void {
    const h = this.host;
    this.lastJoin = now;
    this.joinBackoff = Math.min(this.joinBackoff * 2, MAX_JOIN_BACKOFF_MS);
    h.log.info("joining", { via: target, bootstrapper: h.bootstrappers.includes(target) });
    h.dial(target, "join", false, false);
  }

  /** At start with peers from a previous run in the passive view: join through one of them. */
  joinKnown(): void {
    const h = this.host;
    const addr = pickRandom(h.env, h.passive.list());
    if (addr === undefined || h.stopped()) return;
    this.lastJoin = h.env.now();
    h.log.info("joining through a peer known from the last run", { via: addr, known: h.passive.size });
    h.dial(addr, "join", false, false);
  }

  /** Heard-of addresses we may dial now (not active, dialing, backing off, or a bootstrapper). */
  private lastResort(): string[] {
    const h = this.host;
    const out: string[] = [];
    for (const a of this.heardOf) {
      if (!this.backingOff(a) && !h.isActive(a) && !h.isDialing(a) && !h.bootstrappers.includes(a)) out.push(a);
    }
    return out;
  }

  /** Every address with a back-off (lost or unreachable peers), oldest first. */
  rememberedAll(): IterableIterator<string> {
    return this.failures.keys();
  }

  /** Whether dials to addr are backing off after failures. */
  backingOff(addr: string): boolean {
    return (this.failures.get(addr)?.until ?? 0) > this.host.env.now();
  }

  /** Passive addresses worth dialing now: not active, not being dialed, not declining or backing off. */
  private candidates(evenDeclined = false): string[] {
    const h = this.host;
    const now = h.env.now();
    return h.passive
      .list()
      .filter(
        (a) =>
          !h.isDialing(a) &&
          !h.isActive(a) &&
          (evenDeclined || !((this.declined.get(a)?.until ?? 0) > now)) &&
          !this.backingOff(a),
      );
  }

  /**
   * Addresses whose dials failed (in the passive view or out of it), backoff over, not
   * active: peers we lost or could not reach, that may be back. Never peers that only sent
   * DISCONNECT: a full node taking a high-priority neighbour evicts one that way, routinely,
   * and refreshing towards every such peer swapped a link of every full node each interval,
   * so plumtree's tree never settled.
   */
  private remembered(): string[] {
    const h = this.host;
    const out: string[] = [];
    for (const a of this.failures.keys()) {
      if (!this.backingOff(a) && !h.bootstrappers.includes(a) && !h.isActive(a) && !h.isDialing(a)) out.push(a);
    }
    return out;
  }
}
