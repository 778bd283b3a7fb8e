// Peer scores: misbehaviour costs points, good items earn a few back (capped), and a peer
// whose score falls to -banScore is disconnected and refused for banMs. Scores are kept only
// for what was proven: the identity that signed the handshake, and the source IP seen on the
// socket (a banned peer cannot come back from the same IP with a fresh key). Never for the
// address a peer advertises: anyone can claim an honest peer's address, and misbehaving under
// it would get that peer banned. The table is bounded.

export interface ScoreOptions {
  readonly banScore: number;
  readonly banMs: number;
  readonly maxEntries?: number;
  readonly now: () => number;
}

/** Points for each kind of behaviour (negative: misbehaviour). */
export const Points = {
  validItem: 1,
  invalidItem: -20,
  protocolViolation: -60,
  rateLimited: -2,
  /** Cap on what good behaviour can bank. */
  maxScore: 50,
} as const;

/**
 * Stable codes of the protocol violations the core detects (the transport's decoding errors
 * have theirs in src/wire/errors.ts); each closes the link and costs protocolViolation.
 */
export const Violation = {
  /** A message not allowed in the link's state (docs/PROTOCOL.md section 5.2). */
  State: "ERR_STATE",
  /** A GOSSIP whose id is not the hash of its salt, type and data (section 6.1). */
  ItemId: "ERR_ITEM_ID",
} as const;
export type Violation = (typeof Violation)[keyof typeof Violation];

interface Entry {
  score: number;
  bannedUntil: number;
}

export class PeerScores {
  private readonly entries = new Map<string, Entry>();
  /** Bans imposed so far (for metrics). */
  bans = 0;
  private readonly max: number;
  private readonly now: () => number;

  constructor(private readonly opts: ScoreOptions) {
    this.max = opts.maxEntries ?? 10_000;
    this.now = opts.now;
  }

  /** Adds points to the peer (by identity and source IP; "" for none); true if this makes it banned. */
  adjust(id: string, ip: string, points: number): boolean {
    let banned = false;
    for (const key of [id, ip]) {
      if (!key) continue;
      const e = this.entry(key);
      e.score = Math.min(Points.maxScore, e.score + points);
      if (e.score <= -this.opts.banScore && e.bannedUntil <= this.now()) {
        e.bannedUntil = this.now() + this.opts.banMs;
        e.score = 0; // a fresh start once the ban is served
        banned = true;
      }
    }
    if (banned) this.bans++;
    return banned;
  }

  score(key: string): number {
    return this.entries.get(key)?.score ?? 0;
  }

  /** Milliseconds of ban left for an identity or IP (0: not banned). */
  bannedFor(key: string): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    return Math.max(0, e.bannedUntil - this.now());
  }

  isBanned(...keys: string[]): boolean {
    return keys.some((k) => k !== "" && this.bannedFor(k) > 0);
  }

  private entry(key: string): Entry {
    let e = this.entries.get(key);
    if (e) {
      // Refresh recency so active misbehavers are the last forgotten.
      this.entries.delete(key);
    } else {
      e = { score: 0, bannedUntil: 0 };
    }
    this.entries.set(key, e);
    if (this.entries.size > this.max) {
      // Forget the least recently touched entry that is not serving a ban (never the one
      // being updated, which is the most recent); if all are, the least recent of them.
      const now = this.now();
      let victim: string | undefined;
      for (const [k, v] of this.entries) {
        if (k === key) continue;
        victim ??= k;
        if (v.bannedUntil <= now) {
          victim = k;
          break;
        }
      }
      if (victim !== undefined) this.entries.delete(victim);
    }
    return e;
  }
}

/** The address prefix two peers share when they likely sit on one host or network:
 *  /24 for IPv4, /48 for IPv6, the whole name for host names. */
// Memoized by host, not by host:port: connections come from ever new ephemeral ports (the
// simulator's 2,000 nodes overflowed a per-address memo and spent 8% of their time here).
const prefixMemo = new Map<string, string>();
const PREFIX_MEMO_MAX = 1 << 18;

// Advertised addresses (one per peer, asked about at every view change) are also memoized
// whole: a lookup by a string the maps have seen before costs no slice and no new hash.
const addrMemo = new Map<string, string>();

export function addressPrefix(addr: string): string {
  let p = addrMemo.get(addr);
  if (p !== undefined) return p;
  const host = addr.charCodeAt(0) === 91 /* [ */ ? addr.slice(1, addr.indexOf("]")) : addr.slice(0, addr.lastIndexOf(":"));
  p = prefixMemo.get(host);
  if (p === undefined) {
    if (prefixMemo.size >= PREFIX_MEMO_MAX) prefixMemo.clear();
    prefixMemo.set(host, (p = computePrefix(host)));
  }
  if (addrMemo.size >= PREFIX_MEMO_MAX) addrMemo.clear();
  addrMemo.set(addr, p);
  return p;
}

function computePrefix(host: string): string {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return host.split(".").slice(0, 3).join(".") + ".0/24";
  if (host.includes(":")) {
    // An IPv4 peer on a dual-stack ([::]) listener arrives as ::ffff:a.b.c.d: its /24, or
    // every IPv4 peer would share one /48.
    const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
    if (dotted) return computePrefix(dotted[1]!);
    const groups = expandV6(host);
    if (groups.length === 8 && groups.slice(0, 5).every((g) => g === "0") && groups[5] === "ffff") {
      const [hi, lo] = [parseInt(groups[6]!, 16), parseInt(groups[7]!, 16)];
      return `${hi >> 8}.${hi & 255}.${lo >> 8}.0/24`;
    }
    return groups.slice(0, 3).join(":") + "::/48";
  }
  return host.toLowerCase();
}

function expandV6(host: string): string[] {
  const [head, tail] = host.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const fill = tail === undefined ? [] : Array(Math.max(0, 8 - h.length - t.length)).fill("0");
  return [...h, ...fill, ...t].map((g) => (g === "" ? "0" : g.toLowerCase().replace(/^0+(?=.)/, "")));
}

/** The IP part of a `host:port` remote address (for per-source connection limits). */
export function remoteHost(remote: string): string {
  return remote.startsWith("[") ? remote.slice(1, remote.indexOf("]")) : remote.slice(0, remote.lastIndexOf(":"));
}
