// Whole-network fuzzing (TigerBeetle's VOPR and FoundationDB's simulation tests are the
// models): a seed picks a network (size, degree, timers, latency, loss, mode, hostile
// nodes) and a random sequence of faults (kills, crashes, joins, churn, partitions), each
// followed by a quiescent period after which the invariants must hold:
// - every honest live node is in one connected overlay with the others (without hostile
//   nodes: nodes that accept every NEIGHBOR can eclipse honest ones, which the hostile
//   scenario measures);
// - active views are symmetric between honest nodes;
// - broadcasts made while quiet reach every live subscriber exactly once (without hostile
//   nodes and loss), and no node ever delivers an item twice;
// - every table stays within its configured bound.
// A failing seed replays exactly: `npm run fuzz -- --seeds 1 --start SEED`.

import { MAX_MISSING } from "../core/dissemination.ts";
import { MAX_DECIDERS } from "../core/deciders.ts";
import { MAX_DECLINED, MAX_FAILURES_KEPT, MAX_HEARD } from "../core/membership.ts";
import { MAX_SHUFFLE_STATE } from "../core/shuffle.ts";
import { mulberry32 } from "../util/prng.ts";
import { subSeed } from "./clock.ts";
import { components } from "./metrics.ts";
import { Latency, type LatencyModel } from "./network.ts";
import { type Broadcast, type SimNode, World } from "./world.ts";

export interface FuzzCase {
  readonly seed: number;
  readonly nodes: number;
  readonly mode: "plumtree" | "flood";
  readonly latency: LatencyModel;
  readonly loss: number;
  readonly hostile: number;
  readonly settings: Record<string, string>;
  readonly phases: readonly string[];
}

export interface FuzzResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly failures: readonly string[];
  readonly description: string;
  readonly events: number;
}

/** Draws a case from the seed (sizes kept small enough for hundreds of seeds a minute). */
export function drawCase(seed: number, maxNodes = 48): FuzzCase {
  const r = mulberry32(subSeed(seed, 0xf022));
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const nodes = int(4, maxNodes);
  // Below 3 neighbours an overlay is a set of cycles and pairs: nothing holds it together. At
  // 3, two overlays that form apart during the joins can both fill up and never meet (full
  // nodes refresh only towards peers they lost, see src/core/repair.ts): 4 and up.
  const degree = int(4, Math.max(4, Math.min(8, nodes - 1)));
  const latency = pick([Latency.constant(int(1, 50)), Latency.uniform(1, int(5, 100)), Latency.wan(10, 150)]);
  const keepalive = pick([200, 500, 1000, 5000]);
  const settings = {
    degree: String(degree),
    passive_size: String(int(degree + 1, 6 * degree)),
    keepalive_ms: String(keepalive),
    shuffle_interval_ms: String(pick([300, 1000, 5000, 10000])),
    graft_timeout_ms: String(pick([50, 200, 400, 1000])),
    ihave_batch_ms: String(pick([0, 5, 50])),
    handshake_timeout_ms: String(pick([1000, 3000, 10000])),
    // 0 turns off the repair that keeps items from being lost while links change.
    offer_recent_ms: String(pick([2000, 5000])),
    cache_size: String(pick([5, 50, 500])),
    view_prefix_limit: "0",
    refresh_interval_ms: String(pick([10_000, 30_000, 60_000])),
  };
  const hostile = r() < 0.2 ? int(1, Math.max(1, Math.floor(nodes / 5))) : 0;
  const loss = r() < 0.15 ? pick([0.001, 0.01, 0.05]) : 0;
  const kinds = ["kill", "crash", "join", "churn", "partition", "quiet"] as const;
  const phases = Array.from({ length: int(1, 4) }, () => {
    const k = pick(kinds);
    if (k === "kill" || k === "crash") return `${k} ${int(5, 50)}%`;
    if (k === "join") return `join ${int(1, Math.max(1, Math.floor(nodes / 2)))}`;
    if (k === "churn") return `churn ${int(5, 30)}s`;
    if (k === "partition") return `partition ${int(2, 60)}s`;
    return "quiet";
  });
  return { seed, nodes, mode: r() < 0.75 ? "plumtree" : "flood", latency, loss, hostile, settings, phases };
}

export function describe(c: FuzzCase): string {
  const s = c.settings;
  return (
    `seed=${c.seed} nodes=${c.nodes} mode=${c.mode} latency="${c.latency.name}" loss=${c.loss} hostile=${c.hostile} ` +
    `degree=${s.degree} passive=${s.passive_size} keepalive=${s.keepalive_ms} shuffle=${s.shuffle_interval_ms} ` +
    `graft=${s.graft_timeout_ms} ihave_batch=${s.ihave_batch_ms} handshake=${s.handshake_timeout_ms} offer=${s.offer_recent_ms} ` +
    `cache=${s.cache_size} refresh=${s.refresh_interval_ms} phases=[${c.phases.join(", ")}]`
  );
}

export function runCase(c: FuzzCase, log: (line: string) => void = () => {}): FuzzResult {
  const w = new World({ seed: c.seed, mode: c.mode, latency: c.latency, loss: c.loss, settings: c.settings });
  const r = mulberry32(subSeed(c.seed, 0xf023));
  const failures: string[] = [];
  const cfg = w.config;
  // Quiet long enough for keepalive to notice every dead link and for repairs to settle.
  const quietMs = Math.max(30_000, 8 * cfg.keepaliveMs + 4 * cfg.handshakeTimeoutMs + 2 * cfg.shuffleIntervalMs + 2 * cfg.refreshIntervalMs);
  const colluders: string[] = [];
  const honestLive = () => w.live.filter((n) => n.honest);
  const randomLive = () => {
    const live = honestLive();
    return live[Math.floor(r() * live.length)]!;
  };
  // Nodes join through a small set of stable bootstrappers (never killed), as a deployment
  // would configure them: a node whose only known peer died before it learnt any other has
  // nobody to turn to, whatever the protocol does.
  const boot = w.addNode(null);
  const stable = [boot];
  const joinVia = () => stable[Math.floor(r() * stable.length)]!;
  const hostileAt = new Set<number>();
  while (hostileAt.size < c.hostile) hostileAt.add(1 + Math.floor(r() * (c.nodes - 1)));
  for (let i = 1; i < c.nodes; i++) {
    const h = hostileAt.has(i);
    const n = w.addNode(h ? boot : joinVia(), { hostile: h, colluders: () => colluders });
    if (h) colluders.push(n.addr);
    else if (stable.length < 3) stable.push(n);
    w.run(r() * 50);
  }
  const clean = c.hostile === 0 && c.loss === 0;
  const broadcastSome = (k: number) => {
    for (let i = 0; i < k; i++) {
      w.broadcast(randomLive());
      w.run(r() * 200);
    }
  };
  const check = (when: string) => {
    // The overlay repairs itself (refresh, rejoin): it must come together within a few
    // refresh intervals; after that it is asserted connected, and broadcasts must reach all.
    const deadline = w.clock.now() + 3 * cfg.refreshIntervalMs + 10_000;
    while (c.hostile === 0 && components(w).length > 1 && w.clock.now() < deadline) w.run(500);
    const quiet: Broadcast[] = [];
    for (let i = 0; i < 3; i++) {
      quiet.push(w.broadcast(randomLive()));
      w.run(100 + r() * 400);
    }
    w.run(Math.max(10_000, 4 * cfg.graftTimeoutMs * 8));
    // A link being swapped is one-sided for a round trip: only asymmetry that lasts on the
    // same link counts. (A lost NEIGHBOR_REPLY leaves the asking side waiting until its
    // handshake deadline.)
    const before = asymmetric(w);
    w.run(Math.max(3000, cfg.handshakeTimeoutMs + 2 * cfg.keepaliveMs));
    const lasting = asymmetric(w).filter(([a, b, l]) => before.some(([x, y, k]) => x === a && y === b && k === l));
    for (const [a, b] of lasting) failures.push(`${when}: asymmetric active views: node ${a} has ${b}, not the reverse`);
    failures.push(...invariants(w, quiet, clean, c.hostile > 0).map((f) => `${when}: ${f}`));
  };

  w.run(quietMs);
  check("after the joins");
  for (const phase of c.phases) {
    if (failures.length > 0) break;
    log(`t=${Math.round(w.clock.now())} ${phase}`);
    const [kind, arg] = phase.split(" ") as [string, string | undefined];
    const n = parseInt(arg ?? "0", 10);
    if (kind === "kill" || kind === "crash") {
      const live = honestLive().filter((x) => !stable.includes(x));
      const victims = live.filter(() => r() < n / 100).slice(0, Math.max(0, live.length - 2));
      broadcastSome(2);
      w.kill(victims, kind === "crash");
      broadcastSome(3);
    } else if (kind === "join") {
      for (let i = 0; i < n; i++) {
        w.addNode(joinVia());
        w.run(r() * 100);
      }
      broadcastSome(2);
    } else if (kind === "churn") {
      // At most half the nodes present when it starts leave: a network replaced entirely in
      // a few seconds has nobody left who remembers the first ones.
      let budget = Math.floor(honestLive().length / 2);
      for (let s = 0; s < n; s++) {
        const live = honestLive().filter((x) => !stable.includes(x));
        if (budget > 0 && live.length > 3 && r() < 0.7) {
          budget--;
          w.kill([live[Math.floor(r() * live.length)]!], r() < 0.5);
        }
        w.addNode(joinVia());
        broadcastSome(1);
        w.run(1000);
      }
    } else if (kind === "partition") {
      const side = new Map(w.nodes.map((x) => [x.addr, r() < 0.5]));
      w.net.partition((a, b) => side.get(a) !== side.get(b));
      broadcastSome(3);
      w.run(n * 1000);
      w.net.heal();
    }
    w.run(quietMs);
    check(`after ${phase}`);
  }
  return { seed: c.seed, ok: failures.length === 0, failures, description: describe(c), events: w.clock.events };
}

/** The invariants but symmetry (the caller checks it over time), on a quiet network; `quiet` are broadcasts made after the faults. */
export function invariants(w: World, quiet: readonly Broadcast[], clean: boolean, hostile: boolean): string[] {
  const out: string[] = [];
  const cfg = w.config;
  const live = w.live.filter((n) => n.honest);
  const comps = components(w);
  // Hostile nodes that accept every NEIGHBOR can eclipse honest ones: that is measured (the
  // hostile scenario), not asserted.
  if (comps.length > 1 && !hostile) {
    out.push(`overlay split in ${comps.length} components (sizes ${comps.map((g) => g.length).join(", ")}); e.g. node ${comps[1]![0]} is cut off`);
  }
  if (w.duplicateDeliveries > 0) out.push(`${w.duplicateDeliveries} items delivered twice to one node`);
  if (clean) {
    for (const b of quiet) {
      const missed = [...b.expected].filter((i) => w.nodes[i]!.alive && !b.got.has(i));
      if (missed.length > 0) out.push(`broadcast ${b.key.slice(0, 8)} from node ${b.origin} missed ${missed.length} of ${b.expected.size} (e.g. node ${missed[0]})`);
    }
  }
  for (const n of live) out.push(...bounds(n, cfg));
  return out.slice(0, 20);
}

/** Honest pairs (a has b in its active view, b not a) right now, with a's link to b. */
export function asymmetric(w: World): Array<[number, number, unknown]> {
  const byId = w.idIndex();
  const out: Array<[number, number, unknown]> = [];
  for (const n of w.live) {
    if (!n.honest) continue;
    for (const [id, link] of n.core!.membership.active) {
      const m = byId.get(id);
      if (m && m.alive && m.honest && !m.activeIds().includes(n.id)) out.push([n.index, m.index, link]);
    }
  }
  return out;
}

function bounds(n: SimNode, cfg: World["config"]): string[] {
  const out: string[] = [];
  const m = n.core!.membership;
  const d = n.core!.dissemination.tableSizes;
  const t = m.tableSizes;
  const over = (what: string, v: number, max: number) => {
    if (v > max) out.push(`node ${n.index}: ${what} ${v} > bound ${max}`);
  };
  over("active view", m.active.size, cfg.degree);
  over("passive view", m.passive.size, cfg.passiveSize);
  over("dials in flight", t.dialing, cfg.degree + cfg.passiveSize);
  over("declined", t.declined, MAX_DECLINED);
  over("shuffle routes", t.routes, MAX_SHUFFLE_STATE);
  over("own shuffles", t.walks, MAX_SHUFFLE_STATE);
  over("seen cache", d.seen, cfg.seenCacheSize);
  // Past cache_size, items are held for GRAFTs only while they weigh at most graft_buffer_bytes.
  if (d.cache > cfg.cacheSize) over("items held for GRAFTs, bytes", d.cacheBytes, cfg.graftBufferBytes);
  over("missing ids", d.missing, MAX_MISSING);
  over("prune deciders", d.deciders, MAX_DECIDERS);
  // The batch timer clears the list every ihave_batch_ms; a neighbour is listed again only
  // after a batch filled up early, or after it left and came back within one batch window.
  over("IHAVE batches listed", d.lazyQueue, 4 * cfg.degree);
  over("copies waiting for a link's budget", d.paced, 2 * cfg.peerItemsPerS * cfg.degree);
  over("failed addresses", t.failures, Math.max(MAX_FAILURES_KEPT, cfg.passiveSize));
  over("heard-of addresses", t.heard, MAX_HEARD);
  over("links", t.links, cfg.degree + cfg.passiveSize + cfg.maxHandshakes);
  return out;
}
