// Prometheus metrics of one node, on a registry of its own (not prom-client's global one, so
// several nodes in one process do not collide). Nothing is updated on the hot path: every
// value is read from the node at scrape time in collect(). Counters mirror counts that only
// grow and are advanced by the difference, so they stay real counters.

import { Counter, Gauge, Registry } from "prom-client";
import type { PeerState } from "../core/peers.ts";
import { TcpTransport } from "../net/peer-transport.ts";
import type { GossipNode } from "./node.ts";

const LINK_STATES: readonly PeerState[] = ["handshaking", "pending", "active", "retiring"];
const VERDICTS = ["valid", "invalid", "unsubscribed", "timeout", "abandoned", "overloaded"] as const;

/** Every count /metrics and /status report, read from the node now. */
export function nodeCounters(node: GossipNode) {
  const s = node.dissemination.stats;
  return {
    itemsAnnounced: s.announced,
    itemsReceived: s.received,
    itemsDuplicate: s.duplicates,
    itemsDelivered: s.delivered,
    itemsForwarded: s.gossipSent,
    itemsDropped: { rejected: s.rejected, unvalidated: s.dropped, rate_limited: s.rateLimited, queue_full: s.queueDropped, paced: s.paced, bad_id: s.badIds },
    verdicts: Object.fromEntries(VERDICTS.map((v) => [v, node.counts.verdicts[v] ?? 0])) as Record<(typeof VERDICTS)[number], number>,
    controlSent: { ihave: s.ihaveSent, graft: s.graftSent, prune: s.pruneSent },
    graftsDeferred: s.graftDeferred,
    graftsMissed: s.graftMissed,
    bans: node.scores.bans,
  };
}

/** A counter that follows a growing count read at scrape time. */
function mirrored(registry: Registry, name: string, help: string, read: () => number): void {
  let last = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read();
      if (v > last) {
        this.inc(v - last);
        last = v;
      }
    },
  });
}

/** The same, one series per label value. */
function mirroredBy(registry: Registry, name: string, help: string, label: string, read: () => Record<string, number>): void {
  const last = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [k, v] of Object.entries(read())) {
        const prev = last.get(k);
        if (prev === undefined) this.inc({ [label]: k }, 0);
        if (v > (prev ?? 0)) this.inc({ [label]: k }, v - (prev ?? 0));
        last.set(k, Math.max(v, prev ?? 0));
      }
    },
  });
}

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

export function nodeRegistry(node: GossipNode): Registry {
  const r = new Registry();
  const m = node.membership;
  gauge(r, "gossip_active_view_peers", "Neighbours in the active view (HyParView).", () => m.active.size);
  gauge(r, "gossip_passive_view_peers", "Addresses kept in reserve in the passive view (HyParView).", () => m.passive.size);
  gauge(r, "gossip_eager_peers", "Neighbours that get items pushed (Plumtree eager).", () => node.dissemination.eagerCount);
  gauge(r, "gossip_lazy_peers", "Neighbours that get IHAVE only (Plumtree lazy).", () => node.dissemination.lazyCount);
  new Gauge({
    name: "gossip_links",
    help: "Peer links by state.",
    labelNames: ["state"],
    registers: [r],
    collect() {
      for (const st of LINK_STATES) this.set({ state: st }, m.peers.count(st));
    },
  });
  gauge(r, "gossip_peer_queue_bytes", "Bytes queued to peers and not yet handed to the network.", () => {
    let n = 0;
    for (const p of m.peers.values()) n += p.queuedBytes;
    return n;
  });
  gauge(r, "gossip_api_connections", "Local module connections.", () => node.api.connectionCount);
  gauge(r, "gossip_api_subscriptions", "Subscriptions (connection and data type) of local modules.", () => node.api.subscriptionCount);
  gauge(r, "gossip_uptime_seconds", "Seconds since the node started.", () => (Date.now() - node.startedAt) / 1000);
  gauge(r, "process_resident_memory_bytes", "Resident memory size in bytes.", () => process.memoryUsage().rss);
  gauge(r, "process_heap_used_bytes", "JavaScript heap in use in bytes.", () => process.memoryUsage().heapUsed);

  const c = () => nodeCounters(node);
  mirrored(r, "gossip_items_announced_total", "Items announced by local modules and spread.", () => c().itemsAnnounced);
  mirrored(r, "gossip_items_received_total", "Item copies received from peers (duplicates included).", () => c().itemsReceived);
  mirrored(r, "gossip_items_duplicate_total", "Item copies received that were already seen.", () => c().itemsDuplicate);
  mirrored(r, "gossip_items_delivered_total", "Items from peers that local modules accepted.", () => c().itemsDelivered);
  mirrored(r, "gossip_items_forwarded_total", "Item copies sent to peers.", () => c().itemsForwarded);
  mirroredBy(r, "gossip_items_dropped_total", "Items or item copies dropped, by reason.", "reason", () => c().itemsDropped);
  mirroredBy(r, "gossip_verdicts_total", "Local validation outcomes of items from peers.", "outcome", () => c().verdicts);
  mirroredBy(r, "gossip_control_sent_total", "Plumtree control messages sent, by kind.", "kind", () => c().controlSent);
  mirrored(r, "gossip_grafts_missed_total", "Item ids GRAFTed from this node that it no longer held (past the knowledge base and the GRAFT hold, graft_buffer_bytes): no copy was sent.", () => c().graftsMissed);
  mirrored(r, "gossip_grafts_deferred_total", "GRAFT timers that fired late (the node was too busy to run them on time) and waited once more.", () => c().graftsDeferred);
  mirrored(r, "gossip_peer_bans_total", "Peers banned for misbehaviour.", () => c().bans);
  if (node.transport instanceof TcpTransport) {
    const t = node.transport;
    gauge(r, "gossip_handshakes_in_progress", "Peer connections in their handshake (both directions).", () => t.handshaking);
    mirroredBy(r, "gossip_handshakes_total", "Peer handshakes finished, by outcome.", "outcome", () => ({ ok: t.handshakes.ok, failed: t.handshakes.failed }));
    mirrored(r, "gossip_sealed_records_total", "Sealed records sent to peers (one per link per event-loop turn, protocol version 3).", () => t.sealed.records);
    mirrored(r, "gossip_sealed_frames_total", "Peer frames sent inside sealed records (divided by records: frames per record).", () => t.sealed.frames);
  }
  return r;
}
