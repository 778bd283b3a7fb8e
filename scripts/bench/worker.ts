// A bench worker: hosts a share of the benchmark's nodes (real GossipNode instances, the
// binary's code) in one process, with one subscribing module and one announcing module per
// node, both speaking the real API over loopback TCP. Driven by the parent over Bun IPC
// (see protocol.ts); exits as soon as the parent goes away.

import { generateHostkey, type Hostkey } from "../../src/config/hostkey.ts";
import { TcpTransport } from "../../src/net/peer-transport.ts";
import { parseConfig } from "../../src/config/load.ts";
import { ApiClient, type Incoming } from "../../src/net/api-client.ts";
import type { Delivered } from "../../src/core/dissemination.ts";
import { GossipNode } from "../../src/node/node.ts";
import { Logger, type Level } from "../../src/util/log.ts";
import {
  BENCH_DATA_TYPE,
  decodeItem,
  encodeItem,
  now,
  type Command,
  type Commands,
  type Reply,
  type Request,
  type ScheduleResult,
  type WorkerStats,
} from "./protocol.ts";

interface Hosted {
  readonly idx: number;
  readonly node: GossipNode;
  readonly sub: ApiClient;
  readonly mod: ApiClient;
  alive: boolean;
}

/** What the subscribing modules saw in one phase. */
class PhaseLog {
  readonly perItem = new Map<number, { n: number; maxLat: number }>();
  readonly deliveries: number[] = [];
  readonly hops: number[] = [];
  /** node * 2^32 + item, to catch a module notified twice (only kept for detailed phases). */
  readonly seen = new Set<number>();
  constructor(readonly detail: boolean) {}
}

const nodes = new Map<number, Hosted>();
const keys = new Map<number, Hostkey>();
const phases = new Map<number, PhaseLog>();
let log = new Logger("error", "bench");
let payload = 64;
let rssBaseline = 0;
let badNotifications = 0;

function phaseLog(phase: number): PhaseLog {
  let p = phases.get(phase);
  if (!p) phases.set(phase, (p = new PhaseLog(false)));
  return p;
}

function onNotification(h: { idx: number }, client: () => ApiClient, f: Incoming): void {
  if (!("msg" in f)) {
    badNotifications++;
    return;
  }
  if (f.msg.kind !== "notification") return;
  // The module's verdict: every benchmark item is valid; answer first so forwarding is not delayed.
  client().validate(f.msg.id, true);
  const at = now();
  const s = f.msg.dataType === BENCH_DATA_TYPE ? decodeItem(f.msg.data) : null;
  if (!s) {
    badNotifications++;
    return;
  }
  // The origin's own subscriber hears the local ANNOUNCE: not a delivery through the network.
  if (s.origin === h.idx) return;
  const p = phaseLog(s.phase);
  const lat = at - s.sentAt;
  if (p.detail) {
    const k = h.idx * 2 ** 32 + s.item;
    if (p.seen.has(k)) {
      badNotifications++;
      return;
    }
    p.seen.add(k);
    p.deliveries.push(h.idx, s.item, lat);
  }
  const e = p.perItem.get(s.item);
  if (e) {
    e.n++;
    if (lat > e.maxLat) e.maxLat = lat;
  } else p.perItem.set(s.item, { n: 1, maxLat: lat });
}

function onDelivered(idx: number, d: Delivered): void {
  const s = decodeItem(d.data);
  if (!s) return;
  const p = phaseLog(s.phase);
  if (p.detail) p.hops.push(idx, s.item, d.hops);
}

function splitHostPort(addr: string): [string, number] {
  const i = addr.lastIndexOf(":");
  return [addr.slice(0, i).replace(/^\[|\]$/g, ""), Number(addr.slice(i + 1))];
}

async function startOne(idx: number, bootstrapper: string | null, settings: Record<string, string>) {
  const hostkey = keys.get(idx);
  if (!hostkey) throw new Error(`no hostkey for node ${idx}`);
  const all: Record<string, string> = { p2p_address: "127.0.0.1:0", api_address: "127.0.0.1:0", ...settings };
  if (bootstrapper) all.bootstrapper = bootstrapper;
  const text = "[gossip]\n" + Object.entries(all).map(([k, v]) => `${k} = ${v}`).join("\n") + "\n";
  const { config } = parseConfig(text, `bench-node${idx}.ini`);
  const node = GossipNode.start({ config, hostkey, log: log.child("node", { n: idx }), onDelivered: (d) => onDelivered(idx, d) });
  const [host, port] = splitHostPort(node.apiAddress);
  let sub: ApiClient | null = null;
  const ref = { idx };
  sub = await ApiClient.connect(host, port, { onFrame: (f) => onNotification(ref, () => sub!, f) });
  sub.notify(BENCH_DATA_TYPE);
  const mod = await ApiClient.connect(host, port);
  nodes.set(idx, { idx, node, sub, mod, alive: true });
  return { idx, p2p: node.p2pAddress, api: node.apiAddress };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(5);
  }
}

function announce(h: Hosted, phase: number, item: number): number {
  const sentAt = now();
  h.mod.announce(0, BENCH_DATA_TYPE, encodeItem({ phase, origin: h.idx, item, sentAt }, payload));
  return sentAt;
}

function peerQueueBytes(): number {
  let max = 0;
  for (const h of nodes.values()) {
    if (!h.alive) continue;
    for (const l of h.node.membership.activePeers()) max = Math.max(max, l.queuedBytes);
  }
  return max;
}

function pendingVerdicts(): number {
  let n = 0;
  for (const h of nodes.values()) if (h.alive) n += h.node.api.pendingCount;
  return n;
}

/** Announces at `rate` per second for `seconds` from random origins among `origins`. */
async function schedule(a: Commands["schedule"]["args"]): Promise<ScheduleResult> {
  const origins = a.origins.map((i) => nodes.get(i)).filter((h): h is Hosted => h !== undefined && h.alive);
  const total = Math.round(a.rate * a.seconds);
  let sent = 0;
  let maxBehind = 0;
  let queueMax = 0;
  let pendingMax = 0;
  let lastSample = 0;
  const t0 = performance.now();
  while (sent < total && origins.length > 0) {
    const elapsed = performance.now() - t0;
    const due = Math.min(total, Math.floor((elapsed * a.rate) / 1000) + 1);
    if (sent < due) maxBehind = Math.max(maxBehind, elapsed - (sent * 1000) / a.rate);
    while (sent < due) {
      const h = origins[Math.floor(Math.random() * origins.length)]!;
      announce(h, a.phase, sent * a.stride + a.offset);
      sent++;
    }
    if (elapsed - lastSample >= 100) {
      lastSample = elapsed;
      queueMax = Math.max(queueMax, peerQueueBytes());
      pendingMax = Math.max(pendingMax, pendingVerdicts());
    }
    // Timers are coarse (>= 1 ms); the loop catches up on what fell due meanwhile.
    await Bun.sleep(Math.max(1, Math.min(5, (sent * 1000) / a.rate - (performance.now() - t0))));
  }
  return { sent, elapsedMs: performance.now() - t0, maxBehindMs: maxBehind, peerQueueMaxBytes: queueMax, pendingMax };
}

function stats(gc: boolean): WorkerStats {
  if (gc) Bun.gc(true);
  const s: WorkerStats = {
    gossipSent: 0, ihaveSent: 0, graftSent: 0, graftDeferred: 0, graftMissed: 0, pruneSent: 0, delivered: 0, duplicates: 0, rateLimited: 0, dropped: 0,
    queueDropped: 0, sealedRecords: 0, sealedFrames: 0, cpuUs: 0, rss: 0, heapUsed: 0, rssBaseline, liveNodes: 0, peerQueueBytes: peerQueueBytes(), pendingVerdicts: pendingVerdicts(),
    badNotifications,
  };
  // Stopped nodes keep their counters: deltas over a window stay right when nodes die in it.
  for (const h of nodes.values()) {
    const d = h.node.dissemination.stats;
    s.gossipSent += d.gossipSent;
    s.ihaveSent += d.ihaveSent;
    s.graftSent += d.graftSent;
    s.graftDeferred += d.graftDeferred;
    s.graftMissed += d.graftMissed;
    s.pruneSent += d.pruneSent;
    s.delivered += d.delivered;
    s.duplicates += d.duplicates;
    s.rateLimited += d.rateLimited;
    s.dropped += d.dropped;
    s.queueDropped += d.queueDropped;
    if (h.node.transport instanceof TcpTransport) {
      const sealed = h.node.transport.sealed;
      s.sealedRecords += sealed.records;
      s.sealedFrames += sealed.frames;
    }
    if (h.alive) s.liveNodes++;
  }
  const cpu = process.cpuUsage();
  s.cpuUs = cpu.user + cpu.system;
  const mem = process.memoryUsage();
  s.rss = mem.rss;
  s.heapUsed = mem.heapUsed;
  return s;
}

function stopAll(): void {
  for (const h of nodes.values()) {
    h.sub.close();
    h.mod.close();
    h.node.stop();
  }
}

const handlers: { [K in Command]: (a: Commands[K]["args"]) => Promise<Commands[K]["result"]> | Commands[K]["result"] } = {
  async init(a) {
    log = new Logger(a.logLevel as Level, `bench-w${a.worker}`);
    payload = a.payload;
    Bun.gc(true);
    rssBaseline = process.memoryUsage().rss;
    // A few at a time: key generation runs off the event loop but shares the machine's cores.
    for (let i = 0; i < a.indices.length; i += 8) {
      const batch = a.indices.slice(i, i + 8);
      const made = await Promise.all(batch.map(() => generateHostkey(a.bits)));
      batch.forEach((idx, j) => keys.set(idx, made[j]!));
    }
    return { rssBaseline };
  },
  async start(a) {
    const out = [];
    for (const idx of a.indices) {
      out.push(await startOne(idx, a.bootstrapper, a.settings));
      if (a.staggerMs > 0) await Bun.sleep(a.staggerMs);
    }
    const mine = a.indices.map((i) => nodes.get(i)!);
    await until(() => mine.every((h) => h.node.api.subscriberCount(BENCH_DATA_TYPE) > 0), 10_000, "subscriptions registered");
    return out;
  },
  views() {
    return [...nodes.values()]
      .filter((h) => h.alive)
      .map((h) => ({ idx: h.idx, id: h.node.id.slice(0, 16), active: [...h.node.membership.active.keys()].map((k) => k.slice(0, 16)) }));
  },
  phase(a) {
    phases.set(a.phase, new PhaseLog(a.detail));
    return null;
  },
  announce(a) {
    const h = nodes.get(a.idx);
    if (!h?.alive) throw new Error(`node ${a.idx} is not live here`);
    return { sentAt: announce(h, a.phase, a.item) };
  },
  schedule,
  counts(a) {
    const p = phaseLog(a.phase);
    const n = p.perItem.size;
    const r = { items: new Float64Array(n), counts: new Float64Array(n), maxLatency: new Float64Array(n) };
    let i = 0;
    for (const [item, e] of p.perItem) {
      r.items[i] = item;
      r.counts[i] = e.n;
      r.maxLatency[i++] = e.maxLat;
    }
    return r;
  },
  detail(a) {
    const p = phaseLog(a.phase);
    return { deliveries: Float64Array.from(p.deliveries), hops: Float64Array.from(p.hops) };
  },
  stats: (a) => stats(a.gc),
  kill(a) {
    const at = now();
    for (const idx of a.indices) {
      const h = nodes.get(idx);
      if (!h?.alive) continue;
      h.alive = false;
      h.node.stop();
      h.sub.close();
      h.mod.close();
    }
    return { at };
  },
  inspect(a) {
    const h = nodes.get(a.idx);
    if (!h?.alive) return null;
    const d = h.node.dissemination;
    return { active: h.node.membership.active.size, eager: d.eagerCount, lazy: d.lazyCount, gossipSent: d.stats.gossipSent, ihaveSent: d.stats.ihaveSent };
  },
  shutdown() {
    stopAll();
    setTimeout(() => process.exit(0), 50);
    return null;
  },
};

process.on("message", (m: Request) => {
  const reply = (r: Reply) => process.send?.(r);
  const handler = handlers[m.cmd] as (a: unknown) => unknown;
  Promise.resolve()
    .then(() => handler(m.args))
    .then(
      (result) => reply({ id: m.id, ok: true, result: result ?? null }),
      (e: Error) => reply({ id: m.id, ok: false, error: e?.stack ?? String(e) }),
    );
});

// Never outlive the parent: the IPC channel closes when it exits or is killed; a reparented
// worker (ppid 1) also means the parent is gone.
function bail(): void {
  try {
    stopAll();
  } finally {
    process.exit(0);
  }
}
process.on("disconnect", bail);
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) bail();
}, 1000).unref();
