// Scripted scenarios over a World: join, steady broadcasts, mass failure, churn, partitions
// and hostile nodes. Each returns a deterministic result (a function of its parameters and
// seed) plus per-round series for charts.

import type { Dissemination } from "../config/schema.ts";
import type { LatencyModel } from "./network.ts";
import { type Round, components, percentiles, reachOf, round, round3, viewStats } from "./metrics.ts";
import { type Broadcast, type SimNode, World } from "./world.ts";

export const SCENARIOS = ["steady", "kill", "churn", "partition", "hostile"] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface ScenarioParams {
  readonly scenario: ScenarioName;
  readonly nodes: number;
  readonly seed: number;
  readonly mode: Dissemination;
  readonly latency: LatencyModel;
  readonly loss: number;
  /** [gossip] keys over the defaults. */
  readonly settings: Readonly<Record<string, string>>;
  /** Bootstrappers new nodes join through (1: a single one; more: a set, chosen at random). */
  readonly bootstrappers: number;
  /** Nodes joining per virtual second. */
  readonly joinRate: number;
  /** Virtual ms to settle after the joins. */
  readonly settleMs: number;
  /** Broadcasts measured (after warm-up). */
  readonly broadcasts: number;
  /** Virtual ms between broadcasts. */
  readonly intervalMs: number;
  /** Broadcasts before measuring (the tree forms; plumtree's first items flood). */
  readonly warmup: number;
  readonly killPct: number;
  /** Kill as a crash (peers notice only by silence) instead of a killed process. */
  readonly silent: boolean;
  readonly churnPctPerMin: number;
  readonly churnS: number;
  readonly partitionS: number;
  readonly hostilePct: number;
  /** Hostile nodes also flood their neighbours with junk items. */
  readonly hostileFlood: boolean;
  /** Hostile nodes also announce (IHAVE) every item they receive, and deliver none. */
  readonly hostileIhave: boolean;
}

export const DEFAULT_PARAMS: Omit<ScenarioParams, "latency"> & { latency: string } = {
  scenario: "steady",
  nodes: 1000,
  seed: 1,
  mode: "plumtree",
  latency: "wan:10-150",
  loss: 0,
  settings: {},
  bootstrappers: 1,
  joinRate: 1000,
  settleMs: 20_000,
  broadcasts: 100,
  intervalMs: 1000,
  warmup: 5,
  killPct: 50,
  silent: false,
  churnPctPerMin: 1,
  churnS: 60,
  partitionS: 30,
  hostilePct: 30,
  hostileFlood: false,
  hostileIhave: false,
};

export interface ScenarioResult {
  readonly scenario: ScenarioName;
  readonly params: Record<string, unknown>;
  /** Means over the measured rounds. */
  readonly reliability: number;
  readonly rmr: number;
  readonly ldh_max: number;
  readonly ldh_optimal_max: number;
  readonly last_delivery_ms: { p50: number; p90: number; p99: number; max: number };
  /** Virtual ms until every node had joined (has a neighbour) and the overlay was connected. */
  readonly formation_ms: number | null;
  readonly control_messages_per_node: number;
  readonly messages_by_kind: Record<string, number>;
  readonly views: ReturnType<typeof viewStats>;
  readonly components: number;
  readonly isolated_nodes: number;
  readonly duplicate_deliveries: number;
  readonly events: number;
  readonly virtual_ms: number;
  readonly rounds: readonly Round[];
  /** Scenario-specific figures (kill: first_broadcast_reliability, recovery_ms; ...). */
  readonly extra: Record<string, unknown>;
}

/** One scenario run. `onPhase` hears progress lines (for the CLI's stderr). */
export function runScenario(p: ScenarioParams, onPhase: (line: string) => void = () => {}): { world: World; result: ScenarioResult } {
  const w = new World({ seed: p.seed, mode: p.mode, latency: p.latency, loss: p.loss, settings: p.settings });
  const extra: Record<string, unknown> = {};
  const hostileCount = p.scenario === "hostile" ? Math.round((p.nodes * p.hostilePct) / 100) : 0;
  const formation = join(w, p, hostileCount, onPhase);
  const rounds: Round[] = [];
  const measure = (b: Broadcast) => rounds.push(round(w, b));

  switch (p.scenario) {
    case "steady":
    case "hostile":
      broadcasts(w, p, p.warmup, () => {});
      broadcasts(w, p, p.broadcasts, measure);
      if (p.scenario === "hostile") extra.honest_reliability = mean(rounds.map((r) => r.reliability));
      break;
    case "kill":
      Object.assign(extra, kill(w, p, measure, onPhase));
      break;
    case "churn":
      Object.assign(extra, churn(w, p, measure, onPhase));
      break;
    case "partition":
      Object.assign(extra, partition(w, p, measure, onPhase));
      break;
  }
  w.run(5000);
  const comps = components(w);
  const honestLive = w.live.filter((n) => n.honest).length;
  const sent = Object.fromEntries([...w.net.stats.sent].map(([k, c]) => [k, c.n] as const).sort(([a], [b]) => (a < b ? -1 : 1)));
  const control = Object.entries(sent).reduce((s, [k, v]) => s + (k === "gossip" ? 0 : v), 0);
  const result: ScenarioResult = {
    scenario: p.scenario,
    params: { ...p, latency: p.latency.name },
    reliability: round3(mean(rounds.map((r) => r.reliability))),
    rmr: round3(mean(rounds.map((r) => r.rmr))),
    ldh_max: rounds.reduce((m, r) => Math.max(m, r.ldh), 0),
    ldh_optimal_max: rounds.reduce((m, r) => Math.max(m, r.ldh_optimal), 0),
    last_delivery_ms: mapValues(percentiles(rounds.map((r) => r.last_delivery_ms)), round3),
    formation_ms: formation,
    control_messages_per_node: round3(control / w.nodes.length),
    messages_by_kind: sent,
    views: viewStats(w),
    components: comps.length,
    isolated_nodes: honestLive - (comps[0]?.length ?? 0),
    duplicate_deliveries: w.duplicateDeliveries,
    events: w.clock.events,
    virtual_ms: round3(w.clock.now()),
    rounds: rounds.map((r) => mapValues(r, round3)),
    extra,
  };
  return { world: w, result };
}

/** Joins every node (hostile ones spread evenly), then settles. Returns the formation time. */
function join(w: World, p: ScenarioParams, hostile: number, onPhase: (l: string) => void): number | null {
  const gap = 1000 / p.joinRate;
  const boots: SimNode[] = [];
  const colluders: string[] = [];
  const hostileEvery = hostile > 0 ? p.nodes / hostile : Infinity;
  let nextHostile = hostileEvery / 2;
  for (let i = 0; i < p.nodes; i++) {
    const via = boots.length === 0 ? null : boots[Math.floor(w.random() * boots.length)]!;
    const isHostile = i > 0 && i >= nextHostile && colluders.length < hostile;
    if (isHostile) nextHostile += hostileEvery;
    const n = w.addNode(via, { hostile: isHostile, colluders: () => colluders, behaviour: { flood: p.hostileFlood, announce: p.hostileIhave } });
    if (isHostile) colluders.push(n.addr);
    else if (boots.length < p.bootstrappers) boots.push(n);
    w.run(gap);
  }
  onPhase(`joined ${p.nodes} nodes (${hostile} hostile) at t=${Math.round(w.clock.now())} ms`);
  let formed: number | null = null;
  const deadline = w.clock.now() + p.settleMs;
  while (w.clock.now() < deadline) {
    w.run(Math.min(500, deadline - w.clock.now()));
    if (formed === null && w.live.every((n) => !n.honest || n.core!.membership.active.size > 0) && components(w).length === 1) {
      formed = w.clock.now();
    }
  }
  onPhase(`settled at t=${Math.round(w.clock.now())} ms`);
  return formed;
}

function randomOrigin(w: World): SimNode {
  const live = w.live.filter((n) => n.honest);
  return live[Math.floor(w.random() * live.length)]!;
}

function broadcasts(w: World, p: ScenarioParams, count: number, measure: (b: Broadcast) => void): void {
  const sent: Broadcast[] = [];
  for (let i = 0; i < count; i++) {
    sent.push(w.broadcast(randomOrigin(w)));
    w.run(p.intervalMs);
  }
  w.run(5000);
  for (const b of sent) measure(b);
}

/** The `extra` figures of the kill scenario. */
export type KillFigures = ReturnType<typeof kill>;

/** Virtual ms after a mass failure within which every connected survivor should have an item again (issue 12). */
export const RECOVERY_TARGET_MS = 5000;

function kill(w: World, p: ScenarioParams, measure: (b: Broadcast) => void, onPhase: (l: string) => void) {
  broadcasts(w, p, p.warmup, () => {});
  const live = w.live;
  const victims = sample(w, live, Math.round((live.length * p.killPct) / 100));
  const killedAt = w.clock.now();
  w.kill(victims, p.silent);
  // Whom a broadcast can reach before membership repairs anything: the largest component of
  // the survivors over the links still alive. A survivor whose every neighbour died is outside
  // it until it notices (keepalive, after up to 3 intervals when the kill was silent) and relinks.
  const connected = new Set(components(w)[0] ?? []);
  onPhase(`killed ${victims.length} of ${live.length} at t=${Math.round(killedAt)} ms; ${connected.size} survivors still connected`);
  // Runs the clock, checking every 500 ms whether the survivors are one overlay again.
  let reconnected: number | null = null;
  const run = (ms: number) => {
    const end = w.clock.now() + ms;
    while (w.clock.now() < end) {
      w.run(Math.min(500, end - w.clock.now()));
      if (reconnected === null && components(w).length <= 1) reconnected = round3(w.clock.now() - killedAt);
    }
  };
  const after: Broadcast[] = [];
  for (let i = 0; i < p.broadcasts; i++) {
    after.push(w.broadcast(randomOrigin(w)));
    run(p.intervalMs);
  }
  run(10_000);
  for (const b of after) measure(b);
  const main = new Set(components(w)[0] ?? []);
  const survivors = new Set(w.live.map((n) => n.index));
  const firstK = (k: number) => round3(mean(after.slice(0, k).map((b) => reachOf(b, survivors))));
  // Recovery: from the kill to the last delivery of the first broadcast that reached every survivor of the final overlay.
  let recovery: number | null = null;
  for (const b of after) {
    if (reachOf(b, main) < 1) continue;
    let last = b.at;
    for (const [i, g] of b.got) if (main.has(i)) last = Math.max(last, g.at);
    recovery = round3(last - killedAt);
    break;
  }
  // Broadcasts sent from inside the component still connected at the kill (one sent from a
  // fragment outside it cannot reach it before membership repairs): the least share of the
  // component any of them reached within RECOVERY_TARGET_MS of being sent.
  const inside = after.filter((b) => connected.has(b.origin));
  const connectedReach = inside.length === 0 ? null : Math.min(...inside.map((b) => reachOf(b, connected, b.at + RECOVERY_TARGET_MS)));
  return {
    killed: victims.length,
    first_broadcast_reliability: firstK(1),
    first_2_reliability: firstK(2),
    first_5_reliability: firstK(5),
    first_10_reliability: firstK(10),
    recovery_ms: recovery,
    survivors: survivors.size,
    first_broadcast_reliability_5s: after[0] ? round3(reachOf(after[0], survivors, killedAt + RECOVERY_TARGET_MS)) : null,
    survivors_connected_at_kill: connected.size,
    broadcasts_from_connected: inside.length,
    connected_reached_within_5s: connectedReach === null ? null : round3(connectedReach),
    // (assigned in the closure above: TypeScript would narrow it to null)
    reconnected_ms: reconnected as number | null,
  };
}

function churn(w: World, p: ScenarioParams, measure: (b: Broadcast) => void, onPhase: (l: string) => void) {
  broadcasts(w, p, p.warmup, () => {});
  // Per virtual second, this many leave (killed) and as many join through a random live node.
  const perS = (w.live.length * p.churnPctPerMin) / 100 / 60;
  let owed = 0;
  let left = 0;
  let joined = 0;
  const sent: Broadcast[] = [];
  let nextBroadcast = w.clock.now();
  const end = w.clock.now() + p.churnS * 1000;
  while (w.clock.now() < end) {
    owed += perS;
    const k = Math.floor(owed);
    owed -= k;
    const live = w.live.filter((n) => n.honest);
    const leaving = sample(w, live, Math.min(k, live.length - 2));
    w.kill(leaving, p.silent);
    left += leaving.length;
    for (let i = 0; i < leaving.length; i++) {
      const alive = w.live.filter((n) => n.honest);
      w.addNode(alive[Math.floor(w.random() * alive.length)]!);
      joined++;
    }
    const stepEnd = w.clock.now() + 1000;
    while (nextBroadcast < stepEnd) {
      w.run(Math.max(0, nextBroadcast - w.clock.now()));
      sent.push(w.broadcast(randomOrigin(w)));
      nextBroadcast += p.intervalMs;
    }
    w.run(stepEnd - w.clock.now());
  }
  onPhase(`churn done: ${left} left, ${joined} joined`);
  w.run(5000);
  for (const b of sent) measure(b);
  return { left, joined };
}

function partition(w: World, p: ScenarioParams, measure: (b: Broadcast) => void, onPhase: (l: string) => void) {
  broadcasts(w, p, p.warmup, () => {});
  const side = new Map<string, number>();
  for (const n of w.nodes) side.set(n.addr, w.random() < 0.5 ? 0 : 1);
  w.net.partition((a, b) => side.get(a) !== side.get(b));
  const cutAt = w.clock.now();
  onPhase(`partitioned at t=${Math.round(cutAt)} ms`);
  const during: Broadcast[] = [];
  const end = cutAt + p.partitionS * 1000;
  while (w.clock.now() < end) {
    during.push(w.broadcast(randomOrigin(w)));
    w.run(Math.min(p.intervalMs, end - w.clock.now()));
  }
  const splitComponents = components(w).length;
  w.net.heal();
  const healedAt = w.clock.now();
  onPhase(`healed at t=${Math.round(healedAt)} ms`);
  // Time to merge: polled every 500 virtual ms for up to 5 minutes.
  let merged: number | null = null;
  while (w.clock.now() < healedAt + 300_000) {
    if (components(w).length === 1) {
      merged = round3(w.clock.now() - healedAt);
      break;
    }
    w.run(500);
  }
  broadcasts(w, p, p.broadcasts, measure);
  const all = new Set(w.live.map((n) => n.index));
  const crossed = during.map((b) => {
    const other = new Set([...all].filter((i) => side.get(w.nodes[i]!.addr) !== side.get(w.nodes[b.origin]!.addr)));
    return reachOf(b, other);
  });
  return {
    components_during_split: splitComponents,
    merge_ms: merged,
    items_during_split: during.length,
    items_during_split_reaching_other_side: round3(mean(crossed)),
  };
}

function sample<T>(w: World, items: readonly T[], n: number): T[] {
  const a = [...items];
  const k = Math.max(0, Math.min(n, a.length));
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(w.random() * (a.length - i));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, k);
}

function mean(v: readonly number[]): number {
  return v.length === 0 ? 0 : v.reduce((s, x) => s + x, 0) / v.length;
}

function mapValues<T extends object>(o: T, f: (x: number) => number): T {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === "number" ? f(v) : v])) as T;
}
