// Send-queue rules (issue 10), on the simulator's virtual clock: one real node, a probe that
// reads, and a probe that stopped reading (its MemLink end is `stalled`: what the node sends
// it piles up in the node's queuedBytes, as behind a full TCP window) but keeps sending PINGs.
// Each test fails when its rule is deleted from the source.

import { describe, expect, test } from "bun:test";
import { STUCK_QUEUE_INTERVALS } from "../../src/core/membership.ts";
import { Latency, type MemLink } from "../../src/sim/network.ts";
import { DATA_TYPE, type SimNode, World } from "../../src/sim/world.ts";
import { LATENCY, Probe, runUntil } from "../helpers/sim-probe.ts";

const K = 100; // keepalive_ms
const BUFFER = 65_536; // peer_send_buffer_bytes: the soft limit is half of it
const SOFT = BUFFER / 2;
const ITEM_BYTES = 1000;

/** A node with a reading probe, a stalled probe and a spare address in its passive view. */
function stalledNeighbour() {
  const lines: string[] = [];
  const w = new World({
    seed: 1,
    mode: "plumtree",
    latency: Latency.constant(LATENCY),
    settings: { shuffle_interval_ms: "3600000", refresh_interval_ms: "0", keepalive_ms: String(K), peer_send_buffer_bytes: String(BUFFER), offer_recent_ms: "0" },
    logLevel: "info",
    logSink: (l) => lines.push(l),
  });
  const a = w.addNode(null);
  const [reader, sleeper, spare] = [new Probe(w, 1), new Probe(w, 2), new Probe(w, 3)];
  const rl = reader.join(a);
  const sl = sleeper.join(a);
  // A SHUFFLE at ttl 1 is answered by a itself, which takes the address it carries.
  reader.send(rl, { kind: "shuffle", id: 1n, ttl: 1, peers: [{ addr: spare.addr }] });
  runUntil(w, () => a.core!.membership.passive.has(spare.addr), 100, "the spare is in the passive view");
  sl.stalled = true;
  const nodeEnd = sleeper.nodeEnd(a, sl)!;
  return { w, a, reader, sleeper, spare, sl, nodeEnd, lines };
}

function announce(a: SimNode, n: number): void {
  for (let i = 0; i < n; i++) a.core!.announce(3, DATA_TYPE, new Uint8Array(ITEM_BYTES).fill(i));
}

/** Runs the clock for `ms`, the sleeper sending a PING every K / 2 ms (it keeps talking, it does not read). */
function runTalking(w: World, sleeper: Probe, link: MemLink, ms: number): void {
  for (let t = 0; t < ms; t += K / 2) {
    if (sleeper.isOpen(link)) sleeper.send(link, { kind: "ping" });
    w.run(K / 2);
  }
}

describe("send queues", () => {
  test("rule: item copies for a neighbour whose queue is over half of peer_send_buffer_bytes are dropped, not queued; a reader gets them all", () => {
    const { w, a, reader, sleeper, sl, nodeEnd } = stalledNeighbour();
    const dropped0 = a.core!.dissemination.stats.queueDropped;
    announce(a, 100);
    runTalking(w, sleeper, sl, K);
    expect(reader.of("gossip").length).toBe(100);
    // Copies were queued until the queue passed the soft limit, then dropped.
    expect(nodeEnd.queuedBytes).toBeGreaterThan(SOFT);
    expect(nodeEnd.queuedBytes).toBeLessThan(SOFT + 2 * ITEM_BYTES);
    const queued = Math.ceil(SOFT / ITEM_BYTES);
    expect(a.core!.dissemination.stats.queueDropped - dropped0).toBeGreaterThanOrEqual(100 - queued - 1);
  });

  test(`rule: a neighbour whose queue stays over the soft limit for ${STUCK_QUEUE_INTERVALS} x keepalive_ms is dropped and replaced, though it keeps sending PINGs`, () => {
    const { w, a, sleeper, spare, sl, nodeEnd, lines } = stalledNeighbour();
    announce(a, 100);
    runTalking(w, sleeper, sl, K);
    expect(nodeEnd.queuedBytes).toBeGreaterThan(SOFT);
    const full = w.clock.now();
    runTalking(w, sleeper, sl, STUCK_QUEUE_INTERVALS * K - K);
    expect(a.core!.membership.active.has(sleeper.id)).toBe(true);
    runTalking(w, sleeper, sl, 3 * K);
    expect(a.core!.membership.active.has(sleeper.id)).toBe(false);
    expect(sleeper.closed.has(sl)).toBe(true);
    const dropped = lines.filter((l) => l.includes("neighbour dropped: not reading"));
    expect(dropped.length).toBe(1);
    expect(dropped[0]).toContain(`addr=${sleeper.addr}`);
    // Not kept in reserve, and replaced from the passive view.
    expect(a.core!.membership.passive.has(sleeper.addr)).toBe(false);
    runUntil(w, () => spare.of("neighbor").length > 0, 200, "the spare is asked NEIGHBOR");
    expect(w.clock.now() - full).toBeLessThan((STUCK_QUEUE_INTERVALS + 3) * K);
  });
});
